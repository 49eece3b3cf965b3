import Server
import Testing
import WebSocketProtocol

@Suite("HTTP responses")
struct HTTPResponseTests {
    @Test func textResponseSerialization() {
        let r = HTTPResponse.text(.badRequest, "nope").serialized(close: true)
        #expect(String(decoding: r, as: UTF8.self)
                == "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 5\r\nConnection: close\r\n\r\nnope\n")
    }

    @Test func headKeepsTheLengthAndNotModifiedHasNone() {
        let head = HTTPResponse(status: .ok, body: Array("abc".utf8)).serialized(close: false, includeBody: false)
        #expect(String(decoding: head, as: UTF8.self) == "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n")
        let notModified = HTTPResponse(status: .notModified, headers: [("ETag", "\"x\"")], body: [1]).serialized(close: false)
        #expect(String(decoding: notModified, as: UTF8.self) == "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n")
    }

    @Test func switchingProtocols() throws {
        let head = HTTPRequestHead(method: "GET", target: "/ws", versionMinor: 1, headers: [
            .init(name: "host", value: "a"), .init(name: "upgrade", value: "websocket"), .init(name: "connection", value: "Upgrade"),
            .init(name: "sec-websocket-version", value: "13"), .init(name: "sec-websocket-key", value: "dGhlIHNhbXBsZSBub25jZQ=="),
        ])
        let request = try UpgradeHandshake.validate(head).get()
        let text = String(decoding: HTTPResponse.switchingProtocols(request, subprotocol: "chat").serialized(close: false), as: UTF8.self)
        #expect(text == "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: chat\r\n\r\n")
    }

    @Test func rejectionFromACodecError() {
        let r = HTTPRejection(HTTPRequestError.unsupportedWebSocketVersion)
        #expect(r == HTTPRejection(.upgradeRequired, "unsupported WebSocket version",
                                   headers: [.init(name: "Sec-WebSocket-Version", value: "13")]))
        #expect(r.response.headers.contains { $0.0 == "Sec-WebSocket-Version" && $0.1 == "13" })
    }
}

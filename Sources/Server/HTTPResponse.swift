import Reactor
import WebSocketProtocol

/// A response, serialised in one piece.
public struct HTTPResponse: Sendable {
    public var status: HTTPStatus
    public var headers: [(String, String)]
    public var body: [UInt8]
    /// A body queued by reference instead (a static file): `serialized` leaves it out and the
    /// connection writes it after the head.
    public var sharedBody: ByteChunk?

    public init(status: HTTPStatus, headers: [(String, String)] = [], body: [UInt8] = [], sharedBody: ByteChunk? = nil) {
        self.status = status
        self.headers = headers
        self.body = body
        self.sharedBody = sharedBody
    }

    /// What Content-Length says.
    public var contentLength: Int { sharedBody?.count ?? body.count }

    /// A plain-text response (errors say what was wrong, briefly).
    public static func text(_ status: HTTPStatus, _ text: String, headers: [(String, String)] = []) -> HTTPResponse {
        HTTPResponse(status: status, headers: [("Content-Type", "text/plain; charset=utf-8")] + headers,
                     body: Array((text + "\n").utf8))
    }

    /// The 101 that completes a WebSocket handshake.
    public static func switchingProtocols(_ request: UpgradeRequest, subprotocol: String?, extensions: String? = nil) -> HTTPResponse {
        HTTPResponse(status: .switchingProtocols,
                     headers: UpgradeHandshake.responseHeaders(for: request, subprotocol: subprotocol, extensions: extensions))
    }

    /// Wire bytes. `close` adds `Connection: close`; Content-Length is always set (except 101
    /// and 304, which have no body). Without `includeBody` (a HEAD answer) the length is still
    /// the body's.
    public func serialized(close: Bool, includeBody: Bool = true) -> [UInt8] {
        var head = "HTTP/1.1 \(status.rawValue) \(status.reasonPhrase)\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        if status != .switchingProtocols {
            if status != .notModified { head += "Content-Length: \(contentLength)\r\n" }
            if close { head += "Connection: close\r\n" }
        }
        head += "\r\n"
        return includeBody && status != .notModified && sharedBody == nil ? Array(head.utf8) + body : Array(head.utf8)
    }
}

/// Why a request was refused: the status to answer with, a short reason for the body and the
/// logs (never a secret), and headers the answer needs. Routes and admission checks return it.
public struct HTTPRejection: Error, Equatable, Sendable {
    public var status: HTTPStatus
    public var reason: String
    public var headers: [HTTPRequestHead.Header]

    public init(_ status: HTTPStatus, _ reason: String, headers: [HTTPRequestHead.Header] = []) {
        self.status = status
        self.reason = reason
        self.headers = headers
    }

    /// What the HTTP parser or the upgrade check found wrong.
    public init(_ error: HTTPRequestError) {
        self.init(error.status, error.reason, headers: error.headers)
    }

    /// The plain-text answer.
    public var response: HTTPResponse {
        HTTPResponse.text(status, reason, headers: headers.map { ($0.name, $0.value) })
    }
}

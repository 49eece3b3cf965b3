// §1 endpoints and the RFC 6455 opening handshake over real sockets: every refusal is an HTTP
// response with the right status and headers, followed by the server closing the connection.

import Server
import Testing

/// One server for the whole suite: these tests only exchange requests and never count connections.
private let handshakeServer = try! TestServer()

/// A request that must be refused: status, required headers, and then EOF.
struct RefusalCase: Sendable, CustomTestStringConvertible {
    let name: String
    let request: [UInt8]
    let status: Int
    let headers: [String: String]

    init(_ name: String, _ request: [UInt8], _ status: Int, headers: [String: String] = [:]) {
        self.name = name
        self.request = request
        self.status = status
        self.headers = headers
    }

    var testDescription: String { name }

    static let all: [RefusalCase] = [
        RefusalCase("GET /echo without Upgrade → 426",
                    rawRequest("/echo", ["Host: 127.0.0.1"]), 426,
                    headers: ["Upgrade": "websocket", "Sec-WebSocket-Version": "13"]),
        RefusalCase("Sec-WebSocket-Version 8 → 426",
                    rawRequest("/echo", upgradeHeaders().filter { !$0.hasPrefix("Sec-WebSocket-Version") } + ["Sec-WebSocket-Version: 8"]),
                    426, headers: ["Sec-WebSocket-Version": "13"]),
        RefusalCase("missing Sec-WebSocket-Version → 400",
                    rawRequest("/echo", upgradeHeaders().filter { !$0.hasPrefix("Sec-WebSocket-Version") }), 400),
        RefusalCase("missing Sec-WebSocket-Key → 400",
                    rawRequest("/echo", upgradeHeaders().filter { !$0.hasPrefix("Sec-WebSocket-Key") }), 400),
        RefusalCase("Sec-WebSocket-Key not base64 → 400",
                    rawRequest("/echo", upgradeHeaders(key: "not base64 at all!")), 400),
        RefusalCase("Sec-WebSocket-Key of 15 bytes → 400",
                    rawRequest("/echo", upgradeHeaders(key: testBase64(Array(repeating: 7, count: 15)))), 400),
        RefusalCase("two Sec-WebSocket-Key headers → 400",
                    rawRequest("/echo", upgradeHeaders(extra: ["Sec-WebSocket-Key: \(sampleKey)"])), 400),
        RefusalCase("POST upgrade → 405",
                    rawRequest("POST", "/echo", upgradeHeaders()), 405, headers: ["Allow": "GET"]),
        RefusalCase("upgrade over HTTP/1.0 → 400",
                    rawRequest("/echo", version: "HTTP/1.0", upgradeHeaders()), 400),
        RefusalCase("Upgrade: h2c → 400",
                    rawRequest("/echo", upgradeHeaders().map { $0 == "Upgrade: websocket" ? "Upgrade: h2c" : $0 }), 400),
        RefusalCase("Connection without the upgrade token → 400",
                    rawRequest("/echo", upgradeHeaders().map { $0 == "Connection: Upgrade" ? "Connection: keep-alive" : $0 }), 400),
        RefusalCase("upgrade without Host → 400",
                    rawRequest("/echo", upgradeHeaders().filter { !$0.hasPrefix("Host") }), 400),
        RefusalCase("GET /healthz without Host → 400",
                    rawRequest("/healthz", []), 400),
        RefusalCase("duplicate Host → 400",
                    rawRequest("/healthz", ["Host: 127.0.0.1", "Host: example.com"]), 400),
        RefusalCase("duplicate Content-Length → 400",
                    rawRequest("/healthz", ["Host: 127.0.0.1", "Content-Length: 0", "Content-Length: 0"]), 400),
        RefusalCase("Transfer-Encoding on a plain request → 400",
                    rawRequest("POST", "/healthz", ["Host: 127.0.0.1", "Transfer-Encoding: chunked"]) + Array("0\r\n\r\n".utf8), 400),
        RefusalCase("Transfer-Encoding on an upgrade → 400",
                    rawRequest("/echo", upgradeHeaders(extra: ["Transfer-Encoding: chunked"])) + Array("0\r\n\r\n".utf8), 400),
        RefusalCase("body on an upgrade → 400",
                    rawRequest("/echo", upgradeHeaders(extra: ["Content-Length: 5"])) + Array("hello".utf8), 400),
        RefusalCase("obs-fold → 400",
                    rawRequest("/healthz", ["Host: 127.0.0.1", "X-Folded: first", " continued"]), 400),
        RefusalCase("bare LF line end → 400",
                    Array("GET /healthz HTTP/1.1\nHost: 127.0.0.1\n\n".utf8), 400),
        RefusalCase("space before the colon → 400",
                    rawRequest("/healthz", ["Host: 127.0.0.1", "X-Bad : 1"]), 400),
        RefusalCase("head over 16 KiB → 431",
                    rawRequest("/healthz", ["Host: 127.0.0.1", "X-Big: " + String(repeating: "a", count: 17 * 1024)]), 431),
        RefusalCase("101 header fields → 431",
                    rawRequest("/healthz", ["Host: 127.0.0.1"] + (1...100).map { "X-H\($0): v" }), 431),
        RefusalCase("HTTP/2.0 → 505",
                    rawRequest("/healthz", version: "HTTP/2.0", ["Host: 127.0.0.1"]), 505),
        RefusalCase("unknown path → 404",
                    rawRequest("/nope", ["Host: 127.0.0.1"]), 404),
        RefusalCase("upgrade on an unknown path → 404",
                    rawRequest("/nope", upgradeHeaders()), 404),
        RefusalCase("body over the 1 MiB limit → 413",
                    rawRequest("/healthz", ["Host: 127.0.0.1", "Content-Length: 2000000"]), 413),
        RefusalCase("Content-Length not a number → 400",
                    rawRequest("/healthz", ["Host: 127.0.0.1", "Content-Length: 12abc"]), 400),
        RefusalCase("negative Content-Length → 400",
                    rawRequest("/healthz", ["Host: 127.0.0.1", "Content-Length: -1"]), 400),
        RefusalCase("request target not origin-form → 400",
                    rawRequest("http://127.0.0.1/healthz", ["Host: 127.0.0.1"]), 400),
        RefusalCase("NUL in a header value → 400",
                    rawRequest("/healthz", ["Host: 127.0.0.1", "X-Nul: a\u{0}b"]), 400),
        RefusalCase("POST /healthz → 405 with Allow",
                    rawRequest("POST", "/healthz", ["Host: 127.0.0.1", "Content-Length: 0"]), 405, headers: ["Allow": "GET"]),
    ]
}

@Suite("Handshake and HTTP endpoints")
struct HandshakeTests {
    let port = handshakeServer.port

    @Test(arguments: RefusalCase.all)
    func refusalIsAnHTTPResponseThenClose(_ c: RefusalCase) throws {
        let client = try TCPClient(port: port)
        let reply = try client.exchange(c.request)
        #expect(reply.status == c.status, "\(c.name): got \(reply.statusLine)")
        #expect(reply.statusLine.hasPrefix("HTTP/1.1 \(c.status) "))
        for (name, value) in c.headers {
            #expect(reply.values(name) == [value], "\(c.name): header \(name) in \(reply)")
        }
        #expect(reply.value("Connection")?.lowercased() == "close")
        #expect(reply.value("Content-Type")?.hasPrefix("text/plain") == true)
        // A one-line reason.
        #expect(reply.body.count > 1 && reply.body.last == 10 && reply.body.dropLast().allSatisfy { $0 != 10 && $0 != 13 },
                "body: \(reply.bodyText)")
        #expect(reply.values("Sec-WebSocket-Accept").isEmpty)
        #expect(Int(reply.value("Content-Length") ?? "") == reply.body.count)
        // Nothing after the response, and the server ends the connection.
        #expect(client.awaitClose(timeoutMs: 2000) == .eof(leftover: []), "\(c.name)")
    }

    @Test func exactlyOneHundredHeaderFieldsAreAccepted() throws {
        let client = try TCPClient(port: port)
        let reply = try client.exchange(rawRequest("/healthz", ["Host: 127.0.0.1"] + (1...99).map { "X-H\($0): v" }))
        #expect(reply.status == 200)
    }

    @Test func headJustUnder16KiBIsAccepted() throws {
        let client = try TCPClient(port: port)
        // Request line + Host + blank line + this header = exactly 16 KiB.
        let fixed = rawRequest("/healthz", ["Host: 127.0.0.1", "X-Big: "]).count
        let reply = try client.exchange(rawRequest("/healthz", ["Host: 127.0.0.1",
                                                                "X-Big: " + String(repeating: "a", count: 16 * 1024 - fixed)]))
        #expect(reply.status == 200)
    }

    /// Valid keys: the RFC's sample and random ones, each checked with an independent SHA-1.
    @Test(arguments: [sampleKey, testBase64(patternBytes(16, seed: 1)), testBase64(patternBytes(16, seed: 2))])
    func validUpgradeAnswers101WithAccept(_ key: String) throws {
        #expect(expectedAccept(forKey: sampleKey) == sampleAccept)   // the checker itself
        let client = try TCPClient(port: port)
        let reply = try client.exchange(rawRequest("/echo", upgradeHeaders(key: key)))
        #expect(reply.statusLine == "HTTP/1.1 101 Switching Protocols")
        #expect(reply.values("Upgrade").map { $0.lowercased() } == ["websocket"])
        #expect(reply.values("Connection").map { $0.lowercased() } == ["upgrade"])
        #expect(reply.values("Sec-WebSocket-Accept") == [expectedAccept(forKey: key)])
        #expect(reply.values("Sec-WebSocket-Protocol").isEmpty)
        #expect(reply.values("Content-Length").isEmpty)
        #expect(client.inbox.isEmpty)
        // It really is a WebSocket now.
        let echo = try client.roundTrip(WSFrame.text("after upgrade"))
        #expect(echo.wireBytes == WSFrame.expectedServerFrame(Op.text, Array("after upgrade".utf8)))
    }

    struct SubprotocolCase: Sendable, CustomTestStringConvertible {
        let offered: [String]
        let echoed: [String]
        var testDescription: String { "offered \(offered) → \(echoed)" }
    }

    @Test(arguments: [
        SubprotocolCase(offered: [], echoed: []),
        SubprotocolCase(offered: ["Sec-WebSocket-Protocol: qv.v1.json"], echoed: ["qv.v1.json"]),
        SubprotocolCase(offered: ["Sec-WebSocket-Protocol: chat, qv.v1.json"], echoed: ["qv.v1.json"]),
        SubprotocolCase(offered: ["Sec-WebSocket-Protocol: chat", "Sec-WebSocket-Protocol: qv.v1.json"], echoed: ["qv.v1.json"]),
        SubprotocolCase(offered: ["Sec-WebSocket-Protocol: chat, superchat"], echoed: []),
        // Subprotocol names are compared exactly: a client offering another spelling must not
        // get back a name it did not offer (RFC 6455 §4.1 makes the client fail the connection).
        SubprotocolCase(offered: ["Sec-WebSocket-Protocol: QV.V1.JSON"], echoed: []),
    ])
    func subprotocolIsEchoedOnlyWhenOffered(_ c: SubprotocolCase) throws {
        let client = try TCPClient(port: port)
        let reply = try client.exchange(rawRequest("/echo", upgradeHeaders(extra: c.offered)))
        #expect(reply.status == 101)
        #expect(reply.values("Sec-WebSocket-Protocol") == c.echoed)
    }

    @Test func healthzGet() throws {
        let client = try TCPClient(port: port)
        let reply = try client.exchange(rawRequest("/healthz", ["Host: 127.0.0.1"]))
        #expect(reply.statusLine == "HTTP/1.1 200 OK")
        #expect(reply.bodyText == "ok\n")
        #expect(reply.value("Content-Length") == "3")
        #expect(reply.values("Connection").isEmpty)   // keep-alive by default on HTTP/1.1
    }

    @Test func healthzHeadHasHeadersButNoBody() throws {
        let client = try TCPClient(port: port)
        try client.send(rawRequest("HEAD", "/healthz", ["Host: 127.0.0.1", "Connection: close"]))
        let reply = try client.readHTTPResponse(bodyExpected: false)
        #expect(reply.statusLine == "HTTP/1.1 200 OK")
        #expect(reply.value("Content-Length") == "3")   // the GET body's length
        #expect(client.awaitClose(timeoutMs: 2000) == .eof(leftover: []))   // and not one body byte
    }

    @Test func healthzHeadOnKeepAliveIsFollowedDirectlyByTheNextResponse() throws {
        let client = try TCPClient(port: port)
        try client.send(rawRequest("HEAD", "/healthz", ["Host: 127.0.0.1"]))
        let head = try client.readHTTPResponse(bodyExpected: false)
        #expect(head.status == 200)
        let get = try client.exchange(rawRequest("/healthz", ["Host: 127.0.0.1"]))
        #expect(get.statusLine == "HTTP/1.1 200 OK")
        #expect(get.bodyText == "ok\n")
    }

    @Test func readyzGet() throws {
        let client = try TCPClient(port: port)
        let reply = try client.exchange(rawRequest("/readyz", ["Host: 127.0.0.1"]))
        #expect(reply.statusLine == "HTTP/1.1 200 OK")
        #expect(reply.bodyText == "ready\n")
    }

    @Test func queryStringDoesNotChangeTheRoute() throws {
        let client = try TCPClient(port: port)
        let reply = try client.exchange(rawRequest("/healthz?probe=1", ["Host: 127.0.0.1"]))
        #expect(reply.status == 200)
    }

    @Test func http10WithoutHostIsAnsweredAndClosed() throws {
        let client = try TCPClient(port: port)
        let reply = try client.exchange(rawRequest("/healthz", version: "HTTP/1.0", []))
        #expect(reply.status == 200)
        #expect(reply.value("Connection")?.lowercased() == "close")
        #expect(client.awaitClose(timeoutMs: 2000) == .eof(leftover: []))
    }

    @Test func connectionCloseIsHonoured() throws {
        let client = try TCPClient(port: port)
        let reply = try client.exchange(rawRequest("/healthz", ["Host: 127.0.0.1", "Connection: close"]))
        #expect(reply.status == 200)
        #expect(reply.value("Connection")?.lowercased() == "close")
        #expect(client.awaitClose(timeoutMs: 2000) == .eof(leftover: []))
    }

    @Test func keepAliveAnswersTwoRequestsInTurn() throws {
        let client = try TCPClient(port: port)
        let first = try client.exchange(rawRequest("/healthz", ["Host: 127.0.0.1"]))
        let second = try client.exchange(rawRequest("/readyz", ["Host: 127.0.0.1"]))
        #expect(first.status == 200 && first.bodyText == "ok\n")
        #expect(second.status == 200 && second.bodyText == "ready\n")
        #expect(client.awaitClose(timeoutMs: 200) == .stillOpen(received: 0))
    }

    @Test func pipelinedRequestsAreAnsweredInOrder() throws {
        let client = try TCPClient(port: port)
        try client.send(rawRequest("/healthz", ["Host: 127.0.0.1"]) + rawRequest("/readyz", ["Host: 127.0.0.1"])
                        + rawRequest("/healthz", ["Host: 127.0.0.1"]))
        let replies = try (0..<3).map { _ in try client.readHTTPResponse() }
        #expect(replies.map(\.bodyText) == ["ok\n", "ready\n", "ok\n"])
    }

    @Test func requestBodyIsConsumedBeforeTheNextPipelinedRequest() throws {
        // The body bytes must not be parsed as the next request head.
        let client = try TCPClient(port: port)
        try client.send(rawRequest("/healthz", ["Host: 127.0.0.1", "Content-Length: 20"]) + Array("GET /nope HTTP/1.1\r\n".utf8)
                        + rawRequest("/readyz", ["Host: 127.0.0.1"]))
        #expect(try client.readHTTPResponse().bodyText == "ok\n")
        #expect(try client.readHTTPResponse().bodyText == "ready\n")
    }

    @Test func upgradeRequestWrittenByteByByte() throws {
        let client = try TCPClient(port: port)
        let request = rawRequest("/echo", upgradeHeaders(extra: ["Sec-WebSocket-Protocol: qv.v1.json"]))
        for b in request {
            try client.send([b])
            if b == 13 || b == 10 { sleepMillis(1) }   // CR and LF land in separate reads
        }
        let reply = try client.readHTTPResponse()
        #expect(reply.status == 101)
        #expect(reply.value("Sec-WebSocket-Protocol") == "qv.v1.json")
    }

    @Test func upgradeHeaderValuesAreCaseInsensitiveTokenLists() throws {
        let client = try TCPClient(port: port)
        let reply = try client.exchange(rawRequest("/echo", ["host: 127.0.0.1", "upgrade: WebSocket", "connection: keep-alive, Upgrade",
                                                             "sec-websocket-key: \(sampleKey)", "sec-websocket-version: 13"]))
        #expect(reply.status == 101)
        #expect(reply.value("Sec-WebSocket-Accept") == sampleAccept)
    }

    @Test func pipelinedRefusalStopsTheConnection() throws {
        // A refused request is the last one: what was pipelined behind it is not answered.
        let client = try TCPClient(port: port)
        try client.send(rawRequest("/nope", ["Host: 127.0.0.1"]) + rawRequest("/healthz", ["Host: 127.0.0.1"]))
        let reply = try client.readHTTPResponse()
        #expect(reply.status == 404)
        #expect(client.awaitClose(timeoutMs: 2000) == .eof(leftover: []))
    }

    @Test func upgradeWithAFramePipelinedInTheSameWrite() throws {
        let client = try TCPClient(port: port)
        try client.send(rawRequest("/echo", upgradeHeaders()) + WSFrame.text("pipelined"))
        let reply = try client.readHTTPResponse()
        #expect(reply.status == 101)
        #expect(reply.value("Sec-WebSocket-Accept") == sampleAccept)
        let echo = try client.readFrame()
        #expect(echo.wireBytes == WSFrame.expectedServerFrame(Op.text, Array("pipelined".utf8)))
    }

    @Test func keepAliveRequestThenUpgradeThenFramesInOneWrite() throws {
        let client = try TCPClient(port: port)
        try client.send(rawRequest("/healthz", ["Host: 127.0.0.1"]) + rawRequest("/echo", upgradeHeaders())
                        + WSFrame.text("one") + WSFrame.binary([1, 2, 3]))
        #expect(try client.readHTTPResponse().bodyText == "ok\n")
        #expect(try client.readHTTPResponse().status == 101)
        #expect(try client.readFrame().wireBytes == WSFrame.expectedServerFrame(Op.text, Array("one".utf8)))
        #expect(try client.readFrame().wireBytes == WSFrame.expectedServerFrame(Op.binary, [1, 2, 3]))
    }
}

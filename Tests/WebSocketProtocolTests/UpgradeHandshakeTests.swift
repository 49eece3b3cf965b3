import Testing
@testable import WebSocketProtocol

@Suite("Upgrade handshake")
struct UpgradeHandshakeTests {
    typealias Fields = [(String, String)]

    static let goodFields: Fields = [
        ("Host", "example.com"),
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("Sec-WebSocket-Version", "13"),
        ("Origin", "https://example.com"),
        ("Sec-WebSocket-Protocol", "chat, superchat"),
        ("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits"),
    ]

    /// A change to the good request's header fields.
    enum Edit: Sendable {
        case set(String, String)
        case remove(String)
        case add(String, String)

        func apply(_ f: inout Fields) {
            switch self {
            case .set(let name, let value): f = f.filter { $0.0 != name } + [(name, value)]
            case .remove(let name): f = f.filter { $0.0 != name }
            case .add(let name, let value): f.append((name, value))
            }
        }
    }

    /// The good request with `edits` applied, parsed by the real parser.
    static func head(_ requestLine: String = "GET /ws HTTP/1.1", _ edits: Edit...) -> HTTPRequestHead? {
        head(requestLine, fields: edits.reduce(into: goodFields) { $1.apply(&$0) })
    }

    static func head(_ requestLine: String, fields: Fields) -> HTTPRequestHead? {
        let text = requestLine + "\r\n" + fields.map { "\($0.0): \($0.1)\r\n" }.joined() + "\r\n"
        return runParser([Array(text.utf8)[...]]).head
    }

    static func set(_ name: String, _ value: String) -> Edit { .set(name, value) }
    static func remove(_ name: String) -> Edit { .remove(name) }
    static func add(_ name: String, _ value: String) -> Edit { .add(name, value) }

    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var requestLine = "GET /ws HTTP/1.1"
        var edits: [Edit] = []
        /// nil: accepted.
        var status: Int?
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "good request", status: nil),
        Case(name: "Upgrade value in another case", edits: [set("Upgrade", "WebSocket")], status: nil),
        Case(name: "Connection token list", edits: [set("Connection", "keep-alive, Upgrade")], status: nil),
        Case(name: "Connection lower case", edits: [set("Connection", "upgrade")], status: nil),
        Case(name: "Content-Length 0", edits: [add("Content-Length", "0")], status: nil),
        Case(name: "no Origin", edits: [remove("Origin")], status: nil),
        Case(name: "Upgrade: websocket, h2c", edits: [set("Upgrade", "websocket, h2c")], status: 400),
        Case(name: "Upgrade: h2c", edits: [set("Upgrade", "h2c")], status: 400),
        Case(name: "two Upgrade headers", edits: [add("Upgrade", "websocket")], status: 400),
        Case(name: "no Upgrade header", edits: [remove("Upgrade")], status: 400),
        Case(name: "missing Connection", edits: [remove("Connection")], status: 400),
        Case(name: "Connection without upgrade", edits: [set("Connection", "keep-alive")], status: 400),
        Case(name: "Connection: upgraded (not a token match)", edits: [set("Connection", "upgraded")], status: 400),
        Case(name: "POST", requestLine: "POST /ws HTTP/1.1", status: 405),
        Case(name: "lower-case get", requestLine: "get /ws HTTP/1.1", status: 405),
        Case(name: "version 8", edits: [set("Sec-WebSocket-Version", "8")], status: 426),
        Case(name: "two versions", edits: [set("Sec-WebSocket-Version", "13, 8")], status: 426),
        Case(name: "missing version", edits: [remove("Sec-WebSocket-Version")], status: 400),
        Case(name: "key not base64", edits: [set("Sec-WebSocket-Key", "not base64 at all!!!!!!!")], status: 400),
        Case(name: "key of 15 bytes", edits: [set("Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAA")], status: 400),
        Case(name: "key of 17 bytes", edits: [set("Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAAAAA=")], status: 400),
        Case(name: "key non-canonical padding bits", edits: [set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZR==")], status: 400),
        Case(name: "key without padding", edits: [set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ")], status: 400),
        Case(name: "empty key", edits: [set("Sec-WebSocket-Key", "")], status: 400),
        Case(name: "missing key", edits: [remove("Sec-WebSocket-Key")], status: 400),
        Case(name: "two keys", edits: [add("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")], status: 400),
        Case(name: "Content-Length: 5", edits: [add("Content-Length", "5")], status: 400),
        Case(name: "HTTP/1.0 upgrade", requestLine: "GET /ws HTTP/1.0", status: 400),
        Case(name: "duplicate Origin", edits: [add("Origin", "https://evil.example")], status: 400),
    ]

    @Test(arguments: cases)
    func validation(_ c: Case) throws {
        let head = try #require(Self.head(c.requestLine, fields: c.edits.reduce(into: Self.goodFields) { $1.apply(&$0) }), "the parser refused the request")
        switch (UpgradeHandshake.validate(head), c.status) {
        case (.success, nil): break
        case (.success(let u), let status?): Issue.record("accepted \(u), expected \(status)")
        case (.failure(let r), nil): Issue.record("refused \(r.status.rawValue) \(r.reason)")
        case (.failure(let r), let status?): #expect(r.status.rawValue == status, "\(r.reason)")
        }
    }

    @Test func goodRequestFields() throws {
        let head = try #require(Self.head())
        #expect(UpgradeHandshake.isUpgradeAttempt(head))
        let u = try UpgradeHandshake.validate(head).get()
        #expect(u.key == "dGhlIHNhbXBsZSBub25jZQ==")
        #expect(u.protocols == ["chat", "superchat"])
        #expect(u.extensions == ["permessage-deflate; client_max_window_bits"])
        #expect(u.origin == "https://example.com")
    }

    @Test func plainRequestIsNotAnUpgradeAttempt() throws {
        let head = try #require(Self.head("GET / HTTP/1.1", fields: [("Host", "a")]))
        #expect(!UpgradeHandshake.isUpgradeAttempt(head))
    }

    @Test func versionRejectionAdvertises13() throws {
        let head = try #require(Self.head("GET /ws HTTP/1.1", Self.set("Sec-WebSocket-Version", "8")))
        guard case .failure(let r) = UpgradeHandshake.validate(head) else { Issue.record("accepted"); return }
        #expect(r.status == .upgradeRequired)
        #expect(r.headers == [.init(name: "Sec-WebSocket-Version", value: "13")])
    }

    @Test func postRejectionAdvertisesAllow() throws {
        let head = try #require(Self.head("POST /ws HTTP/1.1"))
        guard case .failure(let r) = UpgradeHandshake.validate(head) else { Issue.record("accepted"); return }
        #expect(r.status == .methodNotAllowed)
        #expect(r.headers == [.init(name: "Allow", value: "GET")])
    }

    @Test func subprotocolTokensParsed() throws {
        let head = try #require(Self.head("GET /ws HTTP/1.1", .set("Sec-WebSocket-Protocol", " chat ,superchat,, v2.qv\t"),
                                             .add("Sec-WebSocket-Protocol", "qv.v1.json")))
        #expect(try UpgradeHandshake.validate(head).get().protocols == ["chat", "superchat", "v2.qv", "qv.v1.json"])
        let none = try #require(Self.head("GET /ws HTTP/1.1", Self.remove("Sec-WebSocket-Protocol")))
        #expect(try UpgradeHandshake.validate(none).get().protocols == [])
    }

    /// RFC 6455 §4.1/§4.2.2: the server must echo one of the values the client sent; browsers
    /// compare exactly (Chromium: "'Sec-WebSocket-Protocol' header value 'mqtt' in response does
    /// not match any of sent values"). Subprotocol names are case-sensitive, so they must not be
    /// lower-cased on the way in.
    @Test func subprotocolCaseIsPreserved() throws {
        let head = try #require(Self.head("GET /ws HTTP/1.1", Self.set("Sec-WebSocket-Protocol", "MQTT, Chat.V2")))
        #expect(try UpgradeHandshake.validate(head).get().protocols == ["MQTT", "Chat.V2"])
    }

    @Test func switchingProtocolsHeaders() throws {
        let u = try UpgradeHandshake.validate(try #require(Self.head())).get()
        let headers = UpgradeHandshake.responseHeaders(for: u, subprotocol: "chat")
        #expect(headers.map { "\($0.0): \($0.1)" } == ["Upgrade: websocket", "Connection: Upgrade",
                                                     "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", "Sec-WebSocket-Protocol: chat"])
    }

    @Test func acceptValueIsBase64OfTwentyBytes() {
        var rng = SeededRNG(seed: 99)
        for _ in 0..<20 {
            let key = Base64.encode(rng.bytes(16))
            let accept = UpgradeHandshake.acceptValue(forKey: key)
            #expect(Base64.decode(accept)?.count == 20)
        }
    }
}

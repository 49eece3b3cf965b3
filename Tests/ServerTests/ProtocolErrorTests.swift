// Protocol violations on an established WebSocket: the server sends one close frame with the
// right code (and nothing else), then ends the TCP connection.

import Server
import Testing

/// A small message limit so the 1009 cases are cheap.
private let limitedServer = try! TestServer { $0.maxMessageSize = 4096 }

struct ViolationCase: Sendable, CustomTestStringConvertible {
    let name: String
    let bytes: [UInt8]
    let code: UInt16
    var testDescription: String { name }

    static let all: [ViolationCase] = [
        ViolationCase(name: "unmasked frame → 1002", bytes: WSFrame.build(Op.text, Array("hi".utf8), mask: nil), code: 1002),
        ViolationCase(name: "reserved data opcode 3 → 1002", bytes: WSFrame.build(0x3, [1]), code: 1002),
        ViolationCase(name: "reserved control opcode 0xB → 1002", bytes: WSFrame.build(0xB, []), code: 1002),
        ViolationCase(name: "RSV1 without an extension → 1002", bytes: WSFrame.build(Op.text, Array("x".utf8), rsv: 0x40), code: 1002),
        ViolationCase(name: "RSV2 → 1002", bytes: WSFrame.build(Op.binary, [1], rsv: 0x20), code: 1002),
        ViolationCase(name: "ping longer than 125 → 1002", bytes: WSFrame.build(Op.ping, patternBytes(126)), code: 1002),
        ViolationCase(name: "fragmented ping → 1002", bytes: WSFrame.build(Op.ping, [1], fin: false), code: 1002),
        ViolationCase(name: "continuation without a message → 1002", bytes: WSFrame.build(Op.continuation, [1]), code: 1002),
        ViolationCase(name: "new text inside a fragmented message → 1002",
                      bytes: WSFrame.build(Op.text, Array("a".utf8), fin: false) + WSFrame.text("b"), code: 1002),
        ViolationCase(name: "non-minimal 16-bit length → 1002", bytes: WSFrame.build(Op.binary, [1, 2, 3], length: .sixteen), code: 1002),
        ViolationCase(name: "non-minimal 64-bit length → 1002", bytes: WSFrame.build(Op.binary, [1, 2, 3], length: .sixtyFour), code: 1002),
        ViolationCase(name: "64-bit length with the top bit set → 1002",
                      bytes: WSFrame.build(Op.binary, [], declaredLength: 1 << 63), code: 1002),
        ViolationCase(name: "invalid UTF-8 text → 1007", bytes: WSFrame.build(Op.text, [0x61, 0xC3, 0x28]), code: 1007),
        ViolationCase(name: "UTF-8 surrogate → 1007", bytes: WSFrame.build(Op.text, [0xED, 0xA0, 0x80]), code: 1007),
        ViolationCase(name: "text ending inside a character → 1007", bytes: WSFrame.build(Op.text, [0x61, 0xE2, 0x82]), code: 1007),
        ViolationCase(name: "invalid UTF-8 in a later fragment → 1007",
                      bytes: WSFrame.build(Op.text, Array("ok".utf8), fin: false) + WSFrame.build(Op.continuation, [0xFF], fin: true),
                      code: 1007),
        ViolationCase(name: "close with a 1-byte payload → 1002", bytes: WSFrame.build(Op.close, [0x03]), code: 1002),
        ViolationCase(name: "close with an invalid UTF-8 reason → 1007", bytes: WSFrame.close(1000, reason: [0xC0, 0xAF]), code: 1007),
    ] + [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535].map { (c: UInt16) in
        ViolationCase(name: "close code \(c) → 1002", bytes: WSFrame.close(c), code: 1002)
    }
}

@Suite("Protocol errors on a live socket")
struct ProtocolErrorTests {
    let port = limitedServer.port

    /// Reads the server's close frame and checks it, then the TCP close.
    private func expectClose(_ client: TCPClient, _ code: UInt16, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let frame = try client.readFrame(timeoutMs: 2000)
        #expect(frame.opcode == Op.close && frame.fin && !frame.masked && frame.rsv == 0, "\(what): \(frame)", sourceLocation: sourceLocation)
        #expect(frame.closeCode == code, "\(what): \(frame)", sourceLocation: sourceLocation)
        #expect(frame.payload.count <= 125, sourceLocation: sourceLocation)
        #expect(String(validating: frame.closeReason, as: UTF8.self) != nil, "reason must be UTF-8", sourceLocation: sourceLocation)
        #expect(Array(frame.header.prefix(2)) == [0x88, UInt8(frame.payload.count)], sourceLocation: sourceLocation)
        #expect(client.awaitClose(timeoutMs: 2000) == .eof(leftover: []), "\(what)", sourceLocation: sourceLocation)
    }

    @Test(arguments: ViolationCase.all)
    func violationClosesWithCode(_ c: ViolationCase) throws {
        let client = try TCPClient.webSocket(port: port)
        // A good message first: the session works until the violation.
        #expect(try client.roundTrip(WSFrame.text("fine")).payload == Array("fine".utf8))
        try client.send(c.bytes)
        try expectClose(client, c.code, c.name)
    }

    @Test func invalidUTF8ClosesBeforeTheFrameIsComplete() throws {
        // The first invalid byte is enough: the rest of the declared 1000 bytes never comes.
        let client = try TCPClient.webSocket(port: port)
        let payload = Array("valid start ".utf8) + [0xFF] + patternBytes(1000 - 13).map { 0x20 + $0 % 0x5F }
        let frame = WSFrame.build(Op.text, payload)
        try client.send(Array(frame[..<(frame.count - 1000 + 20)]))
        try expectClose(client, 1007, "invalid byte 12 of a 1000-byte frame")
    }

    @Test func invalidUTF8InAnUnfinishedFragmentClosesAtOnce() throws {
        let client = try TCPClient.webSocket(port: port)
        try client.send(WSFrame.build(Op.text, [0x61, 0x62, 0xC0, 0x80], fin: false))
        try expectClose(client, 1007, "overlong encoding in a first fragment")
    }

    @Test func messageOfExactlyTheLimitIsEchoed() throws {
        let client = try TCPClient.webSocket(port: port)
        let p = patternBytes(4096, seed: 40)
        let echo = try client.roundTrip(WSFrame.binary(p))
        #expect(echo.wireBytes == WSFrame.expectedServerFrame(Op.binary, p))
    }

    @Test func oversizedFrameIsRefusedOnItsDeclaredLength() throws {
        let client = try TCPClient.webSocket(port: port)
        // Only the header (with its mask key): the close must come without any payload sent.
        let header = WSFrame.build(Op.binary, [], declaredLength: 4097)
        #expect(header.count == 2 + 2 + 4)
        try client.send(header)
        try expectClose(client, 1009, "declared 4097 > 4096")
    }

    @Test func oversized64BitDeclarationIsRefusedBeforeThePayload() throws {
        let client = try TCPClient.webSocket(port: port)
        try client.send(WSFrame.build(Op.text, [], declaredLength: 1 << 40))
        try expectClose(client, 1009, "declared 2^40")
    }

    @Test func fragmentedMessageOverTheLimitIsRefusedOnTheNextDeclaredLength() throws {
        let client = try TCPClient.webSocket(port: port)
        try client.send(WSFrame.build(Op.binary, patternBytes(3000), fin: false))
        // 3000 + 1097 = 4097: refused from the continuation's header alone.
        try client.send(WSFrame.build(Op.continuation, [], fin: true, declaredLength: 1097))
        try expectClose(client, 1009, "fragments adding up to 4097")
    }

    @Test func fragmentedMessageOfExactlyTheLimitIsEchoed() throws {
        let client = try TCPClient.webSocket(port: port)
        let p = patternBytes(4096, seed: 41)
        try client.send(WSFrame.build(Op.binary, Array(p[..<3000]), fin: false)
                        + WSFrame.build(Op.continuation, Array(p[3000...]), fin: true))
        #expect(sameBytes(try client.readFrame().payload, p))
    }

    struct CloseEchoCase: Sendable, CustomTestStringConvertible {
        let sent: [UInt8]
        let expected: [UInt8]
        let name: String
        var testDescription: String { name }
    }

    @Test(arguments: [
        CloseEchoCase(sent: WSFrame.close(1000), expected: [0x88, 0x02, 0x03, 0xE8], name: "1000"),
        CloseEchoCase(sent: WSFrame.close(1000, reason: Array("bye".utf8)), expected: [0x88, 0x02, 0x03, 0xE8], name: "1000 with a reason"),
        CloseEchoCase(sent: WSFrame.close(1001), expected: [0x88, 0x02, 0x03, 0xE9], name: "1001"),
        CloseEchoCase(sent: WSFrame.close(3000), expected: [0x88, 0x02, 0x0B, 0xB8], name: "3000"),
        CloseEchoCase(sent: WSFrame.close(4999), expected: [0x88, 0x02, 0x13, 0x87], name: "4999"),
        CloseEchoCase(sent: WSFrame.close(nil), expected: [0x88, 0x00], name: "empty close"),
    ])
    func clientCloseIsEchoedThenTCPCloses(_ c: CloseEchoCase) throws {
        let client = try TCPClient.webSocket(port: port)
        try client.send(c.sent)
        #expect(try client.readFrame().wireBytes == c.expected)
        #expect(client.awaitClose(timeoutMs: 2000) == .eof(leftover: []))
    }

    @Test func dataAfterTheCloseFrameIsIgnored() throws {
        let client = try TCPClient.webSocket(port: port)
        try client.send(WSFrame.close(1000) + WSFrame.text("too late") + WSFrame.build(Op.ping, []))
        #expect(try client.readFrame().wireBytes == [0x88, 0x02, 0x03, 0xE8])
        #expect(client.awaitClose(timeoutMs: 2000) == .eof(leftover: []))
    }

    @Test func violationAfterPartialMessageStillGetsOnlyTheClose() throws {
        // No half-echo before the close: a fragmented message in progress is dropped.
        let client = try TCPClient.webSocket(port: port)
        try client.send(WSFrame.build(Op.text, Array("partial".utf8), fin: false) + WSFrame.build(Op.binary, [1], mask: nil))
        try expectClose(client, 1002, "unmasked frame mid-message")
    }
}

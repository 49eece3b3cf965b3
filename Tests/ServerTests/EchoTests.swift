// /echo over real sockets: every data message comes back as one unmasked frame with the same
// opcode and bytes, whatever the size, fragmentation or the way the bytes were split on the wire.

import Server
import Testing

private let echoServer = try! TestServer()

struct EchoCase: Sendable, CustomTestStringConvertible {
    let opcode: UInt8
    let size: Int
    var testDescription: String { "\(opcode == Op.text ? "text" : "binary") \(size) bytes" }

    var payload: [UInt8] {
        // Text stays valid UTF-8 (ASCII); binary covers every byte value.
        opcode == Op.text ? patternBytes(size, seed: 3).map { 0x20 + $0 % 0x5F } : patternBytes(size, seed: 4)
    }
}

@Suite("Echo")
struct EchoTests {
    let port = echoServer.port

    @Test(arguments: [
        EchoCase(opcode: Op.text, size: 0), EchoCase(opcode: Op.binary, size: 0),
        EchoCase(opcode: Op.text, size: 5), EchoCase(opcode: Op.binary, size: 4),
        EchoCase(opcode: Op.binary, size: 125), EchoCase(opcode: Op.binary, size: 126),
        EchoCase(opcode: Op.text, size: 65535), EchoCase(opcode: Op.binary, size: 65536),
        EchoCase(opcode: Op.binary, size: 1 << 20), EchoCase(opcode: Op.text, size: 1 << 20),
    ])
    func messageComesBackIdentical(_ c: EchoCase) throws {
        let client = try TCPClient.webSocket(port: port)
        let payload = c.payload
        let echo = try client.roundTrip(WSFrame.build(c.opcode, payload), timeoutMs: 10_000)
        // Exact header: FIN, no RSV, the same opcode, unmasked, minimal length encoding.
        #expect(echo.header == Array(WSFrame.expectedServerFrame(c.opcode, []).prefix(1)) + lengthField(c.size))
        #expect(sameBytes(echo.payload, payload))
        #expect(client.inbox.isEmpty)
    }

    /// The length bytes the server must use for `n` (minimal form, no mask bit).
    private func lengthField(_ n: Int) -> [UInt8] {
        if n < 126 { return [UInt8(n)] }
        if n <= 0xFFFF { return [126, UInt8(n >> 8), UInt8(n & 0xFF)] }
        return [127] + (0..<8).reversed().map { UInt8(truncatingIfNeeded: n >> ($0 * 8)) }
    }

    @Test func severalMessagesInOneWriteComeBackInOrder() throws {
        let client = try TCPClient.webSocket(port: port)
        let messages = (0..<20).map { patternBytes(10 + $0 * 37, seed: UInt8($0)) }
        try client.send(messages.flatMap { WSFrame.binary($0) })
        for m in messages {
            #expect(try client.readFrame().wireBytes == WSFrame.expectedServerFrame(Op.binary, m))
        }
    }

    @Test func pingIsAnsweredWithPongOfTheSamePayload() throws {
        let client = try TCPClient.webSocket(port: port)
        for payload in [[], Array("ping!".utf8), patternBytes(125, seed: 9)] {
            let pong = try client.roundTrip(WSFrame.build(Op.ping, payload))
            #expect(pong.wireBytes == WSFrame.expectedServerFrame(Op.pong, payload))
        }
    }

    @Test func unsolicitedPongIsIgnored() throws {
        let client = try TCPClient.webSocket(port: port)
        try client.send(WSFrame.build(Op.pong, Array("hb".utf8)) + WSFrame.text("after pong"))
        #expect(try client.readFrame().wireBytes == WSFrame.expectedServerFrame(Op.text, Array("after pong".utf8)))
    }

    @Test func fragmentedMessageWithInterleavedPing() throws {
        let client = try TCPClient.webSocket(port: port)
        try client.send(WSFrame.build(Op.text, Array("Hel".utf8), fin: false)
                        + WSFrame.build(Op.ping, Array("ping!".utf8))
                        + WSFrame.build(Op.continuation, Array("lo, ".utf8), fin: false)
                        + WSFrame.build(Op.continuation, Array("world".utf8), fin: true))
        // The pong comes first (the message is not complete yet), then the whole message as one frame.
        #expect(try client.readFrame().wireBytes == WSFrame.expectedServerFrame(Op.pong, Array("ping!".utf8)))
        #expect(try client.readFrame().wireBytes == WSFrame.expectedServerFrame(Op.text, Array("Hello, world".utf8)))
    }

    @Test func pingBetweenFragmentsSentSeparatelyIsAnsweredBeforeTheMessageEnds() throws {
        let client = try TCPClient.webSocket(port: port)
        try client.send(WSFrame.build(Op.binary, [1, 2, 3], fin: false))
        try client.send(WSFrame.build(Op.ping, [42]))
        // The pong must not wait for the message to finish.
        #expect(try client.readFrame(timeoutMs: 1000).wireBytes == WSFrame.expectedServerFrame(Op.pong, [42]))
        try client.send(WSFrame.build(Op.continuation, [4, 5], fin: true))
        #expect(try client.readFrame().wireBytes == WSFrame.expectedServerFrame(Op.binary, [1, 2, 3, 4, 5]))
    }

    @Test func emptyFragmentsAreAllowed() throws {
        let client = try TCPClient.webSocket(port: port)
        try client.send(WSFrame.build(Op.text, [], fin: false) + WSFrame.build(Op.continuation, Array("abc".utf8), fin: false)
                        + WSFrame.build(Op.continuation, [], fin: false) + WSFrame.build(Op.continuation, [], fin: true))
        #expect(try client.readFrame().wireBytes == WSFrame.expectedServerFrame(Op.text, Array("abc".utf8)))
    }

    @Test func largeFragmentedBinaryMessage() throws {
        let client = try TCPClient.webSocket(port: port)
        let parts = (0..<3).map { patternBytes(40_000, seed: UInt8(20 + $0)) }
        try client.send(WSFrame.build(Op.binary, parts[0], fin: false) + WSFrame.build(Op.continuation, parts[1], fin: false)
                        + WSFrame.build(Op.continuation, parts[2], fin: true))
        let echo = try client.readFrame(timeoutMs: 5000)
        #expect(echo.fin && echo.opcode == Op.binary && !echo.masked)
        #expect(sameBytes(echo.payload, parts.flatMap { $0 }))
    }

    @Test func utf8CharacterSplitAcrossFragments() throws {
        let client = try TCPClient.webSocket(port: port)
        let text = Array("prix: 187,25 € ✓".utf8)
        let euro = text.firstIndex(of: 0xE2)! + 1   // inside the 3-byte "€"
        try client.send(WSFrame.build(Op.text, Array(text[..<euro]), fin: false)
                        + WSFrame.build(Op.continuation, Array(text[euro...]), fin: true))
        #expect(try client.readFrame().wireBytes == WSFrame.expectedServerFrame(Op.text, text))
    }

    @Test func framesWrittenByteByByte() throws {
        let client = try TCPClient.webSocket(port: port)
        let single = patternBytes(200, seed: 30)   // 16-bit length: the header itself is split
        let wire = WSFrame.binary(single)
            + WSFrame.build(Op.text, Array("frag".utf8), fin: false)
            + WSFrame.build(Op.ping, [7, 7])
            + WSFrame.build(Op.continuation, Array("mented ✓".utf8), fin: true)
        for (i, b) in wire.enumerated() {
            try client.send([b])
            // Pause inside headers so each byte is its own segment and its own read.
            if i < 12 || (i > 208 && i < 240) { sleepMillis(2) }
        }
        #expect(try client.readFrame().wireBytes == WSFrame.expectedServerFrame(Op.binary, single))
        #expect(try client.readFrame().wireBytes == WSFrame.expectedServerFrame(Op.pong, [7, 7]))
        #expect(try client.readFrame().wireBytes == WSFrame.expectedServerFrame(Op.text, Array("fragmented ✓".utf8)))
    }

    @Test func largeMessageSplitAtAwkwardOffsets() throws {
        // The same 70 000-byte frame cut in pieces that straddle the header, the mask key and
        // the 64 KiB mark, with pauses so the server sees each piece in its own read.
        let client = try TCPClient.webSocket(port: port)
        let payload = patternBytes(70_000, seed: 31)
        let wire = WSFrame.binary(payload)
        let cuts = [1, 3, 9, 13, 14, 1000, 65_536, 65_550, wire.count]
        var last = 0
        for cut in cuts where cut > last {
            try client.send(Array(wire[last..<cut]))
            last = cut
            sleepMillis(5)
        }
        let echo = try client.readFrame(timeoutMs: 5000)
        #expect(echo.opcode == Op.binary && echo.fin)
        #expect(sameBytes(echo.payload, payload))
    }
}

// permessage-deflate (RFC 7692) over real sockets: what the 101 answers to each offer, compressed
// echo both ways (the client compresses with our Deflater and masks), and every way a compressed
// message can be wrong.

import Server
import Testing
import WebSocketProtocol

/// Defaults: no context takeover either way, 256-byte minimum; a 64 KiB message limit so the
/// 1009 case is cheap.
private let deflateServer = try! TestServer { $0.maxMessageSize = 64 << 10 }
/// Context takeover allowed both ways: each connection gets its own zlib streams.
private let takeoverServer = try! TestServer {
    $0.deflate.serverNoContextTakeover = false
    $0.deflate.clientNoContextTakeover = false
    $0.deflate.minMessageSize = 1
}
private let disabledServer = try! TestServer { $0.deflate.enabled = false }

private let defaultAnswer = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"

/// Opens /echo offering `extensions`; returns the client and the 101's extension header values.
private func connect(_ port: Int, offering extensions: [String]) throws -> (TCPClient, [String]) {
    let client = try TCPClient(port: port)
    let reply = try client.exchange(rawRequest("/echo", upgradeHeaders(extra: extensions.map { "Sec-WebSocket-Extensions: \($0)" })))
    guard reply.status == 101 else { throw ClientError("upgrade refused: \(reply)") }
    return (client, reply.values("Sec-WebSocket-Extensions"))
}

/// A masked client frame carrying `message` compressed (RSV1 set), in one frame.
private func compressedFrame(_ opcode: UInt8, _ message: [UInt8], with deflater: Deflater) -> [UInt8] {
    WSFrame.build(opcode, deflater.compress(message), rsv: 0x40)
}

/// Text that compresses well and is large enough to be sent back compressed.
private func jsonLike(_ count: Int, seed: UInt8 = 1) -> [UInt8] {
    var out: [UInt8] = []
    var i = Int(seed)
    while out.count < count {
        out += Array("{\"channel\":\"prices:AAPL\",\"seq\":\(i),\"price\":\"187.\(i % 100)\"},".utf8)
        i += 1
    }
    return Array(out.prefix(count))
}

struct OfferCase: Sendable, CustomTestStringConvertible {
    let offers: [String]
    let answer: [String]
    var testDescription: String { "\(offers) → \(answer)" }
}

@Suite("permessage-deflate on a live socket")
struct DeflateTests {
    let port = deflateServer.port

    /// Reads the server's close frame and the TCP close.
    private func expectClose(_ client: TCPClient, _ code: UInt16, _ what: String,
                             sourceLocation: SourceLocation = #_sourceLocation) throws {
        let frame = try client.readFrame(timeoutMs: 2000)
        #expect(frame.opcode == Op.close && frame.rsv == 0, "\(what): \(frame)", sourceLocation: sourceLocation)
        #expect(frame.closeCode == code, "\(what): \(frame)", sourceLocation: sourceLocation)
        #expect(client.awaitClose(timeoutMs: 2000) == .eof(leftover: []), "\(what)", sourceLocation: sourceLocation)
    }

    // MARK: Negotiation

    @Test(arguments: [
        OfferCase(offers: [], answer: []),
        OfferCase(offers: ["permessage-deflate"], answer: [defaultAnswer]),
        OfferCase(offers: ["permessage-deflate; client_max_window_bits"], answer: [defaultAnswer]),
        OfferCase(offers: ["permessage-deflate; server_max_window_bits=10; client_max_window_bits=12"],
                  answer: [defaultAnswer + "; server_max_window_bits=10"]),
        OfferCase(offers: ["x-webkit-deflate-frame", "permessage-deflate; server_max_window_bits=8, permessage-deflate"],
                  answer: [defaultAnswer]),
        OfferCase(offers: ["permessage-deflate; server_max_window_bits=8"], answer: []),
        OfferCase(offers: ["permessage-deflate; no_such_parameter"], answer: []),
        OfferCase(offers: ["permessage-deflate; client_no_context_takeover; client_no_context_takeover"], answer: []),
        OfferCase(offers: ["permessage-deflate; server_max_window_bits=99"], answer: []),
        OfferCase(offers: ["x-webkit-deflate-frame"], answer: []),
    ])
    func answerToOffers(_ c: OfferCase) throws {
        let (client, answer) = try connect(port, offering: c.offers)
        #expect(answer == c.answer)
        // Negotiated or not, the connection works; an uncompressed message is always allowed.
        let message = jsonLike(1000)
        let echo = try client.roundTrip(WSFrame.build(Op.text, message))
        #expect(echo.payload.count > 0)
        if c.answer.isEmpty {
            #expect(echo.rsv == 0 && echo.wireBytes == WSFrame.expectedServerFrame(Op.text, message))
        } else {
            #expect(echo.rsv == 0x40)
            let inflater = Inflater()
            #expect(try inflater.inflate(echo.payload, limit: 1 << 20) == message)
        }
    }

    @Test func disabledServerNeverAnswersWithTheExtension() throws {
        let (client, answer) = try connect(disabledServer.port, offering: ["permessage-deflate"])
        #expect(answer.isEmpty)
        #expect(try client.roundTrip(WSFrame.text("plain")).payload == Array("plain".utf8))
        // And RSV1 is then a protocol error.
        try client.send(compressedFrame(Op.text, Array("Hello".utf8), with: Deflater()))
        try expectClose(client, 1002, "RSV1 on a server with deflate off")
    }

    // MARK: Compressed echo

    @Test(arguments: [Op.text, Op.binary])
    func compressedEchoRoundTrip(opcode: UInt8) throws {
        let (client, answer) = try connect(port, offering: ["permessage-deflate; client_max_window_bits"])
        #expect(answer == [defaultAnswer])
        let deflater = Deflater()
        let inflater = Inflater()
        for size in [256, 1000, 20_000, 64 << 10] {
            let message = opcode == Op.text ? jsonLike(size, seed: UInt8(size & 0x7F)) : patternBytes(size, seed: 9).map { $0 & 0x0F }
            let frame = compressedFrame(opcode, message, with: deflater)
            deflater.reset()   // we agreed to client_no_context_takeover
            #expect(frame.count < message.count)
            let echo = try client.roundTrip(frame)
            #expect(echo.opcode == opcode && echo.fin && echo.rsv == 0x40 && !echo.masked, "\(echo)")
            #expect(echo.payload.count < message.count)
            // server_no_context_takeover: each reply inflates on its own.
            #expect(try inflater.inflate(echo.payload, limit: 1 << 20) == message, "size \(size)")
            inflater.reset()
        }
    }

    @Test func compressedMessageInFragmentsWithControlFramesBetween() throws {
        let (client, _) = try connect(port, offering: ["permessage-deflate"])
        let message = jsonLike(5000)
        let compressed = Deflater().compress(message)
        let third = compressed.count / 3
        try client.send(WSFrame.build(Op.text, Array(compressed[..<third]), fin: false, rsv: 0x40)
            + WSFrame.build(Op.ping, Array("p".utf8))
            + WSFrame.build(Op.continuation, Array(compressed[third..<(2 * third)]), fin: false)
            + WSFrame.build(Op.continuation, Array(compressed[(2 * third)...]), fin: true))
        let pong = try client.readFrame()
        #expect(pong.opcode == Op.pong && pong.payload == Array("p".utf8))
        let echo = try client.readFrame()
        #expect(echo.rsv == 0x40 && echo.fin)
        #expect(try Inflater().inflate(echo.payload, limit: 1 << 20) == message)
    }

    @Test func smallMessagesGoOutUncompressed() throws {
        let (client, _) = try connect(port, offering: ["permessage-deflate"])
        // A compressed "Hello" (the RFC bytes) comes back as plain "Hello": below 256 bytes.
        let echo = try client.roundTrip(WSFrame.build(Op.text, [0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00], rsv: 0x40))
        #expect(echo.wireBytes == WSFrame.expectedServerFrame(Op.text, Array("Hello".utf8)))
        let just = jsonLike(255)
        #expect(try client.roundTrip(compressedFrame(Op.text, just, with: Deflater())).wireBytes
                == WSFrame.expectedServerFrame(Op.text, just))
        // An empty compressed message (one 0x00 byte) is an empty message.
        #expect(try client.roundTrip(WSFrame.build(Op.binary, [0x00], rsv: 0x40)).wireBytes
                == WSFrame.expectedServerFrame(Op.binary, []))
    }

    @Test func incompressibleReplyGoesOutAsItIs() throws {
        // Without context takeover the server may send any message uncompressed; it does when
        // compressing would not make it smaller.
        let (client, _) = try connect(port, offering: ["permessage-deflate"])
        var rng = SystemRandomNumberGenerator()
        let random = (0..<2000).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let echo = try client.roundTrip(compressedFrame(Op.binary, random, with: Deflater()))
        #expect(echo.wireBytes == WSFrame.expectedServerFrame(Op.binary, random))
    }

    @Test func connectionsSharingALoopDoNotMixTheirStreams() throws {
        // Many connections on 2 loops share each loop's zlib streams; interleave them.
        let clients = try (0..<6).map { _ in try connect(port, offering: ["permessage-deflate"]).0 }
        let deflater = Deflater()
        for round in 0..<3 {
            for (i, client) in clients.enumerated() {
                let message = jsonLike(3000 + i * 100, seed: UInt8(round * 10 + i))
                try client.send(compressedFrame(Op.text, message, with: deflater))
                deflater.reset()
            }
            for (i, client) in clients.enumerated() {
                let echo = try client.readFrame()
                #expect(try Inflater().inflate(echo.payload, limit: 1 << 20) == jsonLike(3000 + i * 100, seed: UInt8(round * 10 + i)))
            }
        }
    }

    @Test func contextTakeoverKeepsEachConnectionsHistory() throws {
        let (client, answer) = try connect(takeoverServer.port, offering: ["permessage-deflate"])
        #expect(answer == ["permessage-deflate"])
        let (other, _) = try connect(takeoverServer.port, offering: ["permessage-deflate"])
        // Our stream and the server's both carry history: the second "Hello" is the RFC's
        // back-reference, and the server's second reply must refer back as well.
        let deflater = Deflater()
        let inflater = Inflater()
        let otherDeflater = Deflater()
        for _ in 0..<3 {
            let echo = try client.roundTrip(compressedFrame(Op.text, Array("Hello".utf8), with: deflater))
            #expect(echo.rsv == 0x40)
            #expect(try inflater.inflate(echo.payload, limit: 1 << 10) == Array("Hello".utf8))
            // Another connection in between must not disturb either history.
            let otherEcho = try other.roundTrip(compressedFrame(Op.text, Array("other".utf8), with: otherDeflater))
            #expect(otherEcho.rsv == 0x40)
        }
        let later = try client.roundTrip(compressedFrame(Op.text, Array("Hello".utf8), with: deflater))
        // Alone, "Hello" compresses to 7 bytes; as a back-reference into the history, to 4 or 5.
        #expect(later.payload.count <= 5, "a back-reference into the previous replies: \(later.payload)")
        #expect(try inflater.inflate(later.payload, limit: 1 << 10) == Array("Hello".utf8))
    }

    // MARK: Violations

    @Test func inflatingPastTheMessageLimitCloses1009() throws {
        let (client, _) = try connect(port, offering: ["permessage-deflate"])
        // 1 MB of zeros compresses to about 1 KB; the limit is 64 KiB.
        let bomb = compressedFrame(Op.binary, [UInt8](repeating: 0, count: 1_000_000), with: Deflater())
        #expect(bomb.count < 4096)
        try client.send(bomb)
        try expectClose(client, 1009, "compressed bomb")
    }

    @Test func exactlyTheLimitInflatedIsFine() throws {
        let (client, _) = try connect(port, offering: ["permessage-deflate"])
        let message = [UInt8](repeating: 0x41, count: 64 << 10)
        let echo = try client.roundTrip(compressedFrame(Op.binary, message, with: Deflater()))
        #expect(try Inflater().inflate(echo.payload, limit: 64 << 10) == message)
    }

    @Test func rsv1WithoutNegotiationCloses1002() throws {
        let (client, answer) = try connect(port, offering: [])
        #expect(answer.isEmpty)
        try client.send(compressedFrame(Op.text, Array("Hello".utf8), with: Deflater()))
        try expectClose(client, 1002, "RSV1 without negotiation")
    }

    @Test func rsv1OnAContinuationOrControlFrameCloses1002() throws {
        let (client, _) = try connect(port, offering: ["permessage-deflate"])
        try client.send(WSFrame.build(Op.text, [0xF2, 0x48], fin: false, rsv: 0x40)
            + WSFrame.build(Op.continuation, [0xCD, 0xC9, 0xC9, 0x07, 0x00], rsv: 0x40))
        try expectClose(client, 1002, "RSV1 on a continuation")
        let (second, _) = try connect(port, offering: ["permessage-deflate"])
        try second.send(WSFrame.build(Op.ping, [0x00], rsv: 0x40))
        try expectClose(second, 1002, "RSV1 on a ping")
    }

    @Test func invalidDeflateDataCloses1007() throws {
        let (client, _) = try connect(port, offering: ["permessage-deflate"])
        #expect(try client.roundTrip(WSFrame.text("still fine")).payload == Array("still fine".utf8))
        try client.send(WSFrame.build(Op.binary, [0xFF, 0xFF, 0xFF, 0xFF], rsv: 0x40))
        try expectClose(client, 1007, "reserved block type")
    }

    @Test func compressedInvalidUTF8Closes1007() throws {
        let (client, _) = try connect(port, offering: ["permessage-deflate"])
        try client.send(compressedFrame(Op.text, Array("valid start ".utf8) + [0xC3, 0x28] + Array(" and more".utf8), with: Deflater()))
        try expectClose(client, 1007, "invalid UTF-8 after inflating")
    }

    @Test func compressedTextEndingInsideACharacterCloses1007() throws {
        let (client, _) = try connect(port, offering: ["permessage-deflate"])
        try client.send(compressedFrame(Op.text, Array("euro ".utf8) + [0xE2, 0x82], with: Deflater()))
        try expectClose(client, 1007, "truncated code point")
    }
}

extension Inflater {
    /// One whole message as an array (tests only).
    func inflate(_ payload: [UInt8], limit: Int) throws -> [UInt8] {
        let result = payload.withUnsafeBytes { p in
            Result { () throws(InflateError) -> [UInt8] in try inflate(p, limit: limit) { Array($0) } }
        }
        return try result.get()
    }
}

import Testing
@testable import WebSocketProtocol

/// Byte-exact vectors from RFC 6455 and the encoder's wire format.
@Suite("Golden vectors")
struct GoldenVectorTests {
    @Test func acceptValueFromRFC6455Section1_3() {
        #expect(UpgradeHandshake.acceptValue(forKey: "dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    }

    @Test func maskedHelloDecodesToEventsAndUnmasksInPlace() {
        var bytes: [UInt8] = [0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58]
        var decoder = FrameDecoder(maxFrameSize: 1024)
        let r = decodeEvents(&bytes, &decoder)
        #expect(r.events == [.header(FrameHeader(fin: true, opcode: .text, payloadLength: 5, maskKey: 0x3D21_FA37)),
                             .payload(6..<11, isLast: true)])
        #expect(r.end == 11 && r.error == nil)
        #expect(decoder.isAtFrameBoundary)
        #expect(Array(bytes[6...]) == Array("Hello".utf8))
    }

    @Test func zeroLengthFrameYieldsOneEmptyLastRange() {
        var bytes = clientFrame(0x9, [])
        var decoder = FrameDecoder(maxFrameSize: 1024)
        let r = decodeEvents(&bytes, &decoder)
        #expect(r.events == [.header(FrameHeader(fin: true, opcode: .ping, payloadLength: 0, maskKey: 0x3D21_FA37)),
                             .payload(6..<6, isLast: true)])
    }

    @Test func payloadSplitAcrossReadsKeepsMaskPhase() {
        // "Hello" arriving 1 + 3 + 1 payload bytes at a time.
        let frame: [UInt8] = [0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58]
        var decoder = FrameDecoder(maxFrameSize: 1024)
        var a = Array(frame[..<7]), b = Array(frame[7..<10]), c = Array(frame[10...])
        let ra = decodeEvents(&a, &decoder), rb = decodeEvents(&b, &decoder), rc = decodeEvents(&c, &decoder)
        #expect(ra.events.count == 2 && ra.events.last == .payload(6..<7, isLast: false))
        #expect(rb.events == [.payload(0..<3, isLast: false)])
        #expect(rc.events == [.payload(0..<1, isLast: true)])
        #expect(Array(a[6...]) + b + c == Array("Hello".utf8))
    }

    @Test func maskHelperReproducesRFCBytes() {
        #expect(clientFrame(0x1, Array("Hello".utf8)) == [0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58])
        // §5.7 fragmented "Hel" + "lo", masked with the same key.
        #expect(text("Hel", fin: false) == [0x01, 0x83, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D])
        #expect(cont("lo") == [0x80, 0x82, 0x37, 0xFA, 0x21, 0x3D, 0x5B, 0x95])
        // §5.7 masked pong "Hello".
        #expect(pong(Array("Hello".utf8)) == [0x8A, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58])
    }

    @Test func encoderUnmaskedFrames() {
        let hello = Array("Hello".utf8)
        #expect(FrameEncoder.frame(.text, payload: hello) == [0x81, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F])
        #expect(FrameEncoder.frame(.text, fin: false, payload: Array("Hel".utf8)) == [0x01, 0x03, 0x48, 0x65, 0x6C])
        #expect(FrameEncoder.frame(.continuation, payload: Array("lo".utf8)) == [0x80, 0x02, 0x6C, 0x6F])
        #expect(FrameEncoder.frame(.ping, payload: hello) == [0x89, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F])
        #expect(FrameEncoder.frame(.pong, payload: hello) == [0x8A, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F])
        #expect(FrameEncoder.frame(.ping, payload: []) == [0x89, 0x00])
        #expect(FrameEncoder.frame(.binary, rsv1: true, payload: [0]) == [0xC2, 0x01, 0x00])
    }

    @Test func encoderLengthForms() {
        let p125 = [UInt8](repeating: 1, count: 125), p126 = [UInt8](repeating: 2, count: 126)
        let p256 = [UInt8](repeating: 3, count: 256), p65535 = [UInt8](repeating: 4, count: 0xFFFF)
        let p64k = [UInt8](repeating: 5, count: 0x10000)
        #expect(Array(FrameEncoder.frame(.binary, payload: p125).prefix(2)) == [0x82, 0x7D])
        #expect(Array(FrameEncoder.frame(.binary, payload: p126).prefix(4)) == [0x82, 0x7E, 0x00, 0x7E])
        #expect(Array(FrameEncoder.frame(.binary, payload: p256).prefix(4)) == [0x82, 0x7E, 0x01, 0x00])
        #expect(Array(FrameEncoder.frame(.binary, payload: p65535).prefix(4)) == [0x82, 0x7E, 0xFF, 0xFF])
        let big = FrameEncoder.frame(.binary, payload: p64k)
        #expect(Array(big.prefix(10)) == [0x82, 0x7F, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00])
        #expect(big.count == 10 + 0x10000 && Array(big[10...]) == p64k)
        #expect(FrameEncoder.frame(.binary, payload: p256).count == 4 + 256)
        for (n, h) in [(0, 2), (125, 2), (126, 4), (0xFFFF, 4), (0x10000, 10), (Int(UInt32.max) + 1, 10)] {
            #expect(FrameEncoder.headerLength(payloadLength: n) == h, "payload \(n)")
        }
    }

    @Test func encoderHeaderForHugeLengthWritesAllEightBytes() {
        var out = [UInt8](repeating: 0xEE, count: FrameEncoder.maxHeaderLength)
        let n = out.withUnsafeMutableBytes {
            FrameEncoder.writeHeader(opcode: .binary, payloadLength: 0x0102_0304_0506, to: $0.baseAddress!)
        }
        #expect(n == 10)
        #expect(out == [0x82, 0x7F, 0x00, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06])
    }

    @Test func closeFrameGoldens() {
        #expect(FrameEncoder.closeFrame(.messageTooBig) == [0x88, 0x02, 0x03, 0xF1])
        #expect(FrameEncoder.closeFrame(.protocolError) == [0x88, 0x02, 0x03, 0xEA])
        #expect(FrameEncoder.closeFrame(.normal, reason: "ok") == [0x88, 0x04, 0x03, 0xE8, 0x6F, 0x6B])
    }

    @Test func closeFrameReasonCutOnUTF8BoundaryWithin125Bytes() {
        // 100 × "é" is 200 bytes; 123 would split a scalar, so 122 bytes of reason remain.
        let frame = FrameEncoder.closeFrame(.goingAway, reason: String(repeating: "é", count: 100))
        #expect(frame[1] == 124)
        #expect(frame.count == 2 + 124)
        #expect(Array(frame[2..<4]) == [0x03, 0xE9])
        #expect(UTF8Validator.isValid(Array(frame[4...])))
        // ASCII is cut at exactly 123.
        #expect(FrameEncoder.closeFrame(.normal, reason: String(repeating: "a", count: 500))[1] == 125)
    }

    @Test func encoderOutputReadBackThroughTheAssembler() throws {
        // Server frames are unmasked; masking them with a key turns them into valid client frames.
        for payload in [[], Array("Hello".utf8), [UInt8](repeating: 9, count: 300), [UInt8](repeating: 8, count: 70000)] {
            var frame = FrameEncoder.frame(.binary, payload: payload)
            let h = FrameEncoder.headerLength(payloadLength: payload.count)
            frame[1] |= 0x80
            frame.insert(contentsOf: rfcKey, at: h)
            frame.replaceSubrange((h + 4)..., with: masked(payload, key: rfcKey))
            #expect(feed([frame[...]], maxMessageSize: 1 << 20).messages == [.binary(payload)])
        }
    }
}

import Testing
@testable import WebSocketProtocol

/// Valid streams: each must decode identically however it is chunked, alone and concatenated.
@Suite("Assembler fed every way")
struct FeedEveryWayTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var bytes: [UInt8]
        var messages: [Msg]
        var testDescription: String { name }
    }

    static let utf8Sample = "héllo €uro 😀 ⽇本"

    static let cases: [Case] = {
        var rng = SeededRNG(seed: 42)
        let b125 = rng.bytes(125), b126 = rng.bytes(126), b127 = rng.bytes(127), b300 = rng.bytes(300)
        let s = Array(utf8Sample.utf8)
        return [
            Case(name: "RFC 6455 §5.7 masked Hello", bytes: [0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58],
                 messages: [.text("Hello")]),
            Case(name: "empty text", bytes: text(""), messages: [.text([])]),
            Case(name: "empty binary", bytes: binary([]), messages: [.binary([])]),
            Case(name: "binary 125", bytes: binary(b125), messages: [.binary(b125)]),
            Case(name: "binary 126 (16-bit length)", bytes: binary(b126), messages: [.binary(b126)]),
            Case(name: "binary 127", bytes: binary(b127), messages: [.binary(b127)]),
            Case(name: "binary 300, zero mask key", bytes: clientFrame(0x2, b300, key: [0, 0, 0, 0]), messages: [.binary(b300)]),
            Case(name: "multi-byte UTF-8 text", bytes: text(utf8Sample), messages: [.text(utf8Sample)]),
            Case(name: "fragmented Hel+lo", bytes: text("Hel", fin: false) + cont("lo"), messages: [.text("Hello")]),
            Case(name: "fragmented binary, empty middle fragments",
                 bytes: binary([1, 2], fin: false) + cont([], fin: false) + cont([3], fin: false) + cont([]),
                 messages: [.binary([1, 2, 3])]),
            Case(name: "empty first fragment", bytes: text("", fin: false) + cont("x"), messages: [.text("x")]),
            Case(name: "UTF-8 split inside code points across fragments",
                 bytes: clientFrame(0x1, fin: false, Array(s[0..<2])) + cont(Array(s[2..<12]), fin: false)
                     + cont(Array(s[12..<13]), fin: false) + cont(Array(s[13...])),
                 messages: [.text(utf8Sample)]),
            Case(name: "4-byte scalar one byte per fragment",
                 bytes: clientFrame(0x1, fin: false, [0xF0]) + cont([0x9F], fin: false) + cont([0x98], fin: false) + cont([0x80]),
                 messages: [.text("😀")]),
            Case(name: "control frames between fragments",
                 bytes: text("Hel", fin: false) + ping([1]) + pong([2]) + cont("l", fin: false) + ping() + cont("o"),
                 messages: [.ping([1]), .pong([2]), .ping([]), .text("Hello")]),
            Case(name: "ping 125 bytes", bytes: ping(b125), messages: [.ping(b125)]),
            Case(name: "pong empty", bytes: pong(), messages: [.pong([])]),
            Case(name: "close with code and reason", bytes: close(1000, Array("bye ✓".utf8)), messages: [.close(1000, "bye ✓")]),
            Case(name: "close without status", bytes: close(nil), messages: [.close(nil, "")]),
            Case(name: "close 4999 empty reason", bytes: close(4999), messages: [.close(4999, "")]),
            Case(name: "different mask keys per frame",
                 bytes: clientFrame(0x1, fin: false, Array("abc".utf8), key: [1, 2, 3, 4])
                     + clientFrame(0x0, Array("defgh".utf8), key: [0xFF, 0x00, 0x80, 0x7F]),
                 messages: [.text("abcdefgh")]),
        ]
    }()

    @Test(arguments: cases)
    func singleCase(_ c: Case) {
        verifyEveryWay(c.bytes, .messages(c.messages))
    }

    @Test func allCasesConcatenated() {
        let (bytes, messages) = concatenated(Self.cases.map { ($0.bytes, $0.messages) })
        verifyEveryWay(bytes, .messages(messages), randomSplits: 100)
    }

    @Test func concatenatedThenViolation() {
        // Messages before the bad frame are all delivered, then the violation, in every split.
        let good = Self.cases.prefix(8)
        let bytes = good.flatMap(\.bytes) + text("a", fin: false) + text("b")
        verifyEveryWay(bytes, .violation(.expectedContinuation, after: good.flatMap(\.messages)))
    }

    @Test func largeFramesSixteenAndSixtyFourBitLengths() {
        var rng = SeededRNG(seed: 7)
        let b65535 = rng.bytes(0xFFFF), b65536 = rng.bytes(0x10000)
        verifyEveryWay(binary(b65535), .messages(.binary(b65535)), randomSplits: 10)
        verifyEveryWay(binary(b65536) + text("after"), .messages(.binary(b65536), .text("after")), randomSplits: 10)
        // The same message, fragmented with a ping in the middle.
        let fragmented = binary(Array(b65536[..<40000]), fin: false) + ping([9]) + cont(Array(b65536[40000...]))
        verifyEveryWay(fragmented, .messages(.ping([9]), .binary(b65536)), randomSplits: 10)
    }

    @Test func messageExactlyAtTheLimit() {
        let limit = 300
        verifyEveryWay(binary([UInt8](repeating: 7, count: limit)), .messages(.binary([UInt8](repeating: 7, count: limit))),
                       maxMessageSize: limit)
        verifyEveryWay(binary([1], fin: false) + cont([UInt8](repeating: 2, count: limit - 1)),
                       .messages(.binary([1] + [UInt8](repeating: 2, count: limit - 1))), maxMessageSize: limit)
    }

    @Test func rsv1PassesTheDecoderOnlyWhenNegotiated() {
        // With permessage-deflate negotiated RSV1 may start a data message; the header says so.
        var bytes = clientFrame(0x2, rsv: 0x40, [1, 2, 3])
        var decoder = FrameDecoder(maxFrameSize: 1024)
        decoder.allowsRSV1 = true
        let r = decodeEvents(&bytes, &decoder)
        #expect(r.error == nil)
        #expect(r.events.first == .header(FrameHeader(fin: true, rsv1: true, opcode: .binary, payloadLength: 3, maskKey: 0x3D21_FA37)))
        verifyEveryWay(clientFrame(0x2, rsv: 0x40, [1, 2, 3]), .violation(.reservedBitsSet))
    }

    /// RFC 7692 §7.2.3.1: "Hello" compressed is `f2 48 cd c9 c9 07 00`, sent with RSV1 on a text
    /// frame. With `allowsRSV1` (documented as "set when permessage-deflate is negotiated") the
    /// assembler must not check UTF-8 on the *compressed* bytes: that can only be done after
    /// inflating. Today it does, and refuses a valid compressed message with 1007.
    @Test func compressedTextIsNotValidatedAsUTF8BeforeInflation() {
        let deflatedHello: [UInt8] = [0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00]
        let r = feed([clientFrame(0x1, rsv: 0x40, deflatedHello)[...]], maxMessageSize: 1024, allowsRSV1: true)
        #expect(r.violation == nil, "a valid permessage-deflate text message was refused")
        #expect(r.messages.count == 1)
    }

    @Test func singleFrameMessageArrivingWholeIsInPlace() {
        var bytes = text("Hello") + binary([1, 2, 3])
        var assembler = MessageAssembler(maxMessageSize: 1024)
        let r = assembleRaw(&bytes, &assembler)
        #expect(r.messages == [.text(.inPlace(6..<11)), .binary(.inPlace(17..<20))])
        #expect(r.end == bytes.count && r.error == nil)
        // Unmasked in place.
        #expect(Array(bytes[6..<11]) == Array("Hello".utf8))
        #expect(Array(bytes[17..<20]) == [1, 2, 3])
    }

    @Test func partialFrameIsAssembled() {
        let frame = text("Hello")
        var assembler = MessageAssembler(maxMessageSize: 1024)
        var first = Array(frame[..<8]), second = Array(frame[8...])
        let r1 = assembleRaw(&first, &assembler)
        #expect(r1.messages.isEmpty && r1.end == 8 && r1.error == nil)
        #expect(!assembler.isIdle)
        let r2 = assembleRaw(&second, &assembler)
        #expect(r2.messages == [.text(.assembled(Array("Hello".utf8)))] && r2.end == 3 && r2.error == nil)
        #expect(assembler.isIdle)
    }
}

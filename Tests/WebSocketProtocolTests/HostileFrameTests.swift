import Testing
@testable import WebSocketProtocol

/// Malformed and hostile client input: each must be refused with the right violation and close
/// code, in every chunking, and as early as the bytes allow.
@Suite("Hostile frames")
struct HostileFrameTests {
    @Test func sixtyFourBitLengthWithMostSignificantBitSet() {
        let bytes: [UInt8] = [0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1] + rfcKey
        verifyEveryWay(bytes, .violation(.lengthOverflow))
        #expect(ProtocolViolation.lengthOverflow.closeCode == .protocolError)
        #expect(ProtocolViolation.lengthOverflow.closeCode.rawValue == 1002)
        // Every value with the top bit set, not just the smallest.
        verifyEveryWay([0x82, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF] + rfcKey, .violation(.lengthOverflow))
    }

    @Test(arguments: [
        (UInt64(1025), LengthForm.sixteen),
        (UInt64(0xFFFF), LengthForm.sixteen),
        (UInt64(0x10000), LengthForm.sixtyFour),
        (UInt64(1) << 40, LengthForm.sixtyFour),
        (UInt64(Int64.max), LengthForm.sixtyFour),
    ])
    func declaredLengthOverLimitRefusedFromHeaderAlone(length: UInt64, form: LengthForm) {
        // Only the header is fed: the refusal must not wait for payload.
        let header = headerOnly(0x82, declaring: length, form: form)
        verifyEveryWay(header, .violation(.frameTooLarge(declared: length)), maxMessageSize: 1024)
        #expect(ProtocolViolation.frameTooLarge(declared: length).closeCode.rawValue == 1009)
    }

    @Test func smallLimitAppliesToSevenBitLengthsToo() {
        verifyEveryWay(headerOnly(0x81, declaring: 11, form: .minimal), .violation(.frameTooLarge(declared: 11)), maxMessageSize: 10)
        verifyEveryWay(text("0123456789"), .messages(.text("0123456789")), maxMessageSize: 10)
    }

    @Test func unmaskedFrame() {
        verifyEveryWay([0x81, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F], .violation(.unmaskedFrame))
        verifyEveryWay(clientFrame(0x9, [], key: nil), .violation(.unmaskedFrame))
        // Refused after two bytes, whatever follows.
        verifyEveryWay([0x82, 0x7F], .violation(.unmaskedFrame))
        #expect(ProtocolViolation.unmaskedFrame.closeCode.rawValue == 1002)
    }

    @Test(arguments: [UInt8(0x40), 0x20, 0x10, 0x60, 0x70])
    func reservedBits(rsv: UInt8) {
        verifyEveryWay(clientFrame(0x1, rsv: rsv, Array("x".utf8)), .violation(.reservedBitsSet))
        #expect(ProtocolViolation.reservedBitsSet.closeCode.rawValue == 1002)
    }

    @Test func rsv1NeverValidOnContinuationOrControlEvenWhenNegotiated() {
        verifyEveryWay(clientFrame(0x2, fin: false, rsv: 0x40, [1]) + clientFrame(0x0, rsv: 0x40, [2]),
                       .violation(.reservedBitsSet), allowsRSV1: true)
        verifyEveryWay(clientFrame(0x9, rsv: 0x40, []), .violation(.reservedBitsSet), allowsRSV1: true)
        verifyEveryWay(clientFrame(0x2, rsv: 0x20, []), .violation(.reservedBitsSet), allowsRSV1: true)
    }

    @Test(arguments: [UInt8(3), 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF])
    func reservedOpcodes(op: UInt8) {
        verifyEveryWay(clientFrame(op, [1, 2]), .violation(.unknownOpcode(op)))
        verifyEveryWay(clientFrame(op, fin: false, []), .violation(.unknownOpcode(op)))
        #expect(ProtocolViolation.unknownOpcode(op).closeCode.rawValue == 1002)
    }

    @Test(arguments: [UInt8(0x8), 0x9, 0xA])
    func fragmentedControlFrame(op: UInt8) {
        verifyEveryWay(clientFrame(op, fin: false, []), .violation(.fragmentedControlFrame))
        // Also in the middle of a fragmented data message.
        verifyEveryWay(text("a", fin: false) + clientFrame(op, fin: false, [0x03, 0xE8]), .violation(.fragmentedControlFrame))
        #expect(ProtocolViolation.fragmentedControlFrame.closeCode.rawValue == 1002)
    }

    @Test(arguments: [UInt8(0x8), 0x9, 0xA])
    func controlFrameWithExtendedLength(op: UInt8) {
        // 126 bytes needs the 16-bit form, which control frames may not use.
        verifyEveryWay(headerOnly(0x80 | op, declaring: 126, form: .sixteen), .violation(.controlFrameTooLong))
        verifyEveryWay(headerOnly(0x80 | op, declaring: 0x10000, form: .sixtyFour), .violation(.controlFrameTooLong))
        // Even a small length spelled with the 16-bit form.
        verifyEveryWay(clientFrame(op, [0x03, 0xE8], length: .sixteen), .violation(.controlFrameTooLong))
        #expect(ProtocolViolation.controlFrameTooLong.closeCode.rawValue == 1002)
    }

    @Test func continuationWithoutStart() {
        verifyEveryWay(cont("x"), .violation(.unexpectedContinuation))
        verifyEveryWay(cont("x", fin: false), .violation(.unexpectedContinuation))
        // After a complete message there is nothing to continue either.
        verifyEveryWay(text("a") + cont("b"), .violation(.unexpectedContinuation, after: [.text("a")]))
        verifyEveryWay(text("a", fin: false) + cont("b") + cont("c"), .violation(.unexpectedContinuation, after: [.text("ab")]))
        #expect(ProtocolViolation.unexpectedContinuation.closeCode.rawValue == 1002)
    }

    @Test func newDataFrameWhileFragmentedMessageInProgress() {
        verifyEveryWay(text("Hel", fin: false) + text("lo"), .violation(.expectedContinuation))
        verifyEveryWay(text("Hel", fin: false) + binary([1]), .violation(.expectedContinuation))
        verifyEveryWay(binary([1], fin: false) + ping() + binary([2], fin: false), .violation(.expectedContinuation, after: [.ping([])]))
        #expect(ProtocolViolation.expectedContinuation.closeCode.rawValue == 1002)
    }

    @Test(arguments: [
        (UInt64(0), LengthForm.sixteen), (UInt64(5), .sixteen), (UInt64(125), .sixteen),
        (UInt64(0), .sixtyFour), (UInt64(125), .sixtyFour), (UInt64(126), .sixtyFour), (UInt64(0xFFFF), .sixtyFour),
    ])
    func nonMinimalLengthEncoding(length: UInt64, form: LengthForm) {
        verifyEveryWay(headerOnly(0x82, declaring: length, form: form), .violation(.nonMinimalLength))
        #expect(ProtocolViolation.nonMinimalLength.closeCode.rawValue == 1002)
    }

    @Test func minimalBoundariesAccepted() {
        let p126 = [UInt8](repeating: 0x61, count: 126), p64k = [UInt8](repeating: 0x62, count: 0x10000)
        verifyEveryWay(clientFrame(0x2, p126, length: .sixteen), .messages(.binary(p126)))
        verifyEveryWay(clientFrame(0x2, p64k, length: .sixtyFour), .messages(.binary(p64k)), randomSplits: 5)
    }

    @Test func messageTotalOverLimitAcrossFragments() {
        // Each fragment fits; the sum does not. Refused at the header of the fragment that overflows.
        let limit = 100
        let a = [UInt8](repeating: 1, count: 60), b = [UInt8](repeating: 2, count: 41)
        verifyEveryWay(binary(a, fin: false) + headerOnly(0x80, declaring: 41, form: .minimal),
                       .violation(.messageTooLarge), maxMessageSize: limit)
        verifyEveryWay(binary(a, fin: false) + ping() + cont(b), .violation(.messageTooLarge, after: [.ping([])]), maxMessageSize: limit)
        verifyEveryWay(binary(a, fin: false) + cont([UInt8](repeating: 2, count: 40)),
                       .messages(.binary(a + [UInt8](repeating: 2, count: 40))), maxMessageSize: limit)
        // Many small fragments add up too.
        var many = text("", fin: false)
        for _ in 0..<limit { many += cont("x", fin: false) }
        many += cont("y")
        verifyEveryWay(many, .violation(.messageTooLarge), maxMessageSize: limit, randomSplits: 5)
        #expect(ProtocolViolation.messageTooLarge.closeCode.rawValue == 1009)
    }

    @Test func limitResetsBetweenMessages() {
        let limit = 100
        let a = [UInt8](repeating: 1, count: 70)
        let stream = binary(a, fin: false) + cont(Array(a[..<30])) + binary(a, fin: false) + cont(Array(a[..<30]))
        verifyEveryWay(stream, .messages(.binary(a + a[..<30]), .binary(a + a[..<30])), maxMessageSize: limit)
    }

    @Test func controlFramesInterleavedKeepOrderAndMessageAssembles() {
        let stream = text("Hel", fin: false) + ping(Array("p1".utf8)) + cont("l", fin: false) + pong(Array("p2".utf8))
            + close(1000, Array("late".utf8)) + cont("o") + ping()
        verifyEveryWay(stream, .messages(.ping(Array("p1".utf8)), .pong(Array("p2".utf8)), .close(1000, "late"), .text("Hello"), .ping([])))
    }

    @Test func invalidUTF8FailsBeforeThePayloadIsComplete() {
        // The frame declares 100 bytes; only "ab" plus an invalid byte have arrived.
        var partial = headerOnly(0x81, declaring: 100, form: .minimal)
        partial += masked(Array("ab".utf8) + [0xC0], key: rfcKey)
        verifyEveryWay(partial, .violation(.invalidUTF8))
        #expect(ProtocolViolation.invalidUTF8.closeCode.rawValue == 1007)
        // Same when the bad byte is in a later fragment still being received.
        var fragmented = text("ok", fin: false)
        fragmented += headerOnly(0x80, declaring: 50, form: .minimal) + masked([0xED, 0xA0], key: rfcKey)
        verifyEveryWay(fragmented, .violation(.invalidUTF8))
        // A surrogate in a 16-bit-length frame, refused before its 200 bytes arrive.
        verifyEveryWay(headerOnly(0x81, declaring: 200, form: .sixteen) + masked([0x41, 0xED, 0xA0, 0x80], key: rfcKey),
                       .violation(.invalidUTF8))
    }

    @Test func truncatedUTF8AtEndOfMessage() {
        verifyEveryWay(clientFrame(0x1, [0x41, 0xE2, 0x82]), .violation(.invalidUTF8))
        verifyEveryWay(text("a", fin: false) + cont([0xF0, 0x9F, 0x98]), .violation(.invalidUTF8))
    }

    @Test func binaryIsNotValidatedAsUTF8() {
        verifyEveryWay(binary([0xFF, 0xC0, 0x80]), .messages(.binary([0xFF, 0xC0, 0x80])))
    }

    @Test func pingPayloadIsNotValidatedAsUTF8() {
        verifyEveryWay(ping([0xFF, 0xFE]), .messages(.ping([0xFF, 0xFE])))
    }

    @Test func closePayloadOfOneByte() {
        verifyEveryWay(clientFrame(0x8, [0x03]), .violation(.invalidClosePayload))
        #expect(ProtocolViolation.invalidClosePayload.closeCode.rawValue == 1002)
    }

    @Test(arguments: [UInt16(0), 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535])
    func invalidCloseCodes(code: UInt16) {
        verifyEveryWay(close(code), .violation(.invalidCloseCode(code)))
        verifyEveryWay(close(code, Array("why".utf8)), .violation(.invalidCloseCode(code)))
        #expect(ProtocolViolation.invalidCloseCode(code).closeCode.rawValue == 1002)
        #expect(!CloseCode.isValidOnWire(code))
    }

    @Test(arguments: [UInt16(1000), 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999])
    func validCloseCodes(code: UInt16) {
        verifyEveryWay(close(code), .messages(.close(code, "")))
        verifyEveryWay(close(code, Array("reason ✓".utf8)), .messages(.close(code, "reason ✓")))
        #expect(CloseCode.isValidOnWire(code))
    }

    @Test func closeReasonWithInvalidUTF8() {
        verifyEveryWay(close(1000, [0x61, 0xFF]), .violation(.invalidUTF8))
        verifyEveryWay(close(1000, [0xE2, 0x82]), .violation(.invalidUTF8))
        verifyEveryWay(close(1000, [0xED, 0xBF, 0xBF]), .violation(.invalidUTF8))
    }

    @Test func emptyCloseHasNoCode() throws {
        verifyEveryWay(close(nil), .messages(.close(nil, "")))
        #expect(try MessageAssembler.parseClose([]) == .close(code: nil, reason: ""))
        #expect(try MessageAssembler.parseClose([0x03, 0xE8]) == .close(code: .normal, reason: ""))
    }

    @Test func closeOfMaximumControlLength() {
        let reason = String(repeating: "r", count: 123)
        verifyEveryWay(close(1001, Array(reason.utf8)), .messages(.close(1001, reason)))
    }

    @Test func errorAfterValidMessagesInSameChunk() {
        verifyEveryWay(text("a") + binary([1]) + [0x81, 0x01, 0x61], .violation(.unmaskedFrame, after: [.text("a"), .binary([1])]))
    }

    @Test func controlFramesAreNotBoundByASmallMessageLimit() {
        // A legal 125-byte ping must pass even when messages are limited to 100 bytes.
        let payload = [UInt8](repeating: 0x70, count: 125)
        let r = feed([clientFrame(0x9, payload)[...]], maxMessageSize: 100)
        #expect(r.violation == nil)
        #expect(r.messages == [.ping(payload)])
        let big = feed([clientFrame(0x2, [UInt8](repeating: 1, count: 101))[...]], maxMessageSize: 100)
        #expect(big.violation?.closeCode == .messageTooBig)
    }

    @Test func raisingTheMessageLimitLaterAppliesToFrames() {
        var assembler = MessageAssembler(maxMessageSize: 10)
        assembler.maxMessageSize = 1000
        var bytes = clientFrame(0x2, [UInt8](repeating: 7, count: 500))
        let r = assembleRaw(&bytes, &assembler)
        #expect(r.error == nil)
        #expect(r.messages.count == 1)
    }

    @Test func compressedFlagIsReportedPerMessage() throws {
        var assembler = MessageAssembler(maxMessageSize: 1000)
        assembler.decoder.allowsRSV1 = true
        var first = clientFrame(0x1, rsv: 0x40, [0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00])
        var index = 0
        let m1 = try first.withUnsafeMutableBytes { try assembler.next($0, &index) }
        #expect(m1 != nil && assembler.messageIsCompressed)
        var second = clientFrame(0x1, Array("plain".utf8))
        index = 0
        let m2 = try second.withUnsafeMutableBytes { try assembler.next($0, &index) }
        #expect(m2 != nil && !assembler.messageIsCompressed)
    }
}

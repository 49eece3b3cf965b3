import Testing
@testable import WebSocketProtocol

@Suite("Masking")
struct MaskingTests {
    static let keys: [[UInt8]] = [[0x37, 0xFA, 0x21, 0x3D], [0, 0, 0, 0], [0xFF, 0xFF, 0xFF, 0xFF], [0x01, 0x80, 0x7F, 0xFE]]

    static func keyValue(_ k: [UInt8]) -> UInt32 {
        UInt32(k[0]) | UInt32(k[1]) << 8 | UInt32(k[2]) << 16 | UInt32(k[3]) << 24
    }

    /// Runs `unmask` on `bytes` placed at `offset` in a guarded buffer; checks the guards.
    static func unmaskGuarded(_ bytes: [UInt8], key: [UInt8], phase: Int, offset: Int) -> [UInt8]? {
        var buffer = [UInt8](repeating: 0xA5, count: offset + bytes.count + 16)
        buffer.replaceSubrange(offset..<(offset + bytes.count), with: bytes)
        buffer.withUnsafeMutableBytes { unmask($0.baseAddress! + offset, count: bytes.count, key: keyValue(key), phase: phase) }
        let guardsIntact = buffer[..<offset].allSatisfy { $0 == 0xA5 } && buffer[(offset + bytes.count)...].allSatisfy { $0 == 0xA5 }
        return guardsIntact ? Array(buffer[offset..<(offset + bytes.count)]) : nil
    }

    @Test(arguments: 0...3)
    func everyLengthUpTo67AgainstByteReference(phase: Int) {
        var rng = SeededRNG(seed: UInt64(phase) + 100)
        for key in Self.keys {
            for length in 0...67 {
                let data = rng.bytes(length)
                let offset = length % 8   // unaligned starts too
                let got = Self.unmaskGuarded(data, key: key, phase: phase, offset: offset)
                #expect(got == masked(data, key: key, phase: phase), "length \(length) phase \(phase) key \(key)")
            }
        }
    }

    @Test func phaseAboveThreeWrapsAround() {
        let data: [UInt8] = Array(0..<13)
        #expect(Self.unmaskGuarded(data, key: rfcKey, phase: 5, offset: 0) == masked(data, key: rfcKey, phase: 1))
    }

    @Test func largeRandomBufferWholeAndInPieces() {
        var rng = SeededRNG(seed: 0xBADC0DE)
        let data = rng.bytes(1 << 20 + 13)
        let key = rng.bytes(4)
        let reference = masked(data, key: key)
        #expect(Self.unmaskGuarded(data, key: key, phase: 0, offset: 3) == reference)
        // In random pieces, carrying the phase, as the decoder does across reads.
        var copy = data
        var at = 0, phase = 0
        copy.withUnsafeMutableBytes { buf in
            while at < buf.count {
                let n = min(buf.count - at, Int.random(in: 0...777, using: &rng))
                unmask(buf.baseAddress! + at, count: n, key: Self.keyValue(key), phase: phase)
                phase = (phase + n) & 3
                at += n
            }
        }
        #expect(copy == reference)
    }

    @Test func maskingTwiceRestores() {
        var rng = SeededRNG(seed: 3)
        let data = rng.bytes(1000)
        var copy = data
        copy.withUnsafeMutableBytes { b in
            unmask(b.baseAddress!, count: b.count, key: 0xDEAD_BEEF, phase: 2)
            unmask(b.baseAddress!, count: b.count, key: 0xDEAD_BEEF, phase: 2)
        }
        #expect(copy == data)
    }
}

@Suite("UTF-8 validation")
struct UTF8ValidatorTests {
    static func whole(_ b: [UInt8]) -> Bool { UTF8Validator.isValid(b) }

    /// Fed in the given pieces; invalid as soon as one piece is refused.
    static func pieces(_ b: [UInt8], cuts: [Int]) -> Bool {
        var v = UTF8Validator()
        var start = 0
        for c in cuts + [b.count] {
            let ok = b[start..<c].withUnsafeBytes { v.validate($0) }
            if !ok { return false }
            start = c
        }
        return v.isComplete
    }

    static func swiftVerdict(_ b: [UInt8]) -> Bool { String(validating: b, as: UTF8.self) != nil }

    /// Random strings mostly made of plausible pieces: valid scalars of every width, truncated
    /// and overlong sequences, surrogates, stray continuation bytes, any byte at all.
    static func randomString(_ rng: inout SeededRNG) -> [UInt8] {
        var out: [UInt8] = []
        for _ in 0..<Int.random(in: 0...12, using: &rng) {
            switch Int.random(in: 0..<12, using: &rng) {
            case 0: out.append(UInt8.random(in: 0...0x7F, using: &rng))
            case 1, 2, 3:
                // A valid scalar of any width.
                let ranges: [ClosedRange<UInt32>] = [0x80...0x7FF, 0x800...0xD7FF, 0xE000...0xFFFF, 0x10000...0x10FFFF]
                let r = ranges[Int.random(in: 0..<4, using: &rng)]
                out += Array(String(Character(Unicode.Scalar(UInt32.random(in: r, using: &rng))!)).utf8)
            case 4:
                // Boundary scalars, where validators get their ranges wrong.
                let edges: [UInt32] = [0x7F, 0x80, 0x7FF, 0x800, 0xFFF, 0x1000, 0xD7FF, 0xE000, 0xFFFD, 0xFFFF, 0x10000, 0x3FFFF, 0x40000, 0xFFFFF, 0x100000, 0x10FFFF]
                out += Array(String(Character(Unicode.Scalar(edges[Int.random(in: 0..<edges.count, using: &rng)])!)).utf8)
            case 5:
                // A lead byte followed by random continuation-ish bytes.
                out.append(UInt8.random(in: 0xC0...0xFF, using: &rng))
                for _ in 0..<Int.random(in: 0...3, using: &rng) { out.append(UInt8.random(in: 0x70...0xC0, using: &rng)) }
            case 6:
                // A valid multi-byte scalar cut short.
                let s = Array(String(Character(Unicode.Scalar(UInt32.random(in: 0x800...0xD7FF, using: &rng))!)).utf8)
                out += s.prefix(Int.random(in: 1...2, using: &rng))
            case 7: out.append(UInt8.random(in: 0x80...0xBF, using: &rng))
            case 8:
                // Leads with narrowed second-byte ranges, with a second byte near the edges.
                let lead: [UInt8] = [0xE0, 0xED, 0xF0, 0xF4]
                out.append(lead[Int.random(in: 0..<4, using: &rng)])
                let second: [UInt8] = [0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0]
                out.append(second[Int.random(in: 0..<second.count, using: &rng)])
                for _ in 0..<Int.random(in: 0...2, using: &rng) { out.append(UInt8.random(in: 0x80...0xBF, using: &rng)) }
            case 9: out += [UInt8](repeating: 0x41, count: Int.random(in: 1...20, using: &rng))   // ASCII runs (8-byte path)
            default: out.append(UInt8.random(in: 0...255, using: &rng))
            }
        }
        return out
    }

    @Test func agreesWithSwiftOnSeededRandomStrings() {
        var rng = SeededRNG(seed: 0x0177_F8)
        var valid = 0
        for n in 0..<5000 {
            let b = Self.randomString(&rng)
            let expected = Self.swiftVerdict(b)
            if expected { valid += 1 }
            let got = Self.whole(b)
            let byByte = Self.pieces(b, cuts: Array(b.indices.dropFirst()))
            if got != expected || byByte != expected {
                Issue.record("string \(n) \(b.map { String($0, radix: 16) }): whole \(got), byte by byte \(byByte), Swift \(expected)")
                return
            }
            if n % 10 == 0 {
                for cut in 0...b.count where Self.pieces(b, cuts: [cut]) != expected {
                    Issue.record("string \(n) \(b) split at \(cut) disagrees with Swift (\(expected))")
                    return
                }
            }
        }
        // The generator must exercise both verdicts in earnest.
        #expect(valid > 1000 && valid < 4000, "valid: \(valid)")
    }

    static let edgeCases: [([UInt8], Bool)] = [
        ([], true),
        ([0x00], true),
        ([0x7F], true),
        ([0xC2, 0x80], true),
        ([0xDF, 0xBF], true),
        ([0xE0, 0xA0, 0x80], true),
        ([0xED, 0x9F, 0xBF], true),           // U+D7FF
        ([0xEE, 0x80, 0x80], true),           // U+E000
        ([0xEF, 0xBF, 0xBF], true),           // U+FFFF
        ([0xF0, 0x90, 0x80, 0x80], true),     // U+10000
        ([0xF4, 0x8F, 0xBF, 0xBF], true),     // U+10FFFF
        ([0xC0, 0x80], false),                // overlong NUL
        ([0xC1, 0xBF], false),                // overlong
        ([0xE0, 0x80, 0x80], false),          // overlong
        ([0xE0, 0x9F, 0xBF], false),          // overlong
        ([0xF0, 0x80, 0x80, 0x80], false),    // overlong
        ([0xF0, 0x8F, 0xBF, 0xBF], false),    // overlong
        ([0xED, 0xA0, 0x80], false),          // U+D800 surrogate
        ([0xED, 0xBF, 0xBF], false),          // U+DFFF surrogate
        ([0xED, 0xA0, 0x80, 0xED, 0xB0, 0x80], false),   // CESU-8 pair
        ([0xF4, 0x90, 0x80, 0x80], false),    // U+110000
        ([0xF5, 0x80, 0x80, 0x80], false),
        ([0xF8, 0x88, 0x80, 0x80, 0x80], false),          // 5-byte form
        ([0xFC, 0x84, 0x80, 0x80, 0x80, 0x80], false),    // 6-byte form
        ([0xFE], false), ([0xFF], false),
        ([0x80], false),                      // lone continuation
        ([0x41, 0xBF], false),
        ([0xC2], false), ([0xE2, 0x82], false), ([0xF0, 0x9F, 0x98], false),   // truncated
        ([0xC2, 0x41], false), ([0xE2, 0x41, 0xAC], false), ([0xE2, 0x82, 0xC0], false),
        (Array("κόσμε".utf8), true),
        (Array("ASCII run longer than eight bytes, then é".utf8), true),
        (Array("ASCII run longer than eight bytes".utf8) + [0x80], false),
    ]

    @Test(arguments: edgeCases)
    func classicEdgeCases(bytes: [UInt8], valid: Bool) {
        #expect(Self.swiftVerdict(bytes) == valid, "the table itself disagrees with Swift")
        #expect(Self.whole(bytes) == valid)
        for cut in 0...bytes.count {
            #expect(Self.pieces(bytes, cuts: [cut]) == valid, "split at \(cut)")
        }
        #expect(Self.pieces(bytes, cuts: Array(bytes.indices.dropFirst())) == valid, "byte by byte")
    }

    @Test func failsAtTheFirstImpossibleByte() {
        // A validator fed byte by byte must refuse the byte that makes the input impossible,
        // not later (fail fast), and accept every byte before it.
        let cases: [([UInt8], Int)] = [
            ([0x41, 0xC0], 1), ([0xE0, 0x80], 1), ([0xED, 0xA0], 1), ([0xF4, 0x90], 1),
            ([0xF0, 0x9F, 0x41], 2), ([0x41, 0x42, 0x80], 2), ([0xF5], 0),
        ]
        for (bytes, bad) in cases {
            var v = UTF8Validator()
            for (i, b) in bytes.enumerated() {
                let ok = [b].withUnsafeBytes { v.validate($0) }
                #expect(ok == (i != bad), "\(bytes) byte \(i)")
                if !ok { break }
            }
        }
    }

    @Test func resetClearsPendingState() {
        var v = UTF8Validator()
        _ = [UInt8(0xE2)].withUnsafeBytes { v.validate($0) }
        #expect(!v.isComplete)
        v.reset()
        #expect(v.isComplete)
        #expect([UInt8(0x41)].withUnsafeBytes { v.validate($0) })
    }
}

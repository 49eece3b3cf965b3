import Testing
@testable import WebSocketProtocol

/// Inflates a whole message into an array (tests only).
func inflated(_ inflater: Inflater, _ payload: [UInt8], limit: Int = 1 << 20) throws(InflateError) -> [UInt8] {
    let result = payload.withUnsafeBytes { p in
        Result { () throws(InflateError) -> [UInt8] in try inflater.inflate(p, limit: limit) { Array($0) } }
    }
    return try result.get()
}

func inflateError(_ inflater: Inflater, _ payload: [UInt8], limit: Int = 1 << 20) -> InflateError? {
    do {
        _ = try inflated(inflater, payload, limit: limit)
        return nil
    } catch {
        return error
    }
}

@Suite("permessage-deflate zlib boxes")
struct DeflateCodecTests {
    static let hello = Array("Hello".utf8)

    // MARK: RFC 7692 §7.2.3 goldens

    @Test func rfcHelloInflates() throws {
        #expect(try inflated(Inflater(), [0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00]) == Self.hello)
    }

    @Test func rfcSecondHelloWithContextTakeoverInflates() throws {
        let inflater = Inflater()
        #expect(try inflated(inflater, [0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00]) == Self.hello)
        #expect(try inflated(inflater, [0xF2, 0x00, 0x11, 0x00, 0x00]) == Self.hello)
    }

    @Test func rfcStoredBlockAndEmptyMessageInflate() throws {
        // §7.2.3.3: "Hello" in a stored block; §7.2.3.6: an empty message is one 0x00 byte.
        #expect(try inflated(Inflater(), [0x00, 0x05, 0x00, 0xFA, 0xFF, 0x48, 0x65, 0x6C, 0x6C, 0x6F, 0x00]) == Self.hello)
        #expect(try inflated(Inflater(), [0x00]) == [])
    }

    @Test func rfcBFinalBlockInflates() throws {
        // §7.2.3.4: a message ending with a final block (no tail needed); the next message
        // still sees the history.
        let inflater = Inflater()
        #expect(try inflated(inflater, [0xF3, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00]) == Self.hello)
        #expect(try inflated(inflater, [0xF2, 0x00, 0x11, 0x00, 0x00]) == Self.hello)
    }

    @Test func helloDeflatesToTheRFCBytes() {
        let deflater = Deflater()
        #expect(deflater.compress(Self.hello) == [0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00])
        // Context takeover: the second "Hello" is a back-reference into the first.
        #expect(deflater.compress(Self.hello) == [0xF2, 0x00, 0x11, 0x00, 0x00])
        deflater.reset()
        #expect(deflater.compress(Self.hello) == [0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00])
    }

    @Test func emptyMessageDeflatesToOneZeroByte() {
        #expect(Deflater().compress([]) == [0x00])
    }

    // MARK: Round trips

    @Test(arguments: [9, 12, 15])
    func roundTripsWithAndWithoutContextTakeover(windowBits: Int) throws {
        var rng = SeededRNG(seed: UInt64(windowBits))
        let deflater = Deflater(windowBits: windowBits)
        let inflater = Inflater()
        let words = ["price", "AAPL", "187.25", "volume", "{\"ts\":", "\"seq\":", "prediction", " "].map { Array($0.utf8) }
        for takeover in [true, false] {
            for size in [0, 1, 5, 100, 1000, 70_000, 300_000] {
                var message: [UInt8] = []
                while message.count < size { message += words[Int.random(in: 0..<words.count, using: &rng)] }
                message = Array(message.prefix(size))
                let compressed = deflater.compress(message)
                if size >= 1000 { #expect(compressed.count < message.count / 2) }
                #expect(try inflated(inflater, compressed) == message, "size \(size), takeover \(takeover)")
                if !takeover {
                    deflater.reset()
                    inflater.reset()
                }
            }
        }
    }

    @Test func incompressibleDataFitsTheBound() throws {
        var rng = SeededRNG(seed: 1)
        let deflater = Deflater()
        for size in [1, 200, 65_536, 1 << 20] {
            let random = rng.bytes(size)
            let compressed = deflater.compress(random)
            #expect(compressed.count <= deflater.maxCompressedSize(size))
            #expect(try inflated(Inflater(), compressed, limit: size) == random)
            deflater.reset()
        }
    }

    @Test func tooSmallOutputReportsNilAndResets() throws {
        let deflater = Deflater()
        var rng = SeededRNG(seed: 2)
        let random = rng.bytes(1000)
        var small = [UInt8](repeating: 0, count: 100)
        let n = random.withUnsafeBytes { inBuf in small.withUnsafeMutableBytes { deflater.compress(inBuf, into: $0) } }
        #expect(n == nil)
        // The failed message left no history behind: the next one decodes on its own.
        #expect(deflater.compress(Self.hello) == [0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00])
    }

    // MARK: Limits and hostile input

    @Test func anUnboundedLimitDoesNotOverflow() throws {
        #expect(try inflated(Inflater(), [0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00], limit: .max) == Self.hello)
        #expect(inflateError(Inflater(), [0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00], limit: 0) == .tooLarge)
    }

    @Test func exactlyTheLimitPassesOneMoreByteDoesNot() throws {
        let message = [UInt8](repeating: 0x61, count: 10_000)
        let compressed = Deflater().compress(message)
        #expect(try inflated(Inflater(), compressed, limit: 10_000) == message)
        #expect(inflateError(Inflater(), compressed, limit: 9_999) == .tooLarge)
    }

    @Test func decompressionBombThrowsWithoutAllocatingPastTheLimit() {
        // 10 MB of zeros compress to about 10 KB; the limit is 1 MiB.
        let deflater = Deflater()
        let bomb = deflater.compress([UInt8](repeating: 0, count: 10_000_000))
        #expect(bomb.count < 20_000)
        let limit = 1 << 20
        let inflater = Inflater()
        #expect(inflateError(inflater, bomb, limit: limit) == .tooLarge)
        // The buffer grew up to the limit (plus the one byte that proves it was crossed), no further,
        #expect(inflater.peakOutputCapacity > limit / 2 && inflater.peakOutputCapacity <= limit + 1)
        // and was released after the message.
        #expect(inflater.outputCapacity == 0)
        // The same bomb under a generous limit: the buffer reached exactly what was needed.
        let big = Inflater()
        let size = bomb.withUnsafeBytes { p in (try? big.inflate(p, limit: 16 << 20) { $0.count }) ?? -1 }
        #expect(size == 10_000_000)
    }

    @Test func bombBufferNeverExceedsTheLimitWhileInflating() {
        // Watch the capacity from inside: inflate into a limit and read the capacity in the
        // body of a message that just fits.
        let limit = 1 << 20
        let fits = Deflater().compress([UInt8](repeating: 0, count: limit))
        let inflater = Inflater()
        let capacity = fits.withUnsafeBytes { p in (try? inflater.inflate(p, limit: limit) { _ in inflater.outputCapacity }) ?? -1 }
        #expect(capacity > 0 && capacity <= limit + 1)
    }

    @Test func garbageIsInvalidData() {
        var rng = SeededRNG(seed: 3)
        // BTYPE 11 (reserved) in the first block header.
        #expect(inflateError(Inflater(), [0xFF, 0xFF, 0xFF]) == .invalidData)
        // A stored block whose NLEN is not the complement of LEN.
        #expect(inflateError(Inflater(), [0x00, 0x05, 0x00, 0x00, 0x00, 0x48]) == .invalidData)
        // A distance back past the start of the (empty) history.
        #expect(inflateError(Inflater(), [0xF2, 0x00, 0x11, 0x00, 0x00]) == .invalidData)
        var invalid = 0
        for _ in 0..<500 {
            let junk = rng.bytes(Int.random(in: 1...64, using: &rng))
            // Never a crash; almost always an error (a few random strings are valid deflate).
            if inflateError(Inflater(), junk) != nil { invalid += 1 }
        }
        #expect(invalid > 400)
    }

    @Test func dataAfterAFinalBlockIsInvalid() {
        #expect(inflateError(Inflater(), [0xF3, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00, 0x42]) == .invalidData)
    }

    @Test func aSharedInflaterRecoversAfterAnError() throws {
        let inflater = Inflater()
        #expect(inflateError(inflater, [0xFF, 0xFF, 0xFF]) == .invalidData)
        #expect(inflateError(inflater, Deflater().compress([UInt8](repeating: 1, count: 5000)), limit: 100) == .tooLarge)
        #expect(try inflated(inflater, [0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00]) == Self.hello)
    }
}

import CZlib

/// Raw-deflate compressor for permessage-deflate messages (RFC 7692 §7.2.1): each message is
/// compressed and sync-flushed, and the `00 00 ff ff` the flush ends with is removed.
///
/// zlib keeps pointers into its `z_stream` (its internal state points back at the stream),
/// so the stream must stay at one address from `deflateInit2` to `deflateEnd`. A Swift struct
/// may be moved or copied at any time, so the stream lives in memory allocated here and only
/// the pointer is stored; `deinit` ends and frees it. That is also why this is a class.
///
/// Not thread-safe: one event loop's thread uses an instance.
public final class Deflater {
    public let windowBits: Int
    private let stream: UnsafeMutablePointer<z_stream>

    /// `windowBits` 9...15 (zlib cannot write raw deflate with a 256-byte window).
    /// `memoryLevel` 1...9 sizes the hash table (zlib's default 8: 128 KiB, plus a window of
    /// 2 << windowBits bytes).
    public init(windowBits: Int = 15, level: Int32 = Z_DEFAULT_COMPRESSION, memoryLevel: Int32 = 8) {
        precondition((9...15).contains(windowBits), "window bits \(windowBits)")
        self.windowBits = windowBits
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        let rc = qv_deflateInit2(stream, level, -Int32(windowBits), memoryLevel)
        precondition(rc == Z_OK, "deflateInit2 failed: \(rc)")
    }

    deinit {
        deflateEnd(stream)
        stream.deinitialize(count: 1)
        stream.deallocate()
    }

    /// Forgets the history: the next message is compressed on its own (no context takeover).
    public func reset() {
        deflateReset(stream)
    }

    /// Room `compress` may need for `count` input bytes (zlib's bound plus the flush marker).
    public func maxCompressedSize(_ count: Int) -> Int {
        Int(deflateBound(stream, uLong(count))) + 16
    }

    /// Compresses one whole message into `out` and returns the payload length (tail removed).
    /// nil when `out` was too small; the history is then reset, so later messages stay
    /// decodable by a peer that never saw this one. `maxCompressedSize` bytes are always enough.
    public func compress(_ input: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer) -> Int? {
        guard let outBase = out.baseAddress, out.count > 4 else { return nil }
        if input.isEmpty {
            // An empty stored block less its tail (§7.2.3.6). zlib writes nothing at all for a
            // second sync flush without new input, so this case does not go through it.
            outBase.storeBytes(of: 0, as: UInt8.self)
            return 1
        }
        stream.pointee.next_out = outBase.assumingMemoryBound(to: Bytef.self)
        stream.pointee.avail_out = uInt(min(out.count, Int(UInt32.max >> 1)))
        let outStart = Int(stream.pointee.avail_out)
        var remaining = input
        repeat {
            let chunk = min(remaining.count, Int(UInt32.max >> 1))
            let last = chunk == remaining.count
            stream.pointee.next_in = UnsafeMutablePointer(mutating: remaining.baseAddress?.assumingMemoryBound(to: Bytef.self))
            stream.pointee.avail_in = uInt(chunk)
            let rc = deflate(stream, last ? Z_SYNC_FLUSH : Z_NO_FLUSH)
            let consumed = chunk - Int(stream.pointee.avail_in)
            remaining = UnsafeRawBufferPointer(rebasing: remaining[consumed...])
            // Out of room: with avail_out == 0 zlib may still hold output back.
            guard rc == Z_OK || rc == Z_BUF_ERROR, stream.pointee.avail_out > 0, consumed == chunk else {
                reset()
                return nil
            }
        } while !remaining.isEmpty
        let written = outStart - Int(stream.pointee.avail_out)
        assert(written >= 4 && out[written - 4] == 0 && out[written - 3] == 0 && out[written - 2] == 0xFF && out[written - 1] == 0xFF,
               "a sync flush ends with 00 00 ff ff")
        return written - 4
    }

    /// One message as an array (tests, rare paths; `send` compresses straight into the
    /// outbound buffer).
    public func compress(_ input: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: maxCompressedSize(input.count))
        let n = input.withUnsafeBytes { inBuf in out.withUnsafeMutableBytes { compress(inBuf, into: $0) } }
        guard let n else { preconditionFailure("deflateBound was not enough") }
        out.removeLast(out.count - n)
        return out
    }
}

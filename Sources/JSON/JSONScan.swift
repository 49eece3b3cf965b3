/// The string scanner's hot loop, kept apart because it reads eight bytes at a time.
enum JSONScan {
    private static let ones: UInt64 = 0x0101_0101_0101_0101
    private static let highBits: UInt64 = 0x8080_8080_8080_8080

    /// The first index at or after `start` whose byte is not plain ASCII string content (a
    /// `"`, a `\`, a control character below 0x20, or any byte ≥ 0x80), or `bytes.count`.
    static func plainASCIIEnd(_ bytes: UnsafeRawBufferPointer, from start: Int) -> Int {
        var i = start
        let n = bytes.count
        while i + 8 <= n {
            // Little-endian, so the lowest flagged bit belongs to the earliest byte. The tests
            // below may also flag a byte just above a special one (a borrow carries into it),
            // but never one below it: the lowest flag is exact.
            let w = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self))
            let control = (w &- ones &* 0x20) & ~w
            let quote = hasZeroByte(w ^ (ones &* 0x22))
            let backslash = hasZeroByte(w ^ (ones &* 0x5C))
            let special = (control | w) & highBits | quote | backslash
            if special != 0 { return i + special.trailingZeroBitCount / 8 }
            i += 8
        }
        while i < n {
            let c = bytes[i]
            if c < 0x20 || c >= 0x80 || c == UInt8(ascii: "\"") || c == UInt8(ascii: "\\") { return i }
            i += 1
        }
        return n
    }

    /// Nonzero when some byte of `x` is zero.
    @inline(__always)
    private static func hasZeroByte(_ x: UInt64) -> UInt64 {
        (x &- ones) & ~x & highBits
    }
}

#if _endian(big)
#error("the WebSocket mask code assumes a little-endian machine")
#endif

/// XORs `count` bytes at `p` with the 4-byte mask `key` (wire order, loaded little-endian),
/// starting `phase` bytes into the mask cycle. Eight bytes at a time, then the tail.
@inline(__always)
public func unmask(_ p: UnsafeMutableRawPointer, count: Int, key: UInt32, phase: Int) {
    let shift = UInt32((phase & 3) * 8)
    // Rotate so byte 0 of `rotated` is mask byte `phase`.
    let rotated = shift == 0 ? key : (key >> shift) | (key << (32 - shift))
    let wide = UInt64(rotated) | (UInt64(rotated) << 32)
    var i = 0
    while i + 8 <= count {
        let v = p.loadUnaligned(fromByteOffset: i, as: UInt64.self)
        p.storeBytes(of: v ^ wide, toByteOffset: i, as: UInt64.self)
        i += 8
    }
    var m = wide
    while i < count {
        let b = p.load(fromByteOffset: i, as: UInt8.self)
        p.storeBytes(of: b ^ UInt8(truncatingIfNeeded: m), toByteOffset: i, as: UInt8.self)
        m >>= 8
        i += 1
    }
}

/// Server → client frames: never masked, so the same bytes can go to every subscriber.
public enum FrameEncoder {
    /// Largest header we write: 2 + 8 bytes.
    public static let maxHeaderLength = 10

    @inline(__always)
    public static func headerLength(payloadLength: Int) -> Int {
        payloadLength < 126 ? 2 : payloadLength <= 0xFFFF ? 4 : 10
    }

    /// Writes a frame header at `out` (room for `maxHeaderLength`); returns its length.
    @inline(__always)
    public static func writeHeader(opcode: Opcode, fin: Bool = true, rsv1: Bool = false,
                                   payloadLength: Int, to out: UnsafeMutableRawPointer) -> Int {
        var b0 = opcode.rawValue
        if fin { b0 |= 0x80 }
        if rsv1 { b0 |= 0x40 }
        out.storeBytes(of: b0, as: UInt8.self)
        if payloadLength < 126 {
            out.storeBytes(of: UInt8(payloadLength), toByteOffset: 1, as: UInt8.self)
            return 2
        } else if payloadLength <= 0xFFFF {
            out.storeBytes(of: 126, toByteOffset: 1, as: UInt8.self)
            out.storeBytes(of: UInt16(payloadLength).bigEndian, toByteOffset: 2, as: UInt16.self)
            return 4
        } else {
            out.storeBytes(of: 127, toByteOffset: 1, as: UInt8.self)
            out.storeBytes(of: UInt64(payloadLength).bigEndian, toByteOffset: 2, as: UInt64.self)
            return 10
        }
    }

    /// A whole frame as an array (control frames, tests; the hot path writes in place).
    public static func frame(_ opcode: Opcode, fin: Bool = true, rsv1: Bool = false, payload: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: maxHeaderLength + payload.count)
        let n = out.withUnsafeMutableBytes { buf -> Int in
            guard let base = buf.baseAddress else { return 0 }
            let h = writeHeader(opcode: opcode, fin: fin, rsv1: rsv1, payloadLength: payload.count, to: base)
            payload.withUnsafeBytes { p in
                if let src = p.baseAddress, p.count > 0 { (base + h).copyMemory(from: src, byteCount: p.count) }
            }
            return h + payload.count
        }
        out.removeLast(out.count - n)
        return out
    }

    /// A close frame: status code and a reason cut to fit the 125-byte control frame limit on a
    /// UTF-8 boundary.
    public static func closeFrame(_ code: CloseCode, reason: String = "") -> [UInt8] {
        var payload: [UInt8] = [UInt8(code.rawValue >> 8), UInt8(code.rawValue & 0xFF)]
        var reasonBytes = Array(reason.utf8.prefix(123))
        while !reasonBytes.isEmpty && !UTF8Validator.isValid(reasonBytes) { reasonBytes.removeLast() }
        payload += reasonBytes
        return frame(.close, payload: payload)
    }
}

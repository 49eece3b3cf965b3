/// Incremental UTF-8 validation (RFC 3629: no overlongs, no surrogates, nothing above
/// U+10FFFF). Fed chunk by chunk, it fails on the first bad byte, even mid-frame, so a peer
/// cannot make us buffer a long invalid message before we notice.
public struct UTF8Validator: Sendable {
    /// Continuation bytes still expected for the current code point.
    private var pending: UInt8 = 0
    /// Allowed range of the next continuation byte (narrower right after E0, ED, F0, F4).
    private var low: UInt8 = 0x80
    private var high: UInt8 = 0xBF

    public init() {}

    /// True when the bytes so far end on a code point boundary.
    public var isComplete: Bool { pending == 0 }

    public mutating func reset() { self = UTF8Validator() }

    /// Validates more bytes; false at the first byte that can never be valid UTF-8.
    public mutating func validate(_ bytes: UnsafeRawBufferPointer) -> Bool {
        let n = bytes.count
        guard n > 0, let base = bytes.baseAddress else { return true }
        var i = 0
        while i < n {
            if pending == 0 {
                // ASCII runs, eight bytes at a time.
                while i + 8 <= n && base.loadUnaligned(fromByteOffset: i, as: UInt64.self) & 0x8080_8080_8080_8080 == 0 {
                    i += 8
                }
                if i >= n { break }
                let b = base.load(fromByteOffset: i, as: UInt8.self)
                i += 1
                switch b {
                case 0x00...0x7F: continue
                case 0xC2...0xDF: pending = 1; low = 0x80; high = 0xBF
                case 0xE0: pending = 2; low = 0xA0; high = 0xBF
                case 0xE1...0xEC, 0xEE...0xEF: pending = 2; low = 0x80; high = 0xBF
                case 0xED: pending = 2; low = 0x80; high = 0x9F
                case 0xF0: pending = 3; low = 0x90; high = 0xBF
                case 0xF1...0xF3: pending = 3; low = 0x80; high = 0xBF
                case 0xF4: pending = 3; low = 0x80; high = 0x8F
                default: return false
                }
            } else {
                let b = base.load(fromByteOffset: i, as: UInt8.self)
                i += 1
                guard b >= low && b <= high else { return false }
                pending -= 1
                low = 0x80
                high = 0xBF
            }
        }
        return true
    }

    /// Validates a whole string of bytes.
    public static func isValid(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var v = UTF8Validator()
        return v.validate(bytes) && v.isComplete
    }

    public static func isValid(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { isValid($0) }
    }
}

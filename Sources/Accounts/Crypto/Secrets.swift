import COpenSSL

/// Random tokens and identifiers, and the one-way hash refresh tokens are stored under.
public enum Secrets {
    /// `count` bytes from OpenSSL's CSPRNG. A failure traps: with no secure randomness there is
    /// no safe token to return, and RAND_bytes on a running Linux system does not fail.
    public static func randomBytes(_ count: Int) -> [UInt8] {
        precondition(count >= 0)
        var bytes = [UInt8](repeating: 0, count: count)
        guard count > 0 else { return bytes }
        let ok = bytes.withUnsafeMutableBufferPointer { RAND_bytes($0.baseAddress, Int32(count)) }
        precondition(ok == 1, "RAND_bytes failed: no secure randomness available")
        return bytes
    }

    /// An opaque bearer secret (refresh tokens): base64url without padding. 32 bytes = 256 bits.
    public static func randomToken(bytes: Int = 32) -> String {
        Base64URL.encode(randomBytes(bytes))
    }

    /// A user, session or token id: base64url, so only `A-Za-z0-9_-` (22 characters for 16 bytes).
    public static func randomID(bytes: Int = 16) -> String {
        Base64URL.encode(randomBytes(bytes))
    }

    /// A generated JWT signing key.
    public static func randomSecret() -> [UInt8] {
        randomBytes(32)
    }

    /// SHA-256 of the string's UTF-8, as 64 lowercase hex digits. Refresh tokens are high-entropy,
    /// so a plain hash (no salt, no KDF) is enough to make a leaked table useless.
    public static func sha256Hex(_ text: String) -> String {
        hexEncode(sha256(Array(text.utf8)))
    }

    static func sha256(_ bytes: [UInt8]) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        let ok = bytes.withUnsafeBytes { input in
            digest.withUnsafeMutableBufferPointer { out in
                EVP_Digest(input.baseAddress, input.count, out.baseAddress, &length, EVP_sha256(), nil)
            }
        }
        // EVP_Digest fails only without memory or a broken library: nothing to recover.
        precondition(ok == 1 && length == 32, "EVP_Digest(SHA-256) failed")
        return digest
    }

    /// Lowercase hex, for storing a generated key as text.
    public static func hexEncode(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// nil unless `text` is an even number of hex digits (either case).
    public static func hexDecode(_ text: String) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(utf8.count / 2)
        var i = 0
        while i < utf8.count {
            guard let hi = hexValue(utf8[i]), let lo = hexValue(utf8[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// Equal length and contents, in time that depends only on the length (CRYPTO_memcmp).
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        guard !a.isEmpty else { return true }
        return a.withUnsafeBytes { pa in
            b.withUnsafeBytes { pb in CRYPTO_memcmp(pa.baseAddress, pb.baseAddress, a.count) == 0 }
        }
    }
}

import CArgon2

/// Argon2id password hashes in the PHC string format
/// (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`), so each stored hash carries the
/// parameters it was made with and parameters can rise without invalidating old rows.
///
/// Passwords are the exact UTF-8 bytes the client sent. All methods are thread-safe and block
/// for the length of one hash (tens of ms): call them off the event loops.
public struct PasswordHasher: Sendable, CustomStringConvertible {
    /// Argon2id cost parameters.
    public struct Parameters: Sendable, Equatable, CustomStringConvertible {
        /// Memory in KiB. Default 19456 (19 MiB), OWASP's baseline for Argon2id.
        public var memoryKiB: UInt32
        /// Passes over the memory. Default 2.
        public var iterations: UInt32
        /// Lanes. Default 1: the hash pool gives parallelism across logins instead.
        public var parallelism: UInt32

        public init(memoryKiB: UInt32 = 19456, iterations: UInt32 = 2, parallelism: UInt32 = 1) {
            self.memoryKiB = memoryKiB
            self.iterations = iterations
            self.parallelism = parallelism
        }

        /// libargon2's bounds (memory ≥ 8 KiB per lane, at least one pass and one lane) and ours
        /// (at most 255 lanes).
        public var isValid: Bool {
            iterations >= 1 && parallelism >= 1 && parallelism <= 255 && memoryKiB >= 8 * parallelism
        }

        /// Component-wise: every parameter at least as high as `other`'s.
        public func isAtLeast(_ other: Parameters) -> Bool {
            memoryKiB >= other.memoryKiB && iterations >= other.iterations && parallelism >= other.parallelism
        }

        public var description: String { "m=\(memoryKiB),t=\(iterations),p=\(parallelism)" }
    }

    public struct HashError: Error, Equatable, Sendable, CustomStringConvertible {
        /// The libargon2 error code.
        public let code: Int32
        public var description: String {
            // libargon2's messages name the failing check, never the input.
            "argon2id failed: " + String(cString: argon2_error_message(code))
        }
    }

    public static let saltBytes = 16
    public static let hashBytes = 32

    public let parameters: Parameters
    /// Stored hashes above these are treated as non-matching rather than computed: a corrupt or
    /// planted row must not make one login allocate gigabytes or run for minutes.
    public let verifyLimits: Parameters
    /// A hash of a random password under `parameters`, verified when the email is unknown so
    /// that such a login costs what a wrong password costs.
    private let dummy: String

    /// Computes the dummy hash once (one hash's time).
    public init(parameters: Parameters = Parameters()) throws(HashError) {
        precondition(parameters.isValid, "invalid Argon2id parameters \(parameters)")
        self.parameters = parameters
        // Four times the current costs (at least 256 MiB, 16 passes, 16 lanes): room for rows
        // hashed before a later lowering of the parameters.
        let times4 = { (x: UInt32) in min(x, UInt32.max / 4) * 4 }
        verifyLimits = Parameters(memoryKiB: max(times4(parameters.memoryKiB), 262_144),
                                  iterations: max(times4(parameters.iterations), 16),
                                  parallelism: max(parameters.parallelism, 16))
        dummy = try Self.hash(Secrets.randomBytes(32), parameters)
    }

    /// A new PHC string for `password` with a fresh 16-byte random salt.
    public func hash(_ password: [UInt8]) throws(HashError) -> String {
        try Self.hash(password, parameters)
    }

    /// Whether `password` matches `encoded`. A malformed stored string, one that is not
    /// Argon2id v19, or one whose parameters exceed `verifyLimits` is a non-match.
    public func verify(_ password: [UInt8], against encoded: String) -> Bool {
        guard let stored = PHCString(encoded), stored.parameters.isValid,
              verifyLimits.isAtLeast(stored.parameters) else { return false }
        return Self.verifyEncoded(encoded, password)
    }

    /// Verifies `password` against the dummy hash and discards the answer (unknown emails).
    public func verifyDummy(_ password: [UInt8]) {
        _ = Self.verifyEncoded(dummy, password)
    }

    /// True when `encoded` was made with any parameter below the current ones (or cannot be
    /// read): after a successful login, store a fresh `hash` of the password.
    public func needsRehash(_ encoded: String) -> Bool {
        guard let stored = PHCString(encoded) else { return true }
        return !stored.parameters.isAtLeast(parameters)
    }

    /// Parameters only (no hash, not even the dummy's).
    public var description: String { "PasswordHasher(argon2id \(parameters))" }

    // MARK: libargon2 (the only unsafe code here)

    private static func hash(_ password: [UInt8], _ p: Parameters) throws(HashError) -> String {
        let salt = Secrets.randomBytes(saltBytes)
        let length = argon2_encodedlen(p.iterations, p.memoryKiB, p.parallelism, UInt32(saltBytes), UInt32(hashBytes), Argon2_id)
        var out = [CChar](repeating: 0, count: length)
        let code = password.withUnsafeBytes { pwd in
            salt.withUnsafeBytes { s in
                out.withUnsafeMutableBufferPointer { o in
                    argon2id_hash_encoded(p.iterations, p.memoryKiB, p.parallelism, pwd.baseAddress, pwd.count,
                                          s.baseAddress, s.count, hashBytes, o.baseAddress, o.count)
                }
            }
        }
        guard code == ARGON2_OK.rawValue else { throw HashError(code: code) }
        let end = out.firstIndex(of: 0) ?? out.count
        return String(decoding: out[..<end].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private static func verifyEncoded(_ encoded: String, _ password: [UInt8]) -> Bool {
        password.withUnsafeBytes { pwd in
            argon2id_verify(encoded, pwd.baseAddress, pwd.count) == ARGON2_OK.rawValue
        }
    }
}

/// The parts of an Argon2id PHC string we read ourselves before handing it to libargon2:
/// `$argon2id$v=19$m=<u32>,t=<u32>,p=<u32>$<salt>$<hash>`, salt and hash in unpadded standard base64.
struct PHCString: Equatable {
    let parameters: PasswordHasher.Parameters

    init?(_ text: String) {
        guard text.utf8.count <= 512 else { return nil }
        let fields = text.utf8.split(separator: UInt8(ascii: "$"), omittingEmptySubsequences: false)
        guard fields.count == 6, fields[0].isEmpty,
              fields[1].elementsEqual("argon2id".utf8), fields[2].elementsEqual("v=19".utf8) else { return nil }
        let params = fields[3].split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false)
        guard params.count == 3,
              let m = Self.number(params[0], "m="), let t = Self.number(params[1], "t="), let p = Self.number(params[2], "p="),
              Self.isBase64(fields[4], minBytes: 8), Self.isBase64(fields[5], minBytes: 4) else { return nil }
        parameters = PasswordHasher.Parameters(memoryKiB: m, iterations: t, parallelism: p)
    }

    /// `name` then 1–10 decimal digits without a leading zero, fitting UInt32.
    private static func number(_ field: Substring.UTF8View, _ name: StaticString) -> UInt32? {
        let prefix = name.withUTF8Buffer { Array($0) }
        guard field.starts(with: prefix) else { return nil }
        let digits = field.dropFirst(prefix.count)
        guard (1...10).contains(digits.count), digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
              digits.count == 1 || digits.first != 0x30 else { return nil }
        return UInt32(String(decoding: digits, as: UTF8.self))
    }

    private static func isBase64(_ field: Substring.UTF8View, minBytes: Int) -> Bool {
        field.count % 4 != 1 && field.count * 3 / 4 >= minBytes && field.allSatisfy { c in
            switch c {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "+"), UInt8(ascii: "/"): true
            default: false
            }
        }
    }
}

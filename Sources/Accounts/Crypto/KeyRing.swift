/// The HS256 keys: the first signs, every one verifies (so keys rotate by prepending a new one).
///
/// Secrets never leave this type in text: `description`, `debugDescription` and the mirror show
/// key ids only, and errors name a line number, never a line.
public struct KeyRing: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public struct Failure: Error, Equatable, Sendable, CustomStringConvertible {
        public enum Reason: Equatable, Sendable {
            case noKeys
            case missingEquals
            case invalidKid
            case duplicateKid
            case secretTooShort
        }

        public let reason: Reason
        /// 1-based line of the key file, or the 1-based position in `init(keys:)`; nil for `init(secret:)`.
        public let line: Int?

        public var description: String {
            let what = switch reason {
            case .noKeys: "no keys"
            case .missingEquals: "expected kid=secret"
            case .invalidKid: "kid must be 1-64 of A-Za-z0-9_-"
            case .duplicateKid: "kid used twice"
            case .secretTooShort: "secret shorter than \(KeyRing.minimumSecretBytes) bytes"
            }
            return line.map { "line \($0): " + what } ?? what
        }
    }

    public static let minimumSecretBytes = 32

    /// In file order; `keys[0]` signs.
    private let keys: [(kid: String, secret: [UInt8])]

    /// The kid new tokens carry.
    public var signingKid: String { keys[0].kid }
    public var kids: [String] { keys.map(\.kid) }

    /// `--jwt-secret`: its UTF-8 bytes, kid `default`.
    public init(secret: String) throws(Failure) {
        do {
            try self.init(keys: [(kid: "default", secret: Array(secret.utf8))])
        } catch {
            throw Failure(reason: error.reason, line: nil)
        }
    }

    /// Keys in order (the first signs). Errors carry the 1-based position of the bad key.
    public init(keys: [(kid: String, secret: [UInt8])]) throws(Failure) {
        guard !keys.isEmpty else { throw Failure(reason: .noKeys, line: nil) }
        var seen = Set<String>()
        for (k, key) in keys.enumerated() {
            guard Self.isValidKid(key.kid) else { throw Failure(reason: .invalidKid, line: k + 1) }
            guard seen.insert(key.kid).inserted else { throw Failure(reason: .duplicateKid, line: k + 1) }
            guard key.secret.count >= Self.minimumSecretBytes else { throw Failure(reason: .secretTooShort, line: k + 1) }
        }
        self.keys = keys
    }

    /// `--jwt-key-file`: one `kid=secret` per line (split at the first `=`; the secret is the
    /// rest of the line as UTF-8, exactly, bar a CR before the LF). Lines that are empty or
    /// only spaces and tabs, and lines whose first non-blank character is `#`, are skipped.
    public static func parse(keyFile text: String) throws(Failure) -> KeyRing {
        var keys: [(kid: String, secret: [UInt8])] = []
        var lineOfKey: [Int] = []
        for (k, rawLine) in text.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() {
            var line = rawLine[...]
            if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
            let content = line.drop { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
            if content.isEmpty || content.first == UInt8(ascii: "#") { continue }
            guard let eq = line.firstIndex(of: UInt8(ascii: "=")) else { throw Failure(reason: .missingEquals, line: k + 1) }
            keys.append((String(decoding: line[..<eq], as: UTF8.self), Array(line[line.index(after: eq)...])))
            lineOfKey.append(k + 1)
        }
        do {
            return try KeyRing(keys: keys)
        } catch {
            // Position in the list → line in the file.
            throw Failure(reason: error.reason, line: error.line.map { lineOfKey[$0 - 1] })
        }
    }

    /// The secret for `kid`, if the ring has it.
    func secret(for kid: String) -> [UInt8]? {
        keys.first { $0.kid == kid }?.secret
    }

    var signingSecret: [UInt8] { keys[0].secret }

    static func isValidKid(_ kid: String) -> Bool {
        (1...64).contains(kid.utf8.count) && kid.utf8.allSatisfy(isIDByte)
    }

    /// `A-Za-z0-9_-`: key ids, and the alphabet of base64url.
    static func isIDByte(_ c: UInt8) -> Bool {
        switch c {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"): true
        default: false
        }
    }

    public var description: String { "KeyRing(kids: \(kids))" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["kids": kids]) }
}

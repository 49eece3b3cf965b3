/// Why a JSON text was refused, and the byte offset where the parser noticed.
///
/// The description is safe to log: it never quotes the input, which may hold passwords. The
/// one exception is a duplicate key's name, cut to `maxQuotedKeyBytes` and escaped.
public struct JSONParseError: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Kind: Equatable, Sendable {
        case unexpectedEnd
        case unexpectedByte(UInt8)
        case invalidNumber
        case invalidEscape
        case invalidUTF8
        case controlCharacter
        case loneSurrogate
        case tooDeep
        case duplicateKey(String)
        case trailingBytes
    }

    public let kind: Kind
    public let offset: Int

    /// How much of a duplicate key's name is kept (in the kind and the description).
    public static let maxQuotedKeyBytes = 64

    public init(_ kind: Kind, offset: Int) {
        if case .duplicateKey(let key) = kind {
            self.kind = .duplicateKey(Self.truncated(key))
        } else {
            self.kind = kind
        }
        self.offset = offset
    }

    public var description: String {
        let what: String
        switch kind {
        case .unexpectedEnd: what = "unexpected end of input"
        case .unexpectedByte(let b): what = "unexpected byte 0x" + (b < 0x10 ? "0" : "") + String(b, radix: 16)
        case .invalidNumber: what = "invalid number"
        case .invalidEscape: what = "invalid escape"
        case .invalidUTF8: what = "invalid UTF-8"
        case .controlCharacter: what = "unescaped control character in a string"
        case .loneSurrogate: what = "lone surrogate escape"
        case .tooDeep: what = "nesting too deep"
        case .duplicateKey(let key):
            // Escaped, so a key cannot forge log lines; cut again in case the kind was built elsewhere.
            var w = JSONWriter(reservingCapacity: Self.maxQuotedKeyBytes + 8)
            w.writeString(Self.truncated(key))
            what = "duplicate key " + String(decoding: w.bytes, as: UTF8.self)
        case .trailingBytes: what = "trailing bytes after the value"
        }
        return what + " at offset " + String(offset)
    }

    /// The longest prefix of `key` of at most `maxQuotedKeyBytes` UTF-8 bytes, cut between scalars.
    static func truncated(_ key: String) -> String {
        guard key.utf8.count > maxQuotedKeyBytes else { return key }
        var bytes = 0
        var end = key.unicodeScalars.startIndex
        for scalar in key.unicodeScalars {
            let width = UTF8.width(scalar)
            if bytes + width > maxQuotedKeyBytes { break }
            bytes += width
            end = key.unicodeScalars.index(after: end)
        }
        return String(key.unicodeScalars[..<end])
    }
}

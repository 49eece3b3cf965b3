/// One element of a `Sec-WebSocket-Extensions` request header (RFC 6455 §9.1):
///
///     extension       = extension-token *( ";" extension-param )
///     extension-param = token [ "=" (token | quoted-string) ]
///
/// Names are lower-cased; a quoted value is unescaped and must then be a token itself.
public struct ExtensionOffer: Sendable, Equatable {
    public struct Parameter: Sendable, Equatable {
        public var name: String
        /// nil when the parameter had no `=value`.
        public var value: String?

        public init(_ name: String, _ value: String? = nil) {
            self.name = name
            self.value = value
        }
    }

    public var name: String
    public var parameters: [Parameter]

    public init(_ name: String, _ parameters: [Parameter] = []) {
        self.name = name
        self.parameters = parameters
    }

    /// Every offer across all header values, in order (a client may send several headers,
    /// each with several comma-separated offers). A malformed element comes back as nil, so the
    /// caller can decline it without losing the offers around it.
    public static func parse(_ headerValues: [String]) -> [ExtensionOffer?] {
        var offers: [ExtensionOffer?] = []
        for value in headerValues {
            var scanner = Scanner(Array(value.utf8))
            while let element = scanner.nextElement() { offers.append(element) }
        }
        return offers
    }

    /// Splits one header value into elements. Commas and semicolons inside quoted strings
    /// belong to the value; an unterminated quote makes the rest of the value one bad element.
    struct Scanner {
        let bytes: [UInt8]
        var i = 0

        init(_ bytes: [UInt8]) { self.bytes = bytes }

        /// The next element (nil inside: malformed), or nil at the end of the value.
        mutating func nextElement() -> ExtensionOffer?? {
            while true {
                skipWhitespace()
                guard i < bytes.count else { return nil }
                if bytes[i] == UInt8(ascii: ",") {
                    i += 1   // empty list element: allowed by the #rule, ignored
                    continue
                }
                let start = i
                if let offer = element() {
                    return .some(offer)
                }
                i = start
                skipPastElement()
                return .some(nil)
            }
        }

        /// Parses `token *( OWS ";" OWS param )` up to the next comma or the end.
        private mutating func element() -> ExtensionOffer? {
            guard let name = token() else { return nil }
            var parameters: [Parameter] = []
            while true {
                skipWhitespace()
                if i == bytes.count { break }
                if bytes[i] == UInt8(ascii: ",") {
                    i += 1
                    break
                }
                guard bytes[i] == UInt8(ascii: ";") else { return nil }
                i += 1
                skipWhitespace()
                guard let parameterName = token() else { return nil }
                skipWhitespace()
                var value: String?
                if i < bytes.count && bytes[i] == UInt8(ascii: "=") {
                    i += 1
                    skipWhitespace()
                    guard let v = i < bytes.count && bytes[i] == UInt8(ascii: "\"") ? quotedToken() : token() else { return nil }
                    value = v
                }
                parameters.append(Parameter(parameterName.lowercased(), value))
            }
            return ExtensionOffer(name.lowercased(), parameters)
        }

        private mutating func token() -> String? {
            let start = i
            while i < bytes.count && ExtensionOffer.isTokenByte(bytes[i]) { i += 1 }
            guard i > start else { return nil }
            return String(decoding: bytes[start..<i], as: UTF8.self)
        }

        /// A quoted-string whose unescaped content is a token (§9.1).
        private mutating func quotedToken() -> String? {
            i += 1   // opening quote
            var content: [UInt8] = []
            while i < bytes.count {
                let b = bytes[i]
                i += 1
                switch b {
                case UInt8(ascii: "\""):
                    guard !content.isEmpty, content.allSatisfy(ExtensionOffer.isTokenByte) else { return nil }
                    return String(decoding: content, as: UTF8.self)
                case UInt8(ascii: "\\"):
                    guard i < bytes.count else { return nil }
                    content.append(bytes[i])
                    i += 1
                default:
                    content.append(b)
                }
            }
            return nil   // unterminated
        }

        private mutating func skipWhitespace() {
            while i < bytes.count && (bytes[i] == UInt8(ascii: " ") || bytes[i] == UInt8(ascii: "\t")) { i += 1 }
        }

        /// Moves past the next comma that is outside quotes (or to the end).
        private mutating func skipPastElement() {
            var quoted = false
            while i < bytes.count {
                let b = bytes[i]
                i += 1
                if quoted {
                    if b == UInt8(ascii: "\\") { i += 1 } else if b == UInt8(ascii: "\"") { quoted = false }
                } else if b == UInt8(ascii: "\"") {
                    quoted = true
                } else if b == UInt8(ascii: ",") {
                    return
                }
            }
            i = bytes.count
        }
    }

    /// RFC 7230 tchar.
    static func isTokenByte(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return "!#$%&'*+-.^_`|~".utf8.contains(b)
        }
    }
}

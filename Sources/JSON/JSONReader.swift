/// One parse in progress: the position, the containers still open and a scratch buffer for
/// strings with escapes. The input is passed to every step and never stored (STYLE 7.3.2).
///
/// Containers are kept on explicit stacks instead of the call stack, so nesting costs heap, not
/// stack, and `maxDepth` is the only limit. The elements and members of all open containers
/// share two stacks; a container that closes takes its own as one array of exactly its size
/// (cheaper than growing an array per container, and no spare capacity left in the result).
struct JSONReader {
    private var i = 0
    private let maxDepth: Int
    private var open: [OpenContainer] = []
    private var elements: [JSONValue] = []
    /// An object's member is pushed with its key as soon as the key is read, its value filled
    /// in once parsed: nested members are all popped by then, so it is still the last one.
    private var members: [(key: String, value: JSONValue)] = []
    private var scratch: [UInt8] = []

    private struct OpenContainer {
        let isObject: Bool
        /// Where its elements or members begin on their stack.
        let start: Int
        /// An object's keys, built once it grows past `linearLimit` members, so a hostile object
        /// with many keys costs O(n), not O(n²), to check.
        var seen: Set<String>?

        static let linearLimit = 16
    }

    init(maxDepth: Int) { self.maxDepth = maxDepth }

    private func fail(_ kind: JSONParseError.Kind, at offset: Int) -> JSONParseError {
        JSONParseError(kind, offset: offset)
    }

    /// `unexpectedEnd` at the end of input, otherwise `unexpectedByte` for the byte at `i`.
    private func unexpected(_ b: UnsafeRawBufferPointer) -> JSONParseError {
        i < b.count ? fail(.unexpectedByte(b[i]), at: i) : fail(.unexpectedEnd, at: b.count)
    }

    mutating func document(_ b: UnsafeRawBufferPointer) throws(JSONParseError) -> JSONValue {
        let value = try value(b)
        skipWhitespace(b)
        guard i == b.count else { throw fail(.trailingBytes, at: i) }
        return value
    }

    // MARK: - Structure

    /// Parses one value, with everything nested in it, leaving `i` just after it.
    private mutating func value(_ b: UnsafeRawBufferPointer) throws(JSONParseError) -> JSONValue {
        let n = b.count
        nextValue: while true {
            skipWhitespace(b)
            guard i < n else { throw fail(.unexpectedEnd, at: n) }
            var value: JSONValue
            switch b[i] {
            case UInt8(ascii: "{"):
                try openContainer(isObject: true)
                i += 1
                skipWhitespace(b)
                if i < n && b[i] == UInt8(ascii: "}") {
                    i += 1
                    open.removeLast()
                    value = .object(JSONObject())
                } else {
                    try key(b)
                    continue nextValue
                }
            case UInt8(ascii: "["):
                try openContainer(isObject: false)
                i += 1
                skipWhitespace(b)
                if i < n && b[i] == UInt8(ascii: "]") {
                    i += 1
                    open.removeLast()
                    value = .array([])
                } else {
                    continue nextValue
                }
            case UInt8(ascii: "\""): value = .string(try string(b))
            case UInt8(ascii: "t"): try literal(b, "true"); value = .bool(true)
            case UInt8(ascii: "f"): try literal(b, "false"); value = .bool(false)
            case UInt8(ascii: "n"): try literal(b, "null"); value = .null
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): value = .number(try number(b))
            default: throw unexpected(b)
            }
            // A value is complete: hand it to the innermost container, closing every container
            // that ends here, until one wants another value (or none is left).
            while let container = open.last {
                skipWhitespace(b)
                guard i < n else { throw fail(.unexpectedEnd, at: n) }
                let c = b[i]
                if container.isObject {
                    members[members.count - 1].value = value
                    if c == UInt8(ascii: ",") {
                        i += 1
                        skipWhitespace(b)
                        try key(b)
                        continue nextValue
                    }
                    guard c == UInt8(ascii: "}") else { throw unexpected(b) }
                    value = .object(JSONObject(Array(members[container.start...])))
                    members.removeSubrange(container.start...)
                } else {
                    elements.append(value)
                    if c == UInt8(ascii: ",") {
                        i += 1
                        continue nextValue
                    }
                    guard c == UInt8(ascii: "]") else { throw unexpected(b) }
                    value = .array(Array(elements[container.start...]))
                    elements.removeSubrange(container.start...)
                }
                i += 1
                open.removeLast()
            }
            return value
        }
    }

    private mutating func openContainer(isObject: Bool) throws(JSONParseError) {
        guard open.count < maxDepth else { throw fail(.tooDeep, at: i) }
        open.append(OpenContainer(isObject: isObject, start: isObject ? members.count : elements.count))
    }

    /// A member's key and its colon; `i` is at the key's quote (after whitespace).
    private mutating func key(_ b: UnsafeRawBufferPointer) throws(JSONParseError) {
        guard i < b.count && b[i] == UInt8(ascii: "\"") else { throw unexpected(b) }
        let start = i
        let key = try string(b)
        guard isNewKey(key) else { throw fail(.duplicateKey(key), at: start) }
        members.append((key, .null))
        skipWhitespace(b)
        guard i < b.count && b[i] == UInt8(ascii: ":") else { throw unexpected(b) }
        i += 1
    }

    /// False when the innermost object already has `key`, and so the message is ambiguous. Keys
    /// compare as Swift strings (canonical equivalence), as `JSONObject`'s subscript does, so
    /// no two members can answer one lookup.
    private mutating func isNewKey(_ key: String) -> Bool {
        let last = open.count - 1
        if open[last].seen != nil { return open[last].seen!.insert(key).inserted }
        let mine = members[open[last].start...]
        if mine.count < OpenContainer.linearLimit { return !mine.contains { $0.key == key } }
        open[last].seen = Set(mine.lazy.map(\.key))
        return open[last].seen!.insert(key).inserted
    }

    private mutating func skipWhitespace(_ b: UnsafeRawBufferPointer) {
        while i < b.count {
            switch b[i] {
            case 0x20, 0x0A, 0x0D, 0x09: i += 1
            default: return
            }
        }
    }

    // MARK: - Scalars

    /// `true`, `false` or `null`; `i` is at its first letter.
    private mutating func literal(_ b: UnsafeRawBufferPointer, _ word: StaticString) throws(JSONParseError) {
        let letters = UnsafeBufferPointer(start: word.utf8Start, count: word.utf8CodeUnitCount)
        for letter in letters {
            guard i < b.count && b[i] == letter else { throw unexpected(b) }
            i += 1
        }
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`, kept as its text.
    private mutating func number(_ b: UnsafeRawBufferPointer) throws(JSONParseError) -> JSONNumber {
        let start = i
        if b[i] == UInt8(ascii: "-") { i += 1 }
        guard i < b.count else { throw fail(.unexpectedEnd, at: i) }
        if b[i] == UInt8(ascii: "0") {
            i += 1
            if i < b.count && isDigit(b[i]) { throw fail(.invalidNumber, at: i) }   // leading zero
        } else {
            try digits(b)
        }
        if i < b.count && b[i] == UInt8(ascii: ".") {
            i += 1
            try digits(b)
        }
        if i < b.count && (b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E")) {
            i += 1
            if i < b.count && (b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-")) { i += 1 }
            try digits(b)
        }
        return JSONNumber(uncheckedText: String(decoding: UnsafeRawBufferPointer(rebasing: b[start..<i]), as: UTF8.self))
    }

    /// One or more digits.
    private mutating func digits(_ b: UnsafeRawBufferPointer) throws(JSONParseError) {
        guard i < b.count else { throw fail(.unexpectedEnd, at: i) }
        guard isDigit(b[i]) else { throw fail(.invalidNumber, at: i) }
        repeat { i += 1 } while i < b.count && isDigit(b[i])
    }

    private func isDigit(_ c: UInt8) -> Bool { c &- UInt8(ascii: "0") < 10 }

    /// A string; `i` is at its opening quote and ends just after the closing one.
    private mutating func string(_ b: UnsafeRawBufferPointer) throws(JSONParseError) -> String {
        i += 1
        var runStart = i
        try skipPlain(b)
        if b[i] == UInt8(ascii: "\"") {
            // No escapes: the bytes are already validated, decode them in one go.
            defer { i += 1 }
            return String(decoding: UnsafeRawBufferPointer(rebasing: b[runStart..<i]), as: UTF8.self)
        }
        scratch.removeAll(keepingCapacity: true)
        while true {
            scratch.append(contentsOf: UnsafeRawBufferPointer(rebasing: b[runStart..<i]))
            if b[i] == UInt8(ascii: "\"") {
                i += 1
                return String(decoding: scratch, as: UTF8.self)
            }
            try escape(b)
            runStart = i
            try skipPlain(b)
        }
    }

    /// Moves `i` over string bytes that stand for themselves, to the next `"` or `\`.
    private mutating func skipPlain(_ b: UnsafeRawBufferPointer) throws(JSONParseError) {
        while true {
            i = JSONScan.plainASCIIEnd(b, from: i)
            guard i < b.count else { throw fail(.unexpectedEnd, at: i) }
            let c = b[i]
            if c == UInt8(ascii: "\"") || c == UInt8(ascii: "\\") { return }
            if c < 0x20 { throw fail(.controlCharacter, at: i) }
            try utf8Sequence(b)
        }
    }

    /// One multi-byte UTF-8 sequence (RFC 3629: no overlongs, no surrogates, nothing above
    /// U+10FFFF); `i` is at its lead byte.
    private mutating func utf8Sequence(_ b: UnsafeRawBufferPointer) throws(JSONParseError) {
        // The lead byte fixes the length and the range of the first continuation byte.
        let length: Int
        var low: UInt8 = 0x80, high: UInt8 = 0xBF
        switch b[i] {
        case 0xC2...0xDF: length = 2
        case 0xE0: length = 3; low = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED: length = 3; high = 0x9F
        case 0xF0: length = 4; low = 0x90
        case 0xF1...0xF3: length = 4
        case 0xF4: length = 4; high = 0x8F
        default: throw fail(.invalidUTF8, at: i)
        }
        for k in 1..<length {
            guard i + k < b.count else { throw fail(.unexpectedEnd, at: b.count) }
            let c = b[i + k]
            guard c >= low && c <= high else { throw fail(.invalidUTF8, at: i + k) }
            low = 0x80
            high = 0xBF
        }
        i += length
    }

    /// One escape, appended to `scratch` as UTF-8; `i` is at the backslash.
    private mutating func escape(_ b: UnsafeRawBufferPointer) throws(JSONParseError) {
        let start = i
        guard i + 1 < b.count else { throw fail(.unexpectedEnd, at: b.count) }
        let c = b[i + 1]
        i += 2
        switch c {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): scratch.append(c)
        case UInt8(ascii: "b"): scratch.append(0x08)
        case UInt8(ascii: "f"): scratch.append(0x0C)
        case UInt8(ascii: "n"): scratch.append(0x0A)
        case UInt8(ascii: "r"): scratch.append(0x0D)
        case UInt8(ascii: "t"): scratch.append(0x09)
        case UInt8(ascii: "u"):
            var code = try hex4(b)
            switch code {
            case 0xD800...0xDBFF:
                // A high surrogate counts only with a low one escaped right after it.
                guard i < b.count else { throw fail(.unexpectedEnd, at: i) }
                guard b[i] == UInt8(ascii: "\\") else { throw fail(.loneSurrogate, at: start) }
                guard i + 1 < b.count else { throw fail(.unexpectedEnd, at: b.count) }
                guard b[i + 1] == UInt8(ascii: "u") else { throw fail(.loneSurrogate, at: start) }
                i += 2
                let low = try hex4(b)
                guard (0xDC00...0xDFFF).contains(low) else { throw fail(.loneSurrogate, at: start) }
                code = 0x10000 + (code - 0xD800) << 10 + (low - 0xDC00)
            case 0xDC00...0xDFFF:
                throw fail(.loneSurrogate, at: start)
            default:
                break
            }
            appendUTF8(code)
        default:
            throw fail(.invalidEscape, at: i - 1)
        }
    }

    /// The four hex digits of a `\u` escape.
    private mutating func hex4(_ b: UnsafeRawBufferPointer) throws(JSONParseError) -> UInt32 {
        var code: UInt32 = 0
        for _ in 0..<4 {
            guard i < b.count else { throw fail(.unexpectedEnd, at: i) }
            let c = b[i]
            let digit: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = c - UInt8(ascii: "A") + 10
            default: throw fail(.invalidEscape, at: i)
            }
            code = code << 4 | UInt32(digit)
            i += 1
        }
        return code
    }

    /// A scalar value (never a surrogate) as UTF-8.
    private mutating func appendUTF8(_ code: UInt32) {
        switch code {
        case ..<0x80:
            scratch.append(UInt8(code))
        case ..<0x800:
            scratch.append(UInt8(0xC0 | code >> 6))
            scratch.append(UInt8(0x80 | code & 0x3F))
        case ..<0x10000:
            scratch.append(UInt8(0xE0 | code >> 12))
            scratch.append(UInt8(0x80 | code >> 6 & 0x3F))
            scratch.append(UInt8(0x80 | code & 0x3F))
        default:
            scratch.append(UInt8(0xF0 | code >> 18))
            scratch.append(UInt8(0x80 | code >> 12 & 0x3F))
            scratch.append(UInt8(0x80 | code >> 6 & 0x3F))
            scratch.append(UInt8(0x80 | code & 0x3F))
        }
    }
}

/// Appends compact JSON text (no spaces) to `bytes`, for replies and event frames.
///
/// Strings get only the escapes JSON requires (`\"`, `\\`, `\n`, `\r`, `\t`, `\b`, `\f`, the
/// other controls as `\u00xx`); everything else, U+2028/2029 included, passes as UTF-8.
/// Whatever is written parses back to the same value.
public struct JSONWriter: Sendable {
    public var bytes: [UInt8]

    public init(reservingCapacity: Int = 256) {
        bytes = []
        bytes.reserveCapacity(reservingCapacity)
    }

    /// Writes `value` recursively, one level per nesting level (see `JSONParser.maxDepth`).
    public mutating func write(_ value: JSONValue) {
        switch value {
        case .null: writeRaw("null")
        case .bool(let b): b ? writeRaw("true") : writeRaw("false")
        case .number(let n): writeNumber(n)
        case .string(let s): writeString(s)
        case .array(let elements):
            bytes.append(UInt8(ascii: "["))
            for (k, element) in elements.enumerated() {
                if k > 0 { bytes.append(UInt8(ascii: ",")) }
                write(element)
            }
            bytes.append(UInt8(ascii: "]"))
        case .object(let object):
            bytes.append(UInt8(ascii: "{"))
            for (k, member) in object.members.enumerated() {
                if k > 0 { bytes.append(UInt8(ascii: ",")) }
                writeString(member.key)
                bytes.append(UInt8(ascii: ":"))
                write(member.value)
            }
            bytes.append(UInt8(ascii: "}"))
        }
    }

    /// `s` quoted and escaped.
    public mutating func writeString(_ s: String) {
        var s = s   // `withUTF8` may have to make a bridged string contiguous first
        s.withUTF8 { appendQuoted(UnsafeRawBufferPointer($0)) }
    }

    /// Bytes the caller vouches for as JSON text, e.g. `writeRaw("{\"jsonrpc\":\"2.0\",\"result\":")`.
    public mutating func writeRaw(_ ascii: StaticString) {
        ascii.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    public mutating func writeRaw(_ raw: UnsafeRawBufferPointer) {
        bytes.append(contentsOf: raw)
    }

    public mutating func writeRaw(_ raw: [UInt8]) {
        bytes.append(contentsOf: raw)
    }

    /// Decimal digits, without going through a String.
    public mutating func writeInt(_ n: Int64) {
        if n < 0 { bytes.append(UInt8(ascii: "-")) }
        var rest = n.magnitude
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var at = digits.count
            repeat {
                at -= 1
                digits[at] = UInt8(ascii: "0") + UInt8(rest % 10)
                rest /= 10
            } while rest != 0
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: digits[at...]))
        }
    }

    public mutating func writeInt(_ n: Int) {
        writeInt(Int64(n))
    }

    /// The number's text, as parsed or built.
    public mutating func writeNumber(_ n: JSONNumber) {
        bytes.append(contentsOf: n.text.utf8)
    }

    private mutating func appendQuoted(_ utf8: UnsafeRawBufferPointer) {
        bytes.append(UInt8(ascii: "\""))
        var i = 0
        var run = 0   // start of the bytes not yet copied
        while true {
            i = JSONScan.plainASCIIEnd(utf8, from: i)
            guard i < utf8.count else { break }
            let c = utf8[i]
            i += 1
            if c >= 0x80 { continue }   // part of a UTF-8 sequence: copied as it is
            bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: utf8[run..<(i - 1)]))
            run = i
            appendEscape(c)
        }
        bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: utf8[run...]))
        bytes.append(UInt8(ascii: "\""))
    }

    /// The escape for `"`, `\` or a control character.
    private mutating func appendEscape(_ c: UInt8) {
        let short: UInt8
        switch c {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"): short = c
        case 0x0A: short = UInt8(ascii: "n")
        case 0x0D: short = UInt8(ascii: "r")
        case 0x09: short = UInt8(ascii: "t")
        case 0x08: short = UInt8(ascii: "b")
        case 0x0C: short = UInt8(ascii: "f")
        default:
            let hex: StaticString = "0123456789abcdef"
            let digits = hex.utf8Start
            writeRaw("\\u00")
            bytes.append(digits[Int(c >> 4)])
            bytes.append(digits[Int(c & 0xF)])
            return
        }
        bytes.append(UInt8(ascii: "\\"))
        bytes.append(short)
    }
}

import Testing
@testable import JSON

/// The UTF-8 bytes of `s`.
func b(_ s: String) -> [UInt8] { Array(s.utf8) }

/// `raw` between double quotes: a JSON string literal with bytes a Swift string cannot hold.
func quoted(_ raw: [UInt8]) -> [UInt8] { [0x22] + raw + [0x22] }

/// `.unexpectedByte` for an ASCII character.
func byte(_ c: Unicode.Scalar) -> JSONParseError.Kind { .unexpectedByte(UInt8(ascii: c)) }

func number(_ text: String) -> JSONValue { .number(JSONNumber(uncheckedText: text)) }

func parse(_ bytes: [UInt8], maxDepth: Int = 64) -> Result<JSONValue, JSONParseError> {
    Result { () throws(JSONParseError) in try JSONParser(maxDepth: maxDepth).parse(bytes) }
}

/// A JSON text that should parse to `expected`.
struct Accepted: Sendable, CustomTestStringConvertible {
    let name: String
    let input: [UInt8]
    let expected: JSONValue
    init(_ name: String, _ input: [UInt8], _ expected: JSONValue) {
        self.name = name
        self.input = input
        self.expected = expected
    }
    var testDescription: String { name }
}

/// A JSON text that must be refused with `kind`, at `offset` when given.
struct Rejected: Sendable, CustomTestStringConvertible {
    let name: String
    let input: [UInt8]
    let kind: JSONParseError.Kind
    let offset: Int?
    init(_ name: String, _ input: [UInt8], _ kind: JSONParseError.Kind, at offset: Int? = nil) {
        self.name = name
        self.input = input
        self.kind = kind
        self.offset = offset
    }
    var testDescription: String { name }
}

/// xorshift64*: small, seedable and the same everywhere, so failures reproduce.
struct TestRNG: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed | 1 }
    mutating func next() -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 0x2545_F491_4F6C_DD1D
    }
}

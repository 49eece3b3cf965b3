import Testing
import Money

@Suite("Parsing and canonical text")
struct GrammarTests {
    /// (input, canonical output or nil when refused) for `init?(contractInput:)`:
    /// `(0|[1-9][0-9]{0,19})(\.[0-9]{1,10})?`.
    static let contract: [(String, String?)] = [
        ("0", "0"), ("7", "7"), ("10.50", "10.5"), ("3.000", "3"), ("0.000001", "0.000001"), ("0.0", "0"),
        ("0.0000000001", "0.0000000001"), ("187.25", "187.25"),
        ("99999999999999999999", "99999999999999999999"),                      // 20 integer digits
        ("99999999999999999999.9999999999", "99999999999999999999.9999999999"),
        ("12345678901234567890.1234567890", "12345678901234567890.123456789"),
        ("100000000000000000000", nil),                                        // 21 integer digits
        ("1.12345678901", nil), ("0.00000000001", nil),                        // 11 fractional digits
        ("01", nil), ("00", nil), ("00.5", nil), ("007", nil),                 // leading zeros
        (".", nil), (".5", nil), ("5.", nil), ("", nil), ("-", nil), ("+1", nil), ("-1", nil), ("-0", nil),
        ("1e5", nil), ("1E5", nil), ("1.5e-3", nil), (" 1", nil), ("1 ", nil), ("1 000", nil), ("1.2.3", nil),
        ("1..2", nil), ("1,5", nil), ("0x10", nil), ("NaN", nil), ("inf", nil),
        ("١", nil), ("١٢٣", nil), ("1٢", nil), ("１", nil),                    // non-ASCII digits
        (String(repeating: "1", count: 201), nil),
    ]

    @Test(arguments: contract)
    func contractInput(_ text: String, _ expected: String?) {
        #expect(ExactDecimal(contractInput: text)?.description == expected)
    }

    /// For `init?(canonicalOrPlain:)`: `-?[0-9]+(\.[0-9]+)?`, at most 200 characters.
    static let plain: [(String, String?)] = [
        ("0", "0"), ("-0", "0"), ("-0.00", "0"), ("0000", "0"), ("10.50", "10.5"), ("3.000", "3"),
        ("0.000001", "0.000001"), ("-0.000001", "-0.000001"), ("007.0700", "7.07"), ("-0012", "-12"),
        ("10.5000", "10.5"), ("-187.25", "-187.25"),
        ("100000000000000000000", "100000000000000000000"), ("1.12345678901", "1.12345678901"),
        ("123456789012345678901234567890.12345678901234567890", "123456789012345678901234567890.1234567890123456789"),
        (".", nil), (".5", nil), ("5.", nil), ("-.5", nil), ("-5.", nil), ("", nil), ("-", nil), ("--1", nil),
        ("+1", nil), ("1e5", nil), ("1E-5", nil), (" 1", nil), ("1 ", nil), ("- 1", nil), ("1.2.3", nil),
        ("1-", nil), ("0-1", nil), ("−1", nil), ("١", nil), ("-١", nil), ("1.٥", nil), ("１", nil),
        (String(repeating: "1", count: 200), String(repeating: "1", count: 200)),
        ("-" + String(repeating: "0", count: 199), "0"),
        ("0." + String(repeating: "0", count: 197) + "1", "0." + String(repeating: "0", count: 197) + "1"),
        (String(repeating: "1", count: 201), nil),
        ("-" + String(repeating: "1", count: 200), nil),
        ("0." + String(repeating: "0", count: 199), nil),
    ]

    @Test(arguments: plain)
    func canonicalOrPlain(_ text: String, _ expected: String?) {
        #expect(ExactDecimal(canonicalOrPlain: text)?.description == expected)
    }

    /// Every canonical output parses back to itself.
    @Test(arguments: ["0", "1", "-1", "10.5", "-0.0000000001", "123456789012345678901234567890.123456789"])
    func canonicalRoundTrips(_ text: String) throws {
        #expect(try dec(text).description == text)
    }

    @Test func integersAndZero() {
        #expect(ExactDecimal(0) == .zero)
        #expect(ExactDecimal(0).description == "0")
        #expect(ExactDecimal(-42).description == "-42")
        #expect(ExactDecimal(Int.max).description == "9223372036854775807")
        #expect(ExactDecimal(Int.min).description == "-9223372036854775808")
        #expect(ExactDecimal.zero.isZero && !ExactDecimal.zero.isNegative && ExactDecimal.zero.signum == 0)
        #expect((-ExactDecimal.zero).description == "0")
        #expect(!(-ExactDecimal.zero).isNegative)
    }

    @Test(arguments: [("0", 0), ("0.5", 0), ("-0.999", 0), ("1", 1), ("-9.99", 1), ("10", 2), ("99.5", 2),
                      ("100", 3), ("-123456789012345678901234567890.5", 30), ("1000000000", 10), ("999999999", 9)])
    func integerDigitCount(_ text: String, _ expected: Int) throws {
        #expect(try dec(text).integerDigitCount == expected)
    }

    @Test func signs() throws {
        #expect(try dec("-0.0001").isNegative && dec("-0.0001").signum == -1)
        #expect(try !dec("0.0001").isNegative && dec("0.0001").signum == 1)
        #expect(try !dec("-0.000").isNegative && dec("-0.000").isZero)
    }
}

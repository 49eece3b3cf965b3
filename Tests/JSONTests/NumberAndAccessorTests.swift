import Testing
@testable import JSON

@Suite("Numbers")
struct NumberTests {
    /// The text is kept byte for byte: nothing is normalised, rounded or widened.
    @Test(arguments: ["1.50", "-0", "1E400", "-0.0", "0e0", "1e-400", "123456789012345678901234567890", "2.500E+03"])
    func textIsPreserved(_ text: String) throws {
        let value = try JSONParser().parse(b("[\(text)]"))
        #expect(value.arrayValue?.first?.numberValue?.text == text)
        #expect(value.jsonBytes == b("[\(text)]"))
    }

    static let int64Cases: [(String, Int64?)] = [
        ("0", 0), ("-0", 0), ("1", 1), ("-1", -1), ("42", 42),
        ("9223372036854775807", .max), ("-9223372036854775808", .min),
        ("9223372036854775808", nil), ("-9223372036854775809", nil),
        ("99999999999999999999", nil), ("-99999999999999999999", nil),
        ("123456789012345678901234567890", nil), ("92233720368547758070", nil),
        ("1.0", nil), ("1e2", nil), ("1E2", nil), ("-0.5", nil),
    ]

    @Test(arguments: int64Cases)
    func int64(_ text: String, _ expected: Int64?) {
        #expect(JSONNumber(uncheckedText: text).int64 == expected)
    }

    @Test(arguments: [("1", true), ("-0", true), ("99999999999999999999", true), ("1.0", false), ("1e0", false), ("1E0", false)])
    func isInteger(_ text: String, _ expected: Bool) {
        #expect(JSONNumber(uncheckedText: text).isInteger == expected)
    }

    @Test(arguments: [("1.5", 1.5), ("-2", -2.0), ("1e-2", 0.01), ("12345678901234567890", 12345678901234567890.0),
                      ("1e-400", 0.0), ("1.7976931348623157e308", .greatestFiniteMagnitude)])
    func double(_ text: String, _ expected: Double) {
        #expect(JSONNumber(uncheckedText: text).double == expected)
    }

    @Test func doubleOfNegativeZeroKeepsItsSign() {
        #expect(JSONNumber(uncheckedText: "-0").double?.sign == .minus)
    }

    @Test(arguments: ["1E400", "-1e309", "1.8e308"])
    func doubleIsNilWhenNotFinite(_ text: String) {
        #expect(JSONNumber(uncheckedText: text).double == nil)
    }

    @Test func intInitialiser() {
        #expect(JSONNumber(-17).text == "-17")
        #expect(JSONNumber(Int.min).int64 == Int64(Int.min))
    }
}

@Suite("Accessors")
struct AccessorTests {
    @Test func objectLookupKeepsSourceOrder() throws {
        let value = try JSONParser().parse(b(#"{"jsonrpc":"2.0","id":7,"method":"subscribe","params":{"channel":"px"}}"#))
        let object = try #require(value.objectValue)
        #expect(object.count == 4)
        #expect(object.keys == ["jsonrpc", "id", "method", "params"])
        #expect(object["method"]?.stringValue == "subscribe")
        #expect(object["id"]?.numberValue?.int64 == 7)
        #expect(object["params"]?.objectValue?["channel"] == "px")
        #expect(object["missing"] == nil)
    }

    @Test func setReplacesInPlaceOrAppends() {
        var object = JSONObject([("a", 1), ("b", 2)])
        object.set("a", "x")
        object.set("c", .null)
        #expect(object.keys == ["a", "b", "c"])
        #expect(object == JSONObject([("a", "x"), ("b", 2), ("c", .null)]))
        #expect(JSONValue.object(object).jsonBytes == b(#"{"a":"x","b":2,"c":null}"#))
    }

    @Test func typedAccessorsAnswerOnlyForTheirCase() {
        let all: [JSONValue] = [.null, true, 1, "s", [1], ["k": 1]]
        #expect(all.map(\.isNull) == [true, false, false, false, false, false])
        #expect(all.map { $0.boolValue != nil } == [false, true, false, false, false, false])
        #expect(all.map { $0.numberValue != nil } == [false, false, true, false, false, false])
        #expect(all.map { $0.stringValue != nil } == [false, false, false, true, false, false])
        #expect(all.map { $0.arrayValue != nil } == [false, false, false, false, true, false])
        #expect(all.map { $0.objectValue != nil } == [false, false, false, false, false, true])
        #expect(JSONValue.bool(false).boolValue == false)
        #expect(JSONValue.array([]).arrayValue == [])
    }

    @Test func objectEqualityIsOrderSensitive() {
        #expect(JSONValue(dictionaryLiteral: ("a", 1), ("b", 2)) != ["b": 2, "a": 1])
    }
}

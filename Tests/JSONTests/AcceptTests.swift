import Testing
@testable import JSON

/// JSONTestSuite-style `y_` cases: each must parse, to exactly this value.
@Suite("Accepted texts")
struct AcceptTests {
    static let structure: [Accepted] = [
        .init("y_array_empty", b("[]"), []),
        .init("y_array_empty_spaced", b(" [ ] "), []),
        .init("y_array_nested_empty", b("[[[]]]"), [[[]]]),
        .init("y_array_mixed", b(#"[1,"a",true,false,null,{},[]]"#), [1, "a", true, false, .null, [:], []]),
        .init("y_array_whitespace_everywhere", b("\t[\r\n1 ,\t2 ]\n"), [1, 2]),
        .init("y_array_of_objects_same_key", b(#"[{"a":1},{"a":2}]"#), [["a": 1], ["a": 2]]),
        .init("y_object_empty", b("{}"), [:]),
        .init("y_object_empty_spaced", b("{ \n}"), [:]),
        .init("y_object_basic", b(#"{"a":1}"#), ["a": 1]),
        .init("y_object_spaced", b(#"{ "a" : 1 , "b" : [ ] }"#), ["a": 1, "b": []]),
        .init("y_object_nested", b(#"{"a":{"b":{"c":null}}}"#), ["a": ["b": ["c": .null]]]),
        .init("y_object_nested_same_key", b(#"{"a":{"a":1}}"#), ["a": ["a": 1]]),
        .init("y_object_empty_key", b(#"{"":0}"#), ["": 0]),
        .init("y_object_source_order", b(#"{"z":1,"a":2,"m":3}"#), ["z": 1, "a": 2, "m": 3]),
        .init("y_object_escaped_key", b(#"{"\n":1,"a\"b":2}"#), ["\n": 1, "a\"b": 2]),
        .init("y_object_keys_differ_in_case", b(#"{"a":1,"A":2}"#), ["a": 1, "A": 2]),
        .init("y_object_17_keys", b("{" + (0..<17).map { "\"k\($0)\":\($0)" }.joined(separator: ",") + "}"),
              .object(JSONObject((0..<17).map { ("k\($0)", .number(JSONNumber($0))) }))),
        .init("y_true", b("true"), true),
        .init("y_false", b("false"), false),
        .init("y_null", b("null"), .null),
        .init("y_null_spaced", b(" \r\n\tnull\t\n\r "), .null),
        .init("y_string_alone", b(#""x""#), "x"),
    ]

    static let numbers: [Accepted] = [
        "0", "-0", "1", "-1", "123", "1.5", "1.50", "-0.0", "0e0", "0E+1", "1e-2", "1E400", "-1e-400",
        "123456789012345678901234567890", "1.0e+10", "2.5E-3", "0.000001", "-9223372036854775809", "1e00",
    ].map { Accepted("y_number_\($0)", b($0), number($0)) } + [
        .init("y_number_in_array", b("[0,-0,1e1]"), [number("0"), number("-0"), number("1e1")]),
        .init("y_number_spaced", b(" 42 "), 42),
    ]

    static let strings: [Accepted] = [
        .init("y_string_empty", b(#""""#), ""),
        .init("y_string_space", b(#"" ""#), " "),
        .init("y_string_del_raw", quoted([0x7F]), "\u{7F}"),
        .init("y_string_slash_raw", b(#""/""#), "/"),
        .init("y_string_simple_escapes", b(#""\"\\\/\b\f\n\r\t""#), "\"\\/\u{8}\u{C}\n\r\t"),
        .init("y_string_escaped_nul", b(#""\u0000""#), "\u{0}"),
        .init("y_string_escaped_a", b(#""\u0061""#), "a"),
        .init("y_string_escaped_lower_hex", b(#""\u00e9""#), "é"),
        .init("y_string_escaped_upper_hex", b(#""\u00E9""#), "é"),
        .init("y_string_escaped_euro", b(#""\u20AC""#), "€"),
        .init("y_string_escaped_noncharacter", b(#""\uFFFF""#), "\u{FFFF}"),
        .init("y_string_escaped_pair", b(#""\uD834\uDD1E""#), "𝄞"),
        .init("y_string_escaped_pair_lower", b(#""\ud834\udd1e""#), "𝄞"),
        .init("y_string_escaped_max", b(#""\uDBFF\uDFFF""#), "\u{10FFFF}"),
        .init("y_string_escaped_min_astral", b(#""\uD800\uDC00""#), "\u{10000}"),
        .init("y_string_escaped_2028", b(#""\u2028""#), "\u{2028}"),
        .init("y_string_raw_2byte", quoted([0xC3, 0xA9]), "é"),
        .init("y_string_raw_3byte", quoted([0xE2, 0x82, 0xAC]), "€"),
        .init("y_string_raw_4byte", quoted([0xF0, 0x9D, 0x84, 0x9E]), "𝄞"),
        .init("y_string_raw_U+0080", quoted([0xC2, 0x80]), "\u{80}"),
        .init("y_string_raw_U+07FF", quoted([0xDF, 0xBF]), "\u{7FF}"),
        .init("y_string_raw_U+0800", quoted([0xE0, 0xA0, 0x80]), "\u{800}"),
        .init("y_string_raw_U+D7FF", quoted([0xED, 0x9F, 0xBF]), "\u{D7FF}"),
        .init("y_string_raw_U+E000", quoted([0xEE, 0x80, 0x80]), "\u{E000}"),
        .init("y_string_raw_U+FFFF", quoted([0xEF, 0xBF, 0xBF]), "\u{FFFF}"),
        .init("y_string_raw_U+10000", quoted([0xF0, 0x90, 0x80, 0x80]), "\u{10000}"),
        .init("y_string_raw_U+10FFFF", quoted([0xF4, 0x8F, 0xBF, 0xBF]), "\u{10FFFF}"),
        .init("y_string_raw_2028", quoted([0xE2, 0x80, 0xA8]), "\u{2028}"),
        .init("y_string_escapes_and_raw", b(#""a\nb\u00e9c€d""#), "a\nbéc€d"),
        .init("y_string_long_ascii", b("\"" + String(repeating: "abcdefgh", count: 20) + "\""),
              .string(String(repeating: "abcdefgh", count: 20))),
        .init("y_string_long_escape_at_end", b("\"" + String(repeating: "x", count: 37) + "\\t\""),
              .string(String(repeating: "x", count: 37) + "\t")),
        .init("y_string_long_raw_utf8", b("\"" + String(repeating: "дом ", count: 10) + "\""),
              .string(String(repeating: "дом ", count: 10))),
        .init("y_string_combining_not_merged_with_escape", b(#""e\u0301""#), "e\u{301}"),
    ]

    @Test(arguments: structure + numbers + strings)
    func parses(_ c: Accepted) throws {
        let value = try JSONParser().parse(c.input)
        #expect(value == c.expected)
        #expect(try c.input.withUnsafeBytes { try JSONParser().parse($0) } == value)
    }

    /// Cut anywhere before its end, a text that ends with a bracket or quote is incomplete.
    @Test(arguments: structure + strings)
    func everyPrefixIsRefused(_ c: Accepted) {
        guard let last = c.input.last, [UInt8(ascii: "]"), UInt8(ascii: "}"), UInt8(ascii: "\"")].contains(last) else { return }
        for end in 0..<c.input.count {
            guard case .failure(let error) = parse(Array(c.input[..<end])) else {
                Issue.record("prefix of \(end) bytes accepted")
                continue
            }
            #expect(error.kind == .unexpectedEnd && error.offset == end, "prefix of \(end) bytes: \(error)")
        }
    }

    /// The parser reads only the window it is given, whatever lies around it in memory.
    @Test func readsOnlyItsWindow() throws {
        let memory = b(#"["abc"]"#)
        try memory.withUnsafeBytes { all throws in
            #expect(parse(Array(all[1..<6])) == .success("abc"))
            let window = UnsafeRawBufferPointer(rebasing: all[0..<6])
            #expect(throws: JSONParseError(.unexpectedEnd, offset: 6)) { try JSONParser().parse(window) }
            let open = UnsafeRawBufferPointer(rebasing: all[1..<5])
            #expect(throws: JSONParseError(.unexpectedEnd, offset: 4)) { try JSONParser().parse(open) }
        }
    }

    @Test func emptyBufferWithoutAddress() {
        #expect(throws: JSONParseError(.unexpectedEnd, offset: 0)) {
            try JSONParser().parse(UnsafeRawBufferPointer(start: nil, count: 0))
        }
    }
}

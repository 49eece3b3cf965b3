import Testing
@testable import JSON

@Suite("Nesting limit")
struct DepthTests {
    /// `[[…[0]…]]`
    static func arrays(_ depth: Int) -> [UInt8] {
        Array(repeating: UInt8(ascii: "["), count: depth) + b("0") + Array(repeating: UInt8(ascii: "]"), count: depth)
    }

    /// `{"a":{"a":…{"a":0}…}}`
    static func objects(_ depth: Int) -> [UInt8] {
        Array(repeating: b(#"{"a":"#), count: depth).flatMap { $0 } + b("0") + Array(repeating: UInt8(ascii: "}"), count: depth)
    }

    @Test(arguments: [0, 1, 2, 64, 100])
    func exactlyMaxDepthIsAcceptedOneMoreIsNot(_ maxDepth: Int) {
        // `width`: bytes per level, so the opening that goes one too deep is at maxDepth * width.
        for (make, width) in [(Self.arrays, 1), (Self.objects, 5)] {
            #expect(throws: Never.self) { try JSONParser(maxDepth: maxDepth).parse(make(maxDepth)) }
            #expect(throws: JSONParseError(.tooDeep, offset: maxDepth * width)) {
                try JSONParser(maxDepth: maxDepth).parse(make(maxDepth + 1))
            }
        }
    }

    @Test func emptyContainersCountToo() {
        #expect(throws: JSONParseError(.tooDeep, offset: 0)) { try JSONParser(maxDepth: 0).parse(b("[]")) }
        #expect(throws: JSONParseError(.tooDeep, offset: 0)) { try JSONParser(maxDepth: 0).parse(b("{}")) }
        #expect(throws: JSONParseError(.tooDeep, offset: 1)) { try JSONParser(maxDepth: 1).parse(b("[{}]")) }
        #expect(throws: Never.self) { try JSONParser(maxDepth: 0).parse(b(#""scalar""#)) }
        #expect(throws: Never.self) { try JSONParser(maxDepth: 2).parse(b(#"[[],{},[0],{"a":0}]"#)) }
    }

    @Test func siblingsDoNotAddUp() throws {
        let wide = "[" + Array(repeating: "[[]]", count: 1000).joined(separator: ",") + "]"
        #expect(try JSONParser(maxDepth: 3).parse(b(wide)).arrayValue?.count == 1000)
    }

    /// The parser keeps open containers on the heap: huge nesting is refused (or runs out of
    /// input) without touching the call stack.
    @Test func hundredThousandOpenBracketsDoNotCrash() {
        let input = Array(repeating: UInt8(ascii: "["), count: 100_000)
        #expect(throws: JSONParseError(.tooDeep, offset: 64)) { try JSONParser().parse(input) }
        #expect(throws: JSONParseError(.unexpectedEnd, offset: 100_000)) { try JSONParser(maxDepth: 1_000_000).parse(input) }
        let objects = Array(repeating: b(#"{"":"#), count: 100_000).flatMap { $0 }
        #expect(throws: JSONParseError(.unexpectedEnd, offset: objects.count)) {
            try JSONParser(maxDepth: 1_000_000).parse(objects)
        }
    }
}

@Suite("Error descriptions")
struct ErrorDescriptionTests {
    @Test func format() {
        #expect(JSONParseError(.unexpectedByte(0x7D), offset: 12).description == "unexpected byte 0x7d at offset 12")
        #expect(JSONParseError(.unexpectedByte(0x05), offset: 0).description == "unexpected byte 0x05 at offset 0")
        #expect(JSONParseError(.unexpectedEnd, offset: 3).description == "unexpected end of input at offset 3")
        #expect(JSONParseError(.duplicateKey("id"), offset: 9).description == #"duplicate key "id" at offset 9"#)
    }

    static let secret = "hunter2-Secret"

    /// Inputs that fail in or right after a string holding a password.
    static let leaky: [[UInt8]] = [
        b(#"{"password":"\#(secret)"#),
        b(#"{"password":"\#(secret)\x"}"#),
        b(#"{"password":"\#(secret)\uD800"}"#),
        b(#"{"password":"\#(secret)"#) + [0xFF] + b(#""}"#),
        b(#"{"password":"\#(secret)"#) + [0x0A] + b(#""}"#),
        b(#"{"password":"\#(secret)" "#),
        b(#"{"password":"\#(secret)"} trailing"#),
        b(#"{"password":"\#(secret)","password":1}"#),
        b(#"{"\#(secret)":1,"\#(secret)":2}"#),
        b(#"{"password":\#(secret)}"#),
    ]

    @Test(arguments: leaky)
    func neverQuoteStringContents(_ input: [UInt8]) throws {
        guard case .failure(let error) = parse(input) else {
            Issue.record("accepted")
            return
        }
        // A duplicate key's own name may appear; nothing else from the input may.
        if case .duplicateKey(let key) = error.kind, key == Self.secret { return }
        #expect(!error.description.contains(Self.secret), "\(error)")
        #expect(!String(describing: error.kind).contains(Self.secret))
    }

    @Test func duplicateKeyNameIsCutTo64Bytes() {
        let long = String(repeating: "k", count: 200)
        let input = b(#"{"\#(long)":1,"\#(long)":2}"#)
        guard case .failure(let error) = parse(input), case .duplicateKey(let key) = error.kind else {
            Issue.record("expected a duplicate key")
            return
        }
        #expect(key == String(repeating: "k", count: 64))
        #expect(error.description == #"duplicate key ""# + key + #"" at offset 206"#)
    }

    @Test func cutFallsBetweenScalars() {
        let key = String(repeating: "a", count: 63) + "é" + "zzz"
        #expect(JSONParseError.truncated(key) == String(repeating: "a", count: 63))
        let emoji = String(repeating: "𝄞", count: 20)   // 4 bytes each
        #expect(JSONParseError.truncated(emoji) == String(repeating: "𝄞", count: 16))
    }

    @Test func duplicateKeyIsEscapedSoItCannotForgeLogLines() {
        let error = JSONParseError(.duplicateKey("a\nERROR fake\u{1B}[31m"), offset: 1)
        #expect(error.description == #"duplicate key "a\nERROR fake\u001b[31m" at offset 1"#)
        // Also cut when built by hand.
        let built = JSONParseError(.duplicateKey(String(repeating: "x", count: 100)), offset: 0)
        #expect(built.kind == .duplicateKey(String(repeating: "x", count: 64)))
    }
}

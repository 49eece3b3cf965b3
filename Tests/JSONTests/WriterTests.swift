import Testing
@testable import JSON

@Suite("Writer")
struct WriterTests {
    static let escapes: [(String, [UInt8])] = [
        ("", b(#""""#)),
        ("plain", b(#""plain""#)),
        ("\"", b(#""\"""#)),
        ("\\", b(#""\\""#)),
        ("/", b(#""/""#)),
        ("\n\r\t\u{8}\u{C}", b(#""\n\r\t\b\f""#)),
        ("\u{0}", b(#""\u0000""#)),
        ("\u{1}\u{1F}\u{B}\u{1B}", b(#""\u0001\u001f\u000b\u001b""#)),
        ("\u{7F}", quoted([0x7F])),
        ("é€𝄞", quoted([0xC3, 0xA9, 0xE2, 0x82, 0xAC, 0xF0, 0x9D, 0x84, 0x9E])),
        ("\u{2028}\u{2029}", quoted([0xE2, 0x80, 0xA8, 0xE2, 0x80, 0xA9])),
        ("a\"b\\c\nd", b(#""a\"b\\c\nd""#)),
        (String(repeating: "long-ascii-", count: 5) + "\"" + String(repeating: "é", count: 9) + "\t",
         b("\"" + String(repeating: "long-ascii-", count: 5) + "\\\"" + String(repeating: "é", count: 9) + "\\t\"")),
    ]

    @Test(arguments: escapes)
    func writeString(_ s: String, _ expected: [UInt8]) {
        var w = JSONWriter()
        w.writeString(s)
        #expect(w.bytes == expected)
    }

    @Test func compactValues() {
        let value: JSONValue = ["a": [1, true, .null, "x"], "b": [:], "c": [], "d": number("-1.5e3")]
        #expect(value.jsonBytes == b(#"{"a":[1,true,null,"x"],"b":{},"c":[],"d":-1.5e3}"#))
        #expect(JSONValue.bool(false).jsonBytes == b("false"))
        #expect(JSONValue.array([[[]]]).jsonBytes == b("[[[]]]"))
    }

    @Test(arguments: [(Int64(0), "0"), (-1, "-1"), (7, "7"), (10, "10"), (-10, "-10"), (1_000_000, "1000000"),
                      (.max, "9223372036854775807"), (.min, "-9223372036854775808")])
    func writeInt(_ n: Int64, _ expected: String) {
        var w = JSONWriter()
        w.writeInt(n)
        w.writeInt(Int(n))
        #expect(w.bytes == b(expected + expected))
    }

    @Test func envelopeFromPieces() {
        var w = JSONWriter(reservingCapacity: 64)
        w.writeRaw("{\"jsonrpc\":\"2.0\",\"id\":")
        w.writeInt(42)
        w.writeRaw(",\"result\":")
        w.write(["px": number("101.250")])
        w.writeRaw(b(",\"seq\":"))
        w.writeNumber(JSONNumber(uncheckedText: "1E400"))
        b("}").withUnsafeBytes { w.writeRaw($0) }
        #expect(w.bytes == b(#"{"jsonrpc":"2.0","id":42,"result":{"px":101.250},"seq":1E400}"#))
        #expect(throws: Never.self) { try JSONParser().parse(w.bytes) }
    }

    /// Every control character and every single-byte character, written then read back.
    @Test func everyASCIICharacterRoundTrips() throws {
        for c in 0..<0x80 {
            let s = String(UnicodeScalar(UInt8(c)))
            var w = JSONWriter()
            w.writeString(s)
            #expect(try JSONParser().parse(w.bytes) == .string(s), "U+\(c)")
        }
    }
}

@Suite("Round trip")
struct RoundTripTests {
    /// Random values in every shape, with strings full of characters that need escaping.
    struct Generator {
        var rng: TestRNG

        static let scalars: [Unicode.Scalar] = [
            "a", "Z", "0", " ", "/", "\"", "\\", "\u{0}", "\u{1}", "\n", "\r", "\t", "\u{8}", "\u{C}", "\u{1F}", "\u{7F}",
            "\u{80}", "é", "€", "\u{2028}", "\u{FFFF}", "\u{E000}", "𝄞", "\u{10FFFF}", "\u{301}",
        ]

        mutating func value(depth: Int = 0) -> JSONValue {
            switch Int.random(in: 0..<(depth >= 5 ? 4 : 7), using: &rng) {
            case 0: return .null
            case 1: return .bool(Bool.random(using: &rng))
            case 2: return .number(number())
            case 3: return .string(string())
            case 4, 5:
                return .array((0..<Int.random(in: 0...5, using: &rng)).map { _ in value(depth: depth + 1) })
            default:
                var object = JSONObject()
                for _ in 0..<Int.random(in: 0...20, using: &rng) {
                    let key = string()
                    if object[key] == nil { object.set(key, value(depth: depth + 1)) }
                }
                return .object(object)
            }
        }

        mutating func string() -> String {
            let length = Int.random(in: 0...(Bool.random(using: &rng) ? 4 : 40), using: &rng)
            var s = String.UnicodeScalarView()
            for _ in 0..<length {
                // Mostly letters, so there are long unescaped runs as well as dense escapes.
                s.append(Int.random(in: 0..<3, using: &rng) == 0
                         ? Self.scalars.randomElement(using: &rng)!
                         : Unicode.Scalar(UInt8.random(in: 0x61...0x7A, using: &rng)))
            }
            return String(s)
        }

        mutating func number() -> JSONNumber {
            var text = Bool.random(using: &rng) ? "-" : ""
            text += Bool.random(using: &rng) ? "0" : String(UInt64.random(in: 1...UInt64.max, using: &rng) >> Int.random(in: 0...63, using: &rng) | 1)
            if Bool.random(using: &rng) { text += "." + String(UInt32.random(in: 0...UInt32.max, using: &rng)) }
            if Bool.random(using: &rng) {
                text += ["e", "E"].randomElement(using: &rng)! + ["", "+", "-"].randomElement(using: &rng)!
                text += String(Int.random(in: 0...999, using: &rng))
            }
            return JSONNumber(uncheckedText: text)
        }
    }

    @Test(arguments: 0..<8)
    func parseOfWriteIsIdentity(_ seed: UInt64) throws {
        var generator = Generator(rng: TestRNG(seed: 0x5EED_0000 + seed))
        for k in 0..<250 {
            let value = generator.value()
            let bytes = value.jsonBytes
            let back = try JSONParser().parse(bytes)
            #expect(back == value, "seed \(seed) value \(k): \(String(decoding: bytes, as: UTF8.self))")
            #expect(back.jsonBytes == bytes)
        }
    }
}

@Suite("String scanner")
struct ScanTests {
    /// The first byte at or after `start` that is not plain ASCII string content, one byte at a time.
    static func reference(_ bytes: [UInt8], from start: Int) -> Int {
        bytes[start...].firstIndex { $0 < 0x20 || $0 >= 0x80 || $0 == 0x22 || $0 == 0x5C } ?? bytes.count
    }

    @Test(arguments: 0..<4)
    func matchesByteAtATimeReference(_ seed: UInt64) {
        var rng = TestRNG(seed: seed)
        // Bytes near every boundary the word test relies on, and some letters.
        let pool: [UInt8] = [0x00, 0x01, 0x1F, 0x20, 0x21, 0x22, 0x23, 0x5B, 0x5C, 0x5D, 0x7E, 0x7F, 0x80, 0x81, 0xA2, 0xDC, 0xFF]
        for _ in 0..<200 {
            let length = Int.random(in: 0...70, using: &rng)
            let density = Int.random(in: 1...40, using: &rng)
            let bytes = (0..<length).map { _ in
                Int.random(in: 0..<density, using: &rng) == 0 ? pool.randomElement(using: &rng)! : UInt8.random(in: 0x61...0x7A, using: &rng)
            }
            bytes.withUnsafeBytes { buffer in
                for start in 0...length {
                    #expect(JSONScan.plainASCIIEnd(buffer, from: start) == Self.reference(bytes, from: start), "\(bytes) from \(start)")
                }
            }
        }
    }
}

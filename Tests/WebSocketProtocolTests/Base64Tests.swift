import Testing
@testable import WebSocketProtocol

@Suite("Base64")
struct Base64Tests {
    /// RFC 4648 §10.
    @Test(arguments: [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="),
                      ("fooba", "Zm9vYmE="), ("foobar", "Zm9vYmFy")])
    func rfc4648Vectors(plain: String, encoded: String) {
        #expect(Base64.encode(Array(plain.utf8)) == encoded)
        #expect(Base64.decode(encoded) == Array(plain.utf8))
    }

    @Test func roundTripsEveryLengthAndEveryByte() {
        var rng = SeededRNG(seed: 64)
        for length in 0...100 {
            for _ in 0..<5 {
                let data = rng.bytes(length)
                let text = Base64.encode(data)
                #expect(text.utf8.count == (length + 2) / 3 * 4)
                #expect(Base64.decode(text) == data, "length \(length)")
            }
        }
        let all = (0...255).map { UInt8($0) }
        #expect(Base64.decode(Base64.encode(all)) == all)
        #expect(Base64.encode([0xFB, 0xFF, 0xBF]) == "+/+/")
    }

    @Test(arguments: [
        "Zg", "Zg=", "Zm9", "Z", "Zm9vY",          // length not a multiple of 4
        "Zh==", "Zm9=", "Zm9vYh==", "Zm9vYmF=",    // non-zero bits under the padding
        "Z===", "====", "Zg=a", "Z=g=", "=Zg=",     // padding in the wrong place
        "Zg==Zg==", "Zm8=Zm9v",                    // padding before the end
        "Zm9v\n", " Zm9v", "Zm9v ", "Zm 9v", "Zm\r\n9v",   // whitespace
        "Zm-v", "Zm_v", "Zm9v.", "Zm9*",            // other alphabets and junk
        "Zm9é", "Zm9vé===",                         // non-ASCII
    ])
    func strictDecodeRejects(_ text: String) {
        #expect(Base64.decode(text) == nil)
    }

    @Test func everySingleCharacterSubstitutionIsRejectedOrDecodesToSixteenBytes() {
        // Corrupting a valid key with any non-alphabet byte at any position must be refused.
        let key = Array("dGhlIHNhbXBsZSBub25jZQ==".utf8)
        let alphabet = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=".utf8)
        for i in key.indices {
            for b in UInt8(0x20)...0x7E where !alphabet.contains(b) {
                var k = key
                k[i] = b
                #expect(Base64.decode(String(decoding: k, as: UTF8.self)) == nil, "byte \(b) at \(i)")
            }
        }
    }
}

@testable import Accounts
import Testing

@Suite struct SecretsTests {
    @Test func sha256Vectors() {
        // FIPS 180-2 examples.
        #expect(Secrets.sha256Hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(Secrets.sha256Hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    @Test func hmacVector() {
        // RFC 4231 test case 2.
        let mac = JWT.hmacSHA256(key: Array("Jefe".utf8), Array("what do ya want for nothing?".utf8))
        #expect(Secrets.hexEncode(mac) == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    }

    @Test func randomTokensAndIDs() {
        let token = Secrets.randomToken()
        #expect(token.utf8.count == 43)   // 32 bytes
        #expect(Base64URL.decode(Array(token.utf8))?.count == 32)
        let ids = (0..<200).map { _ in Secrets.randomID() }
        #expect(Set(ids).count == 200)
        for id in ids {
            #expect(id.utf8.count == 22)
            #expect(id.utf8.allSatisfy(KeyRing.isIDByte))
        }
        #expect(Secrets.randomToken() != token)
        #expect(Secrets.randomSecret().count == 32)
        #expect(Secrets.randomBytes(0) == [])
    }

    @Test func hex() {
        #expect(Secrets.hexEncode([0x00, 0x7F, 0xAB, 0xFF]) == "007fabff")
        #expect(Secrets.hexDecode("007fabff") == [0x00, 0x7F, 0xAB, 0xFF])
        #expect(Secrets.hexDecode("007FABFF") == [0x00, 0x7F, 0xAB, 0xFF])
        #expect(Secrets.hexDecode("") == [])
        for bad in ["0", "0g", "zz", " 00", "00 ", "\u{e9}0"] {
            #expect(Secrets.hexDecode(bad) == nil)
        }
        let secret = Secrets.randomSecret()
        #expect(Secrets.hexDecode(Secrets.hexEncode(secret)) == secret)
    }

    @Test func constantTimeEqual() {
        #expect(Secrets.constantTimeEqual([1, 2, 3], [1, 2, 3]))
        #expect(!Secrets.constantTimeEqual([1, 2, 3], [1, 2, 4]))
        #expect(!Secrets.constantTimeEqual([1, 2, 3], [1, 2]))
        #expect(Secrets.constantTimeEqual([], []))
    }
}

@testable import Accounts
import Testing

private let s32 = String(repeating: "s", count: 32)

@Suite struct KeyRingTests {
    @Test func singleSecret() throws {
        let ring = try KeyRing(secret: s32)
        #expect(ring.kids == ["default"])
        #expect(ring.secret(for: "default") == Array(s32.utf8))
        #expect(throws: KeyRing.Failure(reason: .secretTooShort, line: nil)) { try KeyRing(secret: String(s32.dropLast())) }
        // Bytes, not characters: 11 three-byte scalars are 33 bytes.
        #expect(try KeyRing(secret: String(repeating: "\u{20AC}", count: 11)).kids == ["default"])
    }

    @Test func keyFile() throws {
        let text = """
            # rotated 2026-12-01
            new=\(s32)==

            \t
              # indented comment
            old_key-1=\(s32)\r
            """
        let ring = try KeyRing.parse(keyFile: text)
        #expect(ring.kids == ["new", "old_key-1"])
        #expect(ring.signingKid == "new")
        #expect(ring.secret(for: "new") == Array((s32 + "==").utf8))   // split at the first '='
        #expect(ring.secret(for: "old_key-1") == Array(s32.utf8))       // CR before LF dropped
    }

    @Test(arguments: [
        ("", KeyRing.Failure(reason: .noKeys, line: nil)),
        ("# only\n\n", KeyRing.Failure(reason: .noKeys, line: nil)),
        ("a=\(s32)\nnoequals\n", KeyRing.Failure(reason: .missingEquals, line: 2)),
        ("\n\n=\(s32)", KeyRing.Failure(reason: .invalidKid, line: 3)),
        ("a b=\(s32)", KeyRing.Failure(reason: .invalidKid, line: 1)),
        (" a=\(s32)", KeyRing.Failure(reason: .invalidKid, line: 1)),
        ("\(String(repeating: "k", count: 65))=\(s32)", KeyRing.Failure(reason: .invalidKid, line: 1)),
        ("k\u{e9}=\(s32)", KeyRing.Failure(reason: .invalidKid, line: 1)),
        ("a=\(s32)\n# c\nb=\(s32)\na=\(s32)x", KeyRing.Failure(reason: .duplicateKid, line: 4)),
        ("a=\(s32)\n\nb=short-secret", KeyRing.Failure(reason: .secretTooShort, line: 3)),
    ])
    func keyFileErrors(text: String, expected: KeyRing.Failure) {
        #expect(throws: expected) { try KeyRing.parse(keyFile: text) }
    }

    @Test func kidOf64IsFine() throws {
        let kid = String(repeating: "K", count: 64)
        #expect(try KeyRing.parse(keyFile: "\(kid)=\(s32)").kids == [kid])
    }

    @Test func secretsNeverInText() throws {
        let secret = "super-secret-value-that-must-not-leak"
        let ring = try KeyRing.parse(keyFile: "k=\(secret)")
        for text in [ring.description, String(describing: ring), String(reflecting: ring), "\(ring)"] {
            #expect(!text.contains(secret))
        }
        var dumped = ""
        dump(ring, to: &dumped)
        #expect(!dumped.contains(secret))
        #expect(dumped.contains("k"))
        do {
            _ = try KeyRing.parse(keyFile: "good=\(secret)\nbad kid=\(secret)")
            Issue.record("expected an error")
        } catch {
            #expect(error.description == "line 2: kid must be 1-64 of A-Za-z0-9_-")
            #expect(!String(describing: error).contains(secret))
        }
        do {
            _ = try KeyRing.parse(keyFile: "short=tiny-secret")
            Issue.record("expected an error")
        } catch {
            #expect(!error.description.contains("tiny-secret"))
        }
    }

    @Test func keysInit() throws {
        #expect(throws: KeyRing.Failure(reason: .noKeys, line: nil)) { try KeyRing(keys: []) }
        #expect(throws: KeyRing.Failure(reason: .duplicateKid, line: 2)) {
            try KeyRing(keys: [(kid: "a", secret: Array(s32.utf8)), (kid: "a", secret: Array(s32.utf8))])
        }
        let ring = try KeyRing(keys: [(kid: "a", secret: [UInt8](repeating: 0, count: 32)), (kid: "b", secret: Array(s32.utf8))])
        #expect(ring.signingKid == "a")
        #expect(ring.secret(for: "c") == nil)
    }
}

import Accounts
import Testing

@Suite struct EmailTests {
    @Test(arguments: [
        ("a@b.c", "a@b.c"),
        ("  Alice@Example.COM\t", "alice@example.com"),
        ("\t \tX@Y.Z  ", "x@y.z"),
        ("o'neil+tag@sub.example.co.uk", "o'neil+tag@sub.example.co.uk"),
        ("\u{C9}mile@exemple.fr", "\u{C9}mile@exemple.fr"),          // only ASCII A-Z lowercased
        ("J\u{D6}RG@b\u{FC}cher.de", "j\u{D6}rg@b\u{FC}cher.de"),
        ("\u{130}@x.io", "\u{130}@x.io"),                             // no Unicode case folding
        ("\"quoted\"@a.b", "\"quoted\"@a.b"),                         // no RFC 5322 pedantry either way
        ("1@2.3", "1@2.3"),
        ("a@-.-", "a@-.-"),
    ])
    func accepted(raw: String, normal: String) {
        #expect(Email.normalize(raw) == normal)
    }

    @Test(arguments: [
        "", " ", "\t\t", "@", "a@", "@b.c", "ab.c", "a@@b.c", "a@b@c.d", "a@bc", "a@.bc", "a@bc.", "a@b..c",
        "a@b.c.", "a@.", "a@b.", ".@.", "a b@c.d", "a@b c.d", "a@b.c\n", "\na@b.c", "a@b.c\r",
        "a\u{0}@b.c", "a@b.c\u{7F}", "a\u{85}@b.c",                // controls (Cc), C1 included
        "a\u{A0}@b.c", "a@b.c\u{2028}", "\u{3000}a@b.c", "a@b.c\u{200A}", "a\u{1680}@b.c",   // White_Space
        "\u{A0}a@b.c",                                                // only spaces and tabs are trimmed
        "a@b",
    ])
    func refused(raw: String) {
        #expect(Email.normalize(raw) == nil)
    }

    @Test func zeroWidthIsNotWhitespace() {
        // U+200B has no White_Space property and is Cf, not Cc: it stays (and is its own address).
        #expect(Email.normalize("a\u{200B}@b.c") == "a\u{200B}@b.c")
    }

    @Test func lengthInScalars() {
        let domain = "@example.com"   // 12
        let ok = String(repeating: "a", count: 254 - 12) + domain
        #expect(Email.normalize(ok) == ok)
        #expect(Email.normalize("a" + ok) == nil)
        // 254 scalars of which many are multi-byte: still fine (scalars, not bytes).
        let wide = String(repeating: "\u{E9}", count: 254 - 12) + domain
        #expect(Email.normalize(wide) == wide)
        #expect(Email.normalize("\u{E9}" + wide) == nil)
        // Trimming happens before counting.
        #expect(Email.normalize("   " + ok + "\t") == ok)
        // A decomposed character counts as two scalars.
        let decomposed = String(repeating: "e\u{301}", count: 121) + domain   // 242 + 12 = 254
        #expect(Email.normalize(decomposed) == decomposed)
        #expect(Email.normalize("e\u{301}" + decomposed) == nil)
        #expect(Email.normalize("a@b.c")?.unicodeScalars.count == 5)
    }

    @Test func idempotent() {
        for raw in ["  MiXeD@Case.Org ", "x@y.z"] {
            let once = Email.normalize(raw)
            #expect(once.flatMap(Email.normalize) == once)
        }
    }
}

@Suite struct PasswordRuleTests {
    @Test(arguments: [
        ("", PasswordRule.Verdict.weak),
        ("123456789", .weak),
        ("1234567890", .ok),
        ("          ", .ok),                                          // spaces count, untrimmed
        (String(repeating: "\u{1F600}", count: 9), .weak),           // 9 scalars, 36 bytes
        (String(repeating: "\u{1F600}", count: 10), .ok),
        (String(repeating: "e\u{301}", count: 5), .ok),              // 5 characters, 10 scalars
        (String(repeating: "x", count: 256), .ok),
        (String(repeating: "x", count: 257), .tooLong),
        (String(repeating: "\u{E9}", count: 256), .ok),              // 512 bytes
        (String(repeating: "\u{E9}", count: 257), .tooLong),
        (String(repeating: "\u{1F600}", count: 200), .ok),           // 400 UTF-16 units
    ])
    func check(password: String, verdict: PasswordRule.Verdict) {
        #expect(PasswordRule.check(password) == verdict)
    }
}

@testable import Accounts
import Testing

private let secret = Array("0123456789abcdef0123456789abcdef".utf8)
private let claims = AccessClaims(sub: "u1", sid: "s1", jti: "j1", iat: 1_700_000_000, exp: 1_700_000_900)
private let now: Int64 = 1_700_000_100

private func ring() throws -> KeyRing {
    try KeyRing(keys: [(kid: "default", secret: secret)])
}

/// A token built by hand: the given header and payload JSON, signed with `key` via HMAC-SHA-256.
private func craft(_ header: String, _ payload: String, key: [UInt8] = secret) -> String {
    let input = Base64URL.encode(Array(header.utf8)) + "." + Base64URL.encode(Array(payload.utf8))
    return input + "." + Base64URL.encode(JWT.hmacSHA256(key: key, Array(input.utf8)))
}

private let goodHeader = #"{"alg":"HS256","typ":"JWT","kid":"default"}"#
private func payload(dropping: String? = nil, replacing: [String: String] = [:]) -> String {
    let fields = [("iss", #""quantumvest""#), ("sub", #""u1""#), ("sid", #""s1""#), ("jti", #""j1""#),
                  ("iat", "1700000000"), ("exp", "1700000900")]
    let kept = fields.filter { $0.0 != dropping }.map { key, value in "\"\(key)\":" + (replacing[key] ?? value) }
    return "{" + kept.joined(separator: ",") + "}"
}

@Suite struct JWTTests {
    @Test func fixedVector() throws {
        // Computed independently (Python hmac/base64) from the key and claims above.
        let expected = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6ImRlZmF1bHQifQ"
            + ".eyJpc3MiOiJxdWFudHVtdmVzdCIsInN1YiI6InUxIiwic2lkIjoiczEiLCJqdGkiOiJqMSIsImlhdCI6MTcwMDAwMDAwMCwiZXhwIjoxNzAwMDAwOTAwfQ"
            + ".4_5N_FMoOy-27zaqKjLl7fSg1MhTFYo6_MDmMYWxvLY"
        #expect(JWT.sign(claims, with: try ring()) == expected)
        #expect(JWT.verify(expected, with: try ring(), nowSeconds: now) == .success(claims))
        #expect(craft(goodHeader, payload()) == expected)
    }

    @Test func roundTrip() throws {
        let c = AccessClaims(sub: "user_\u{e9}\"x", sid: "s-2", jti: "J", iat: 0, exp: AccessClaims.maxSeconds)
        #expect(JWT.verify(JWT.sign(c, with: try ring()), with: try ring(), nowSeconds: now) == .success(c))
    }

    @Test func tamperedSignature() throws {
        var token = Array(JWT.sign(claims, with: try ring()).utf8)
        // Change the second-to-last character: all its bits are used, so the encoding stays canonical.
        let last = token.count - 2
        token[last] = token[last] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        #expect(JWT.verify(String(decoding: token, as: UTF8.self), with: try ring(), nowSeconds: now) == .failure(.invalid(.signature)))
    }

    @Test func tamperedPayload() throws {
        let token = JWT.sign(claims, with: try ring())
        let parts = token.split(separator: ".")
        let forged = Base64URL.encode(Array(payload(replacing: ["sub": #""admin""#]).utf8))
        let tampered = parts[0] + "." + forged + "." + parts[2]
        #expect(JWT.verify(String(tampered), with: try ring(), nowSeconds: now) == .failure(.invalid(.signature)))
    }

    @Test func wrongKey() throws {
        let token = craft(goodHeader, payload(), key: Array("another-secret-of-at-least-32-bytes!".utf8))
        #expect(JWT.verify(token, with: try ring(), nowSeconds: now) == .failure(.invalid(.signature)))
    }

    @Test func algNoneWithEmptySignature() throws {
        let input = Base64URL.encode(Array(#"{"alg":"none","typ":"JWT","kid":"default"}"#.utf8)) + "."
            + Base64URL.encode(Array(payload().utf8))
        #expect(JWT.verify(input + ".", with: try ring(), nowSeconds: now) == .failure(.invalid(.algorithm)))
    }

    @Test(arguments: [#"{"alg":"HS512","typ":"JWT","kid":"default"}"#,
                      #"{"alg":"RS256","typ":"JWT","kid":"default"}"#,
                      #"{"alg":"hs256","kid":"default"}"#,
                      #"{"alg":"HS256 ","kid":"default"}"#,
                      #"{"alg":["HS256"],"kid":"default"}"#,
                      #"{"kid":"default"}"#])
    func otherAlgorithms(header: String) throws {
        // Signed with the HMAC secret all the same: the algorithm confusion attack.
        #expect(JWT.verify(craft(header, payload()), with: try ring(), nowSeconds: now) == .failure(.invalid(.algorithm)))
    }

    @Test(arguments: [#"{"alg":"HS256","typ":"JWT","kid":"other"}"#,
                      #"{"alg":"HS256","typ":"JWT"}"#,
                      #"{"alg":"HS256","kid":7}"#,
                      #"{"alg":"HS256","kid":null}"#])
    func unknownOrMissingKid(header: String) throws {
        #expect(JWT.verify(craft(header, payload()), with: try ring(), nowSeconds: now) == .failure(.invalid(.keyID)))
    }

    @Test func typIsIgnored() throws {
        let token = craft(#"{"alg":"HS256","kid":"default","typ":"whatever"}"#, payload())
        #expect(JWT.verify(token, with: try ring(), nowSeconds: now) == .success(claims))
    }

    @Test(arguments: ["[]", "\"x\"", "{", #"{"alg":"HS256","alg":"HS256","kid":"default"}"#, ""])
    func headerNotAnObject(header: String) throws {
        #expect(JWT.verify(craft(header, payload()), with: try ring(), nowSeconds: now) == .failure(.invalid(.header)))
    }

    @Test(arguments: ["sub", "sid", "jti", "iat", "exp"])
    func missingClaim(name: String) throws {
        let token = craft(goodHeader, payload(dropping: name))
        #expect(JWT.verify(token, with: try ring(), nowSeconds: now) == .failure(.invalid(.claims)))
    }

    @Test(arguments: [["sub": #""""#], ["sid": #""""#], ["jti": #""""#], ["sub": "1"], ["sid": "null"],
                      ["exp": "1700000900.0"], ["exp": "1.7e9"], ["exp": #""1700000900""#], ["exp": "-1"],
                      ["exp": "253402300800"], ["exp": "99999999999999999999"], ["iat": "1.5"], ["iat": "true"]])
    func malformedClaim(replacing: [String: String]) throws {
        let token = craft(goodHeader, payload(replacing: replacing))
        #expect(JWT.verify(token, with: try ring(), nowSeconds: now) == .failure(.invalid(.claims)))
    }

    @Test(arguments: [["iss": #""other""#], ["iss": "null"], ["iss": #""quantumvest ""#]])
    func wrongIssuer(replacing: [String: String]) throws {
        let token = craft(goodHeader, payload(replacing: replacing))
        #expect(JWT.verify(token, with: try ring(), nowSeconds: now) == .failure(.invalid(.issuer)))
    }

    @Test func missingIssuer() throws {
        #expect(JWT.verify(craft(goodHeader, payload(dropping: "iss")), with: try ring(), nowSeconds: now)
                == .failure(.invalid(.issuer)))
    }

    @Test func payloadNotAnObject() throws {
        #expect(JWT.verify(craft(goodHeader, "[1]"), with: try ring(), nowSeconds: now) == .failure(.invalid(.claims)))
    }

    @Test func otherClaimsAreIgnored() throws {
        let token = craft(goodHeader, payload(replacing: ["jti": #""j1","aud":"x","nbf":99999999999"#]))
        #expect(JWT.verify(token, with: try ring(), nowSeconds: now) == .success(claims))
    }

    @Test func expiry() throws {
        let token = JWT.sign(claims, with: try ring())
        #expect(JWT.verify(token, with: try ring(), nowSeconds: claims.exp - 1) == .success(claims))
        #expect(JWT.verify(token, with: try ring(), nowSeconds: claims.exp) == .failure(.expired))
        #expect(JWT.verify(token, with: try ring(), nowSeconds: claims.exp + 1000) == .failure(.expired))
    }

    @Test func invalidBeatsExpired() throws {
        // An expired token with a bad issuer is invalid: the checks run in order.
        let token = craft(goodHeader, payload(replacing: ["iss": #""x""#]))
        #expect(JWT.verify(token, with: try ring(), nowSeconds: claims.exp + 1) == .failure(.invalid(.issuer)))
    }

    @Test func encoding() throws {
        let token = JWT.sign(claims, with: try ring())
        let parts = token.split(separator: ".").map(String.init)
        let bad = [
            parts[0] + "." + parts[1],                                 // two parts
            token + ".",                                               // four parts
            token + "." + parts[2],
            parts[0] + "=." + parts[1] + "." + parts[2],               // padding
            parts[0] + "." + parts[1] + "." + parts[2] + "=",
            parts[0] + "." + parts[1] + "." + parts[2] + "==",
            parts[0] + "." + parts[1].replacingFirst("e", "+") + "." + parts[2],   // outside the alphabet
            parts[0] + "." + parts[1] + "." + parts[2].replacingFirst("_", "/"),
            " " + token,
            token + "\n",
            parts[0] + "AAA." + parts[1] + "." + parts[2],             // 58 + 3: length 4k+1
        ]
        for t in bad {
            #expect(JWT.verify(t, with: try ring(), nowSeconds: now) == .failure(.invalid(.encoding)), "\(t)")
        }
    }

    @Test func nonCanonicalBase64IsRefused() {
        // "QQ" is "A"; "QR" has a non-zero unused low bit and would decode to "A" too.
        #expect(Base64URL.decode(Array("QQ".utf8)) == [0x41])
        #expect(Base64URL.decode(Array("QR".utf8)) == nil)
        #expect(Base64URL.decode(Array("QUI".utf8)) == [0x41, 0x42])
        #expect(Base64URL.decode(Array("QUJ".utf8)) == nil)
        #expect(Base64URL.decode(Array("".utf8)) == [])
    }

    @Test func base64Vectors() {
        // RFC 4648 §10, in the URL alphabet and without padding.
        let vectors = [("", ""), ("f", "Zg"), ("fo", "Zm8"), ("foo", "Zm9v"), ("foob", "Zm9vYg"), ("fooba", "Zm9vYmE"), ("foobar", "Zm9vYmFy")]
        for (plain, encoded) in vectors {
            #expect(Base64URL.encode(Array(plain.utf8)) == encoded)
            #expect(Base64URL.decode(Array(encoded.utf8)) == Array(plain.utf8))
        }
        #expect(Base64URL.encode([0xFB, 0xFF, 0xBF]) == "-_-_")
        #expect(Base64URL.decode(Array("-_-_".utf8)) == [0xFB, 0xFF, 0xBF])
    }

    @Test func tooLong() throws {
        let token = craft(goodHeader, payload(replacing: ["jti": "\"" + String(repeating: "j", count: 9000) + "\""]))
        #expect(JWT.verify(token, with: try ring(), nowSeconds: now) == .failure(.invalid(.tooLong)))
    }

    @Test func rotation() throws {
        let old = try KeyRing(keys: [(kid: "k1", secret: secret)])
        let rotated = try KeyRing.parse(keyFile: "k2=" + String(repeating: "n", count: 32) + "\nk1=" + String(decoding: secret, as: UTF8.self) + "\n")
        let oldToken = JWT.sign(claims, with: old)
        #expect(JWT.verify(oldToken, with: rotated, nowSeconds: now) == .success(claims))
        let newToken = JWT.sign(claims, with: rotated)
        #expect(newToken.hasPrefix(Base64URL.encode(Array(#"{"alg":"HS256","typ":"JWT","kid":"k2"}"#.utf8)) + "."))
        #expect(JWT.verify(newToken, with: rotated, nowSeconds: now) == .success(claims))
        #expect(JWT.verify(newToken, with: old, nowSeconds: now) == .failure(.invalid(.keyID)))
    }

    @Test func sameKidDifferentSecret() throws {
        let other = try KeyRing(keys: [(kid: "default", secret: Array(String(repeating: "z", count: 32).utf8))])
        #expect(JWT.verify(JWT.sign(claims, with: other), with: try ring(), nowSeconds: now) == .failure(.invalid(.signature)))
    }
}

extension String {
    fileprivate func replacingFirst(_ a: Character, _ b: Character) -> String {
        guard let i = firstIndex(of: a) else { return self }
        var s = self
        s.replaceSubrange(i...i, with: String(b))
        return s
    }
}

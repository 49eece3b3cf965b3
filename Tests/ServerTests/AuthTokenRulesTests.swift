@testable import Accounts
import COpenSSL
import Foundation
import Gateway
import JSON
import Store
import TestSupport
import Testing

/// Contract 2a's token rules through the `/ws` handshake and `auth.authenticate`: tokens forged
/// with the gateway's own secret that break one rule each. A forged token that breaks none is
/// accepted (the control), so each refusal is the rule's, not the forgery's.
@Suite("Access-token rules at the socket (2a)")
struct AuthTokenRulesTests {
    static let secret = "0123456789abcdef0123456789abcdef-test"

    static func b64(_ text: String) -> String { Base64URL.encode(Array(text.utf8)) }

    static func hmacSHA512(key: [UInt8], _ data: [UInt8]) -> [UInt8] {
        var mac = [UInt8](repeating: 0, count: 64)
        var length: UInt32 = 0
        _ = key.withUnsafeBytes { k in
            data.withUnsafeBytes { d in
                mac.withUnsafeMutableBufferPointer { m in
                    HMAC(EVP_sha512(), k.baseAddress, Int32(k.count), d.baseAddress?.assumingMemoryBound(to: UInt8.self), d.count,
                         m.baseAddress, &length)
                }
            }
        }
        return mac
    }

    /// header.claims signed with HMAC-SHA-256 (or -512) over the secret's bytes.
    static func forge(_ header: String, _ claims: String, secret: String = secret, sha512: Bool = false) -> String {
        let input = b64(header) + "." + b64(claims)
        let key = Array(secret.utf8)
        let mac = sha512 ? hmacSHA512(key: key, Array(input.utf8)) : JWT.hmacSHA256(key: key, Array(input.utf8))
        return input + "." + Base64URL.encode(mac)
    }

    static let header = #"{"alg":"HS256","typ":"JWT","kid":"default"}"#

    /// Claims valid for 10 minutes, with `drop` left out and `replace` put in.
    static func claims(drop: String? = nil, _ replace: [String: String] = [:]) -> String {
        let now = Int(Date().timeIntervalSince1970)
        var fields: [(String, String)] = [("iss", #""quantumvest""#), ("sub", #""u-forged""#), ("sid", #""s-forged""#),
                                         ("jti", #""j-1""#), ("iat", "\(now)"), ("exp", "\(now + 600)")]
        fields = fields.filter { $0.0 != drop }.map { ($0.0, replace[$0.0] ?? $0.1) }
        return "{" + fields.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}"
    }

    func gateway(_ store: TestStore) throws -> TestGateway {
        try TestGateway(store: try store.backend(), accounts: { $0.jwtSecret = Self.secret })
    }

    func upgradeStatus(_ g: TestGateway, _ token: String) throws -> Int {
        let c = try TCPClient(port: g.port)
        defer { c.close() }
        return try c.exchange(rawRequest("/ws", upgradeHeaders(extra: ["Authorization: Bearer \(token)"]))).status
    }

    @Test(arguments: TestStore.allCases)
    func forgedTokensBreakingOneRuleAreRefused(_ store: TestStore) throws {
        let g = try gateway(store)
        defer { g.stop() }
        // The controls: every rule kept (typ and unknown claims are ignored).
        let good = Self.forge(Self.header, Self.claims())
        #expect(try upgradeStatus(g, good) == 101)
        #expect(try upgradeStatus(g, Self.forge(#"{"alg":"HS256","kid":"default"}"#, Self.claims(["extra": "1"]))) == 101)
        let c = try g.client(headers: ["Authorization: Bearer \(good)"])
        #expect(try c.call("auth.authenticate", #"{"token":"\#(good)"}"#).result?["userId"] == .string("u-forged"))

        var bad: [(String, String)] = [
            ("HS512", Self.forge(#"{"alg":"HS512","typ":"JWT","kid":"default"}"#, Self.claims(), sha512: true)),
            ("RS256 signed with the secret", Self.forge(#"{"alg":"RS256","typ":"JWT","kid":"default"}"#, Self.claims())),
            ("hs256 lower case", Self.forge(#"{"alg":"hs256","typ":"JWT","kid":"default"}"#, Self.claims())),
            ("unknown kid", Self.forge(#"{"alg":"HS256","typ":"JWT","kid":"other"}"#, Self.claims())),
            ("no kid", Self.forge(#"{"alg":"HS256","typ":"JWT"}"#, Self.claims())),
            ("header not an object", Self.forge(#"["HS256"]"#, Self.claims())),
            ("another secret", Self.forge(Self.header, Self.claims(), secret: "another-secret-of-at-least-32-bytes!")),
            ("wrong iss", Self.forge(Self.header, Self.claims(["iss": #""evil""#]))),
            ("padding", good + "="),
        ]
        for claim in ["iss", "sub", "sid", "jti", "iat", "exp"] {
            bad.append(("missing \(claim)", Self.forge(Self.header, Self.claims(drop: claim))))
        }
        bad.append(("empty sub", Self.forge(Self.header, Self.claims(["sub": #""""#]))))
        bad.append(("exp as a string", Self.forge(Self.header, Self.claims(["exp": #""99999999999""#]))))
        bad.append(("exp with a fraction", Self.forge(Self.header, Self.claims(["exp": "9999999999.5"]))))
        bad.append(("claims not JSON", Self.b64(Self.header) + "." + Self.b64("{") + "."
                    + Base64URL.encode(JWT.hmacSHA256(key: Array(Self.secret.utf8), Array((Self.b64(Self.header) + "." + Self.b64("{")).utf8)))))
        for (name, token) in bad {
            #expect(try upgradeStatus(g, token) == 401, "\(name)")
            #expect(try c.call("auth.authenticate", #"{"token":"\#(token)"}"#).errorReason == "invalid_token", "\(name)")
        }
    }

    /// Keys rotate: a key file naming a new key first and the old one second signs with the new
    /// and still accepts tokens of the old; a gateway that only knows the old refuses the new.
    @Test(arguments: TestStore.allCases)
    func keyRotationWithAKeyFile(_ store: TestStore) throws {
        let dir = try TemporaryDirectory.make(prefix: "qv-keys")
        let oldFile = dir + "/old.keys"
        let newFile = dir + "/new.keys"
        try "# before\nk1=\(Self.secret)\n".write(toFile: oldFile, atomically: true, encoding: .utf8)
        try "k2=another-secret-of-at-least-32-bytes!\n\nk1=\(Self.secret)\n".write(toFile: newFile, atomically: true, encoding: .utf8)
        let backend = try store.backend()
        let before = try TestGateway(store: backend, accounts: { $0.jwtKeyFile = oldFile })
        defer { before.stop() }
        let after = try TestGateway(store: backend, accounts: { $0.jwtKeyFile = newFile })
        defer { after.stop() }

        let c = try before.client()
        _ = try c.call("auth.register", #"{"email":"rot@example.com","password":"correct horse battery"}"#, timeoutMs: 15_000)
        let oldToken = try #require(try c.call("auth.login", #"{"email":"rot@example.com","password":"correct horse battery"}"#,
                                               timeoutMs: 15_000).result?["accessToken"]?.stringValue)
        #expect(try upgradeStatus(after, oldToken) == 101)
        let d = try after.client()
        let newToken = try #require(try d.call("auth.login", #"{"email":"rot@example.com","password":"correct horse battery"}"#,
                                               timeoutMs: 15_000).result?["accessToken"]?.stringValue)
        let headerJSON = try JSONParser().parse(try #require(Base64URL.decode(newToken.utf8.split(separator: UInt8(ascii: "."))[0])))
        #expect(headerJSON["kid"] == .string("k2"))
        #expect(try upgradeStatus(before, newToken) == 401)
        #expect(try upgradeStatus(after, newToken) == 101)
    }

    /// Without --jwt-secret or --jwt-key-file the key is made in the store at the first start and
    /// kept: a token survives a restart, and a second gateway on the same store accepts it.
    @Test(arguments: TestStore.allCases)
    func theGeneratedKeyIsKeptInTheStore(_ store: TestStore) throws {
        let backend = try store.backend()
        let first = try TestGateway(store: backend)
        let c = try first.client()
        _ = try c.call("auth.register", #"{"email":"gen@example.com","password":"correct horse battery"}"#, timeoutMs: 15_000)
        let token = try #require(try c.call("auth.login", #"{"email":"gen@example.com","password":"correct horse battery"}"#,
                                            timeoutMs: 15_000).result?["accessToken"]?.stringValue)
        let header = try JSONParser().parse(try #require(Base64URL.decode(token.utf8.split(separator: UInt8(ascii: "."))[0])))
        #expect(header["kid"] == .string("generated"))
        let second = try TestGateway(store: backend)
        defer { second.stop() }
        #expect(try upgradeStatus(second, token) == 101)
        first.stop()
        let again = try TestGateway(store: backend)
        defer { again.stop() }
        #expect(try upgradeStatus(again, token) == 101)
        // A gateway with a secret of its own does not know the generated key.
        let other = try TestGateway(store: backend, accounts: { $0.jwtSecret = Self.secret })
        defer { other.stop() }
        #expect(try upgradeStatus(other, token) == 401)
    }

    /// A new access token before `exp` keeps the socket and restarts the schedule from the new
    /// `exp` (another `auth.expiring`, the close only after the new `exp`).
    @Test(arguments: TestStore.allCases)
    func renewalBeforeExpiryKeepsTheSocket(_ store: TestStore) throws {
        let g = try TestGateway(store: try store.backend(), accounts: { a in
            a.jwtSecret = Self.secret
            a.accessTTL = 4
        })
        defer { g.stop() }
        let c = try g.client()
        _ = try c.call("auth.register", #"{"email":"renew@example.com","password":"correct horse battery"}"#, timeoutMs: 15_000)
        let start = ContinuousClock.now
        let first = try c.call("auth.login", #"{"email":"renew@example.com","password":"correct horse battery"}"#, timeoutMs: 15_000)
        let refresh = try #require(first.result?["refreshToken"]?.stringValue)
        let firstExpiry = try #require(first.result?["expiresAt"]?.numberValue?.int64)
        #expect(try c.nextAnswer().value["method"] == .string("auth.expiring"))

        // At ~3 s, before the first exp (which is at most 4 s away, at least 3 s: whole seconds).
        sleep(untilMillis: 3_000, since: start)
        let second = try c.call("auth.refresh", #"{"refreshToken":"\#(refresh)"}"#)
        let secondExpiry = try #require(second.result?["expiresAt"]?.numberValue?.int64)
        #expect(secondExpiry > firstExpiry)
        let again = try c.nextAnswer()
        #expect(again.value["method"] == .string("auth.expiring"))
        #expect(again.params?["expiresAt"] == .number(JSONNumber(Int(secondExpiry))))

        // Past the first exp and its 1 s of slack: still open, still that user.
        sleep(untilMillis: 5_300, since: start)
        #expect(c.controlFrames.isEmpty)
        #expect(try c.call("auth.me").result?["email"] == .string("renew@example.com"))
        let close = try c.awaitCloseFrame(timeoutMs: 5_000)
        #expect(close.closeCode == 4001)
        #expect(millis(since: start) >= 6_000)
    }

    /// `--require-login`: market subscriptions and reads need a login; logging out ends them.
    @Test(arguments: TestStore.allCases)
    func requireLoginThroughLoginAndLogout(_ store: TestStore) throws {
        let g = try TestGateway({ $0.requireLoginForMarket = true }, store: try store.backend(), accounts: { $0.jwtSecret = Self.secret })
        defer { g.stop() }
        let c = try g.client()
        #expect(try c.call("subscribe", #"{"channel":"prices:REQ"}"#).errorReason == "unauthenticated")
        #expect(try c.call("prices.latest", #"{"symbols":["REQ"]}"#).errorReason == "unauthenticated")
        _ = try c.call("auth.register", #"{"email":"req@example.com","password":"correct horse battery"}"#, timeoutMs: 15_000)
        #expect(try c.call("auth.login", #"{"email":"req@example.com","password":"correct horse battery"}"#, timeoutMs: 15_000).result != nil)
        #expect(try c.call("subscribe", #"{"channel":"prices:REQ"}"#).result != nil)
        let publisher = try g.client(publisher: true)
        #expect(try publisher.call("publish", #"{"channel":"prices:REQ","data":{"symbol":"REQ","price":"2","ts":1}}"#).result != nil)
        try c.waitForEvents(1)
        #expect(try c.call("prices.latest", #"{"symbols":["REQ"]}"#).result != nil)

        #expect(try c.call("auth.logout").result?["loggedOut"] == .bool(true))
        let note = try c.nextAnswer()
        #expect(note.value["method"] == .string("unsubscribed"))
        #expect(note.params?["reason"] == .string("logged_out"))
        #expect(try c.call("prices.latest", #"{"symbols":["REQ"]}"#).errorReason == "unauthenticated")
        _ = c.takeEvents()
        #expect(try publisher.call("publish", #"{"channel":"prices:REQ","data":{"symbol":"REQ","price":"3","ts":2}}"#).result != nil)
        c.drain(forMs: 200)
        #expect(c.events.isEmpty)
    }

    /// Two gateways on one store (as two replicas without Redis): a logout on one closes the
    /// session's socket on the other within about a second (the revocation poll).
    @Test(arguments: TestStore.allCases)
    func revocationReachesAnotherGatewayOnTheSameStore(_ store: TestStore) throws {
        let backend = try store.backend()
        let a = try TestGateway(store: backend, accounts: { $0.jwtSecret = Self.secret })
        defer { a.stop() }
        let b = try TestGateway(store: backend, accounts: { $0.jwtSecret = Self.secret })
        defer { b.stop() }
        let c = try a.client()
        _ = try c.call("auth.register", #"{"email":"two@example.com","password":"correct horse battery"}"#, timeoutMs: 15_000)
        let token = try #require(try c.call("auth.login", #"{"email":"two@example.com","password":"correct horse battery"}"#,
                                            timeoutMs: 15_000).result?["accessToken"]?.stringValue)
        let remote = try b.client(headers: ["Authorization: Bearer \(token)"])
        #expect(try remote.call("auth.me").result?["email"] == .string("two@example.com"))
        let start = ContinuousClock.now
        #expect(try c.call("auth.logout").result != nil)
        let close = try remote.awaitCloseFrame(timeoutMs: 3_000)
        #expect(close.closeCode == 4001)
        #expect(millis(since: start) < 2_500)
        #expect(try upgradeStatus(b, token) == 401)
    }
}

/// Sleeps until `ms` after `start` (returns at once when that is past).
func sleep(untilMillis ms: Int, since start: ContinuousClock.Instant) {
    let left = ms - millis(since: start)
    if left > 0 { usleep(UInt32(left) * 1000) }
}

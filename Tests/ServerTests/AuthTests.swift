import Accounts
import Gateway
import JSON
import Store
import TestSupport
import Testing

/// Contract 2a through real sockets, on both stores: SQLite in a temporary directory and a
/// fresh database on the test PostgreSQL server.
enum TestStore: String, CaseIterable, Sendable {
    case sqlite, postgres

    func backend() throws -> StoreBackend {
        switch self {
        case .sqlite: .sqlite(directory: try TemporaryDirectory.make(prefix: "qv-auth"))
        case .postgres: .postgres(url: try PostgresServer.shared().freshDatabase())
        }
    }
}

@Suite("Accounts and sessions (2a)")
struct AuthTests {
    /// The configured (default) Argon2id cost, for the tests about the hash itself.
    static func realHashCost(_ a: inout AccountsConfiguration) {
        let defaults = AccountsConfiguration()
        a.hashMemoryKiB = defaults.hashMemoryKiB
        a.hashIterations = defaults.hashIterations
        a.hashParallelism = defaults.hashParallelism
    }

    func gateway(_ store: TestStore, _ adjust: (inout AccountsConfiguration) -> Void = { _ in }) throws -> TestGateway {
        try TestGateway(store: try store.backend(), accounts: { a in
            a.jwtSecret = "0123456789abcdef0123456789abcdef-test"
            adjust(&a)
        })
    }

    func register(_ c: RPCClient, _ email: String, _ password: String = "correct horse battery") throws -> Incoming {
        try c.call("auth.register", #"{"email":"\#(email)","password":"\#(password)"}"#, timeoutMs: 15_000)
    }

    func login(_ c: RPCClient, _ email: String, _ password: String = "correct horse battery") throws -> Incoming {
        try c.call("auth.login", #"{"email":"\#(email)","password":"\#(password)"}"#, timeoutMs: 15_000)
    }

    func upgradeStatus(_ g: TestGateway, _ token: String) throws -> Int {
        let c = try TCPClient(port: g.port)
        defer { c.close() }
        return try c.exchange(rawRequest("/ws", upgradeHeaders(extra: ["Authorization: Bearer \(token)"]))).status
    }

    @Test(arguments: TestStore.allCases)
    func registerLoginMeAndTheHandshake(_ store: TestStore) throws {
        let g = try gateway(store)
        defer { g.stop() }
        let c = try g.client()
        let reg = try register(c, "  Ann@Example.COM ")
        #expect(reg.result?["email"] == .string("ann@example.com"))
        let userId = try #require(reg.result?["userId"]?.stringValue)
        // Registering does not log in.
        #expect(try c.call("auth.me").errorReason == "unauthenticated")
        #expect(try register(c, "ann@example.com").errorReason == "email_taken")
        #expect(try register(c, "bob@example.com", "short").errorReason == "weak_password")
        #expect(try register(c, "not-an-email", "long enough pass").errorReason == "invalid_param")

        let wrong = try login(c, "ann@example.com", "wrong password!")
        let unknown = try login(c, "nobody@example.com", "wrong password!")
        #expect(wrong.errorReason == "invalid_credentials")
        #expect(wrong.error == unknown.error)

        let ok = try login(c, "ANN@example.com")
        #expect(ok.result?["userId"] == .string(userId))
        #expect(ok.result?["expiresIn"] == .number(JSONNumber(900)))
        let token = try #require(ok.result?["accessToken"]?.stringValue)
        let me = try c.call("auth.me")
        #expect(me.result?["email"] == .string("ann@example.com"))

        // The token at the handshake and with auth.authenticate.
        #expect(try upgradeStatus(g, token) == 101)
        let other = try g.client(headers: ["Authorization: Bearer \(token)"])
        #expect(try other.call("auth.me").result?["userId"] == .string(userId))
        let anon = try g.client()
        #expect(try anon.call("auth.authenticate", #"{"token":"\#(token)"}"#).result?["userId"] == .string(userId))
        #expect(try anon.call("auth.authenticate", #"{"token":"\#(token)x"}"#).errorReason == "invalid_token")
        // A failed authenticate leaves the identity as it was.
        #expect(try anon.call("auth.me").result?["userId"] == .string(userId))

        // Logout: this socket anonymous, the session's other sockets closed with 4001, the
        // token refused at the handshake from now on.
        #expect(try c.call("auth.logout").result?["loggedOut"] == .bool(true))
        #expect(try c.call("auth.me").errorReason == "unauthenticated")
        #expect(try other.awaitCloseFrame().closeCode == 4001)
        #expect(try anon.awaitCloseFrame().closeCode == 4001)
        #expect(try upgradeStatus(g, token) == 401)
    }

    @Test(arguments: TestStore.allCases)
    func refreshRotatesAndReuseRevokesTheSession(_ store: TestStore) throws {
        let g = try gateway(store) { $0.refreshReuseGrace = 0 }
        defer { g.stop() }
        let c = try g.client()
        _ = try register(c, "rot@example.com")
        let first = try login(c, "rot@example.com")
        let refresh1 = try #require(first.result?["refreshToken"]?.stringValue)
        let watcher = try g.client(headers: ["Authorization: Bearer \(try #require(first.result?["accessToken"]?.stringValue))"])
        #expect(try watcher.call("auth.me").result != nil)

        let second = try c.call("auth.refresh", #"{"refreshToken":"\#(refresh1)"}"#)
        let refresh2 = try #require(second.result?["refreshToken"]?.stringValue)
        #expect(refresh2 != refresh1)
        #expect(second.result?["userId"] == first.result?["userId"])
        // The old one again, after the (zero) grace: reuse, the whole session revoked.
        let other = try g.client()
        let reused = try other.call("auth.refresh", #"{"refreshToken":"\#(refresh1)"}"#)
        #expect(reused.errorReason == "refresh_token_reused")
        #expect(try watcher.awaitCloseFrame().closeCode == 4001)
        #expect(try c.awaitCloseFrame().closeCode == 4001)
        #expect(try other.call("auth.refresh", #"{"refreshToken":"\#(refresh2)"}"#).errorReason == "token_revoked")
        #expect(try other.call("auth.refresh", #"{"refreshToken":"made-up"}"#).errorReason == "invalid_token")
    }

    @Test(arguments: TestStore.allCases)
    func loginLimitsPerEmailAndPeer(_ store: TestStore) throws {
        let g = try gateway(store)
        defer { g.stop() }
        let c = try g.client()
        _ = try register(c, "lim@example.com")
        for _ in 0..<5 { #expect(try login(c, "lim@example.com", "wrong password!").errorReason == "invalid_credentials") }
        let refused = try login(c, "lim@example.com")
        #expect(refused.errorReason == "too_many_attempts")
        #expect((refused.error?["data"]?["retryAfterMs"]?.numberValue?.int64 ?? 0) > 0)
    }

    @Test(arguments: TestStore.allCases)
    func notificationsToAuthMethodsAreNotExecuted(_ store: TestStore) throws {
        let g = try gateway(store)
        defer { g.stop() }
        let c = try g.client()
        try c.sendText(#"{"jsonrpc":"2.0","method":"auth.register","params":{"email":"n@example.com","password":"long enough pass"}}"#)
        // Not registered: registering it now succeeds.
        #expect(try register(c, "n@example.com").result?["email"] == .string("n@example.com"))
    }

    @Test(arguments: TestStore.allCases)
    func expiringThenClosedWith4001(_ store: TestStore) throws {
        let g = try gateway(store) { $0.accessTTL = 2 }
        defer { g.stop() }
        let c = try g.client()
        _ = try register(c, "exp@example.com")
        let ok = try login(c, "exp@example.com")
        #expect(ok.result?["expiresIn"] == .number(JSONNumber(2)))
        // Less than 60 s left: auth.expiring at once, then the close at exp.
        let expiring = try c.nextAnswer(timeoutMs: 2000)
        #expect(expiring.value["method"] == .string("auth.expiring"))
        #expect(expiring.params?["expiresAt"] == ok.result?["expiresAt"])
        let close = try c.awaitCloseFrame(timeoutMs: 5000)
        #expect(close.closeCode == 4001)
    }

    @Test(arguments: TestStore.allCases)
    func badTokensAtTheHandshakeAre401(_ store: TestStore) throws {
        let g = try gateway(store)
        defer { g.stop() }
        let c = try g.client()
        _ = try register(c, "hs@example.com")
        let token = try #require(try login(c, "hs@example.com").result?["accessToken"]?.stringValue)
        let parts = token.split(separator: ".").map(String.init)
        try #require(parts.count == 3)
        let tampered = parts[0] + "." + parts[1] + "." + String(parts[2].reversed())
        // {"alg":"none","typ":"JWT","kid":"default"} with the same claims and no signature.
        let none = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIiwia2lkIjoiZGVmYXVsdCJ9." + parts[1] + "."
        for bad in [tampered, none, "a.b", token + "x"] { #expect(try upgradeStatus(g, bad) == 401, "\(bad)") }
        #expect(try upgradeStatus(g, token) == 101)
        let other = try g.client()
        #expect(try other.call("auth.authenticate", #"{"token":"\#(none)"}"#).errorReason == "invalid_token")
    }

    @Test(arguments: TestStore.allCases)
    func expiredTokenAtTheHandshakeAndViaAuthenticate(_ store: TestStore) throws {
        let g = try gateway(store) { $0.accessTTL = 1 }
        defer { g.stop() }
        let c = try g.client()
        _ = try register(c, "old@example.com")
        let token = try #require(try login(c, "old@example.com").result?["accessToken"]?.stringValue)
        #expect(eventually(within: 3_000, every: 100) { (try? upgradeStatus(g, token)) == 401 })
        let other = try g.client()
        #expect(try other.call("auth.authenticate", #"{"token":"\#(token)"}"#).errorReason == "token_expired")
    }

    @Test(arguments: TestStore.allCases)
    func changePasswordAndLogoutAllRevokeSessions(_ store: TestStore) throws {
        let g = try gateway(store)
        defer { g.stop() }
        let a = try g.client()
        _ = try register(a, "cp@example.com")
        _ = try login(a, "cp@example.com")
        let b = try g.client()
        let tokenB = try #require(try login(b, "cp@example.com").result?["accessToken"]?.stringValue)
        #expect(try a.call("auth.changePassword", #"{"currentPassword":"wrong password!","newPassword":"another long one"}"#)
            .errorReason == "invalid_credentials")
        #expect(try a.call("auth.changePassword", #"{"currentPassword":"correct horse battery","newPassword":"short"}"#)
            .errorReason == "weak_password")
        #expect(try a.call("auth.changePassword", #"{"currentPassword":"correct horse battery","newPassword":"another long one"}"#,
                           timeoutMs: 5000).result?["changed"] == .bool(true))
        // The other session is revoked; this one stays.
        #expect(try b.awaitCloseFrame().closeCode == 4001)
        #expect(try upgradeStatus(g, tokenB) == 401)
        #expect(try a.call("auth.me").result != nil)
        #expect(try login(g.client(), "cp@example.com").errorReason == "invalid_credentials")
        let c = try g.client()
        #expect(try login(c, "cp@example.com", "another long one").result != nil)
        let all = try a.call("auth.logoutAll")
        #expect(all.result?["sessions"] == .number(JSONNumber(2)))
        #expect(try c.awaitCloseFrame().closeCode == 4001)
        #expect(try a.call("auth.me").errorReason == "unauthenticated")
    }

    /// 2a: over 20 alternating attempts the medians differ by less than 20 %. Timing on a
    /// shared 2-core machine is noisy, so up to three rounds (each on a fresh gateway) are
    /// measured and one must hold; an unknown email that skipped the hash (~1 ms against
    /// ~20 ms) fails all three.
    @Test func unknownEmailAndWrongPasswordTakeTheSameTime() throws {
        var seen: [String] = []
        for _ in 0..<3 {
            let (known, unknown) = try loginMedians()
            seen.append("\(known) vs \(unknown) ms")
            if Double(abs(known - unknown)) < 0.2 * Double(max(known, unknown)) { return }
        }
        Issue.record("medians (known email, wrong password) vs (unknown email) differ by 20 % or more: \(seen)")
    }

    /// Median ms of 10 wrong-password logins to registered emails and of 10 to unknown ones,
    /// alternating. Each registered email is tried once (the per-email limit is 5).
    private func loginMedians() throws -> (Int, Int) {
        let g = try gateway(.sqlite, Self.realHashCost)
        defer { g.stop() }
        let c = try g.client()
        var known: [Int] = []
        var unknown: [Int] = []
        for i in 0..<10 {
            _ = try register(c, "t\(i)@example.com")
            for (email, isKnown) in [("t\(i)@example.com", true), ("nobody\(i)@example.com", false)] {
                let start = ContinuousClock.now
                #expect(try login(c, email, "wrong password!").errorReason == "invalid_credentials")
                if isKnown { known.append(millis(since: start)) } else { unknown.append(millis(since: start)) }
            }
        }
        return (known.sorted()[known.count / 2], unknown.sorted()[unknown.count / 2])
    }
}

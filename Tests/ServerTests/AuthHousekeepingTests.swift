import Accounts
import Foundation
import JSON
import Store
import TestSupport
import Testing

/// What accounts keep in the store over time: hashes raised to the configured parameters at the
/// next login, and expired refresh tokens and ended sessions removed.
@Suite("Accounts housekeeping")
struct AuthHousekeepingTests {
    static let secret = "0123456789abcdef0123456789abcdef-test"

    func inspect<T: Sendable>(_ backend: StoreBackend, _ body: @escaping @Sendable (any SQLConnection) throws(StoreError) -> T) throws -> T {
        try onStore(backend, body)
    }

    func passwordHash(_ backend: StoreBackend, _ email: String) throws -> String? {
        try inspect(backend) { c throws(StoreError) in
            try c.queryOne("SELECT password_hash FROM users WHERE email = $1", [.text(email)]).map { r throws(StoreError) in try r.text(0) }
        }
    }

    /// Registered under cheap parameters, logged in under the defaults: the stored hash now
    /// carries the defaults, and the password still works.
    @Test(arguments: TestStore.allCases)
    func aLoginRaisesAnOldHashToTheConfiguredParameters(_ store: TestStore) throws {
        let backend = try store.backend()
        let cheap = try TestGateway(store: backend, accounts: { a in
            a.jwtSecret = Self.secret
            a.hashMemoryKiB = 1024
            a.hashIterations = 1
        })
        let c = try cheap.client()
        #expect(try c.call("auth.register", #"{"email":"old@example.com","password":"correct horse battery"}"#, timeoutMs: 15_000).result != nil)
        cheap.stop()
        let before = try #require(try passwordHash(backend, "old@example.com"))
        #expect(before.contains("m=1024,t=1,p=1"), "\(before)")

        let g = try TestGateway(store: backend, accounts: { a in
            a.jwtSecret = Self.secret
            AuthTests.realHashCost(&a)
        })
        defer { g.stop() }
        let d = try g.client()
        let login = #"{"email":"old@example.com","password":"correct horse battery"}"#
        #expect(try d.call("auth.login", login, timeoutMs: 15_000).result != nil)
        let after = try #require(try passwordHash(backend, "old@example.com"))
        #expect(after.contains("m=19456,t=2,p=1"), "\(after)")
        #expect(after != before)
        #expect(try d.call("auth.login", login, timeoutMs: 15_000).result != nil)
        #expect(try passwordHash(backend, "old@example.com") == after)
        #expect(try d.call("auth.login", #"{"email":"old@example.com","password":"wrong password!"}"#, timeoutMs: 15_000)
            .errorReason == "invalid_credentials")
    }

    /// With a 1 s refresh lifetime and a pass every second: the login's refresh token goes once
    /// expired; a session ended over a day ago goes; one revoked within the last day stays (the
    /// revocation set every process loads at start comes from those rows).
    @Test(arguments: TestStore.allCases)
    func expiredRefreshTokensAndEndedSessionsAreRemoved(_ store: TestStore) throws {
        let backend = try store.backend()
        let g = try TestGateway(store: backend, accounts: { a in
            a.jwtSecret = Self.secret
            a.refreshTTL = 1
            a.housekeepingInterval = 1
        })
        defer { g.stop() }
        let c = try g.client()
        let userId = try #require(try c.call("auth.register", #"{"email":"hk@example.com","password":"correct horse battery"}"#,
                                             timeoutMs: 15_000).result?["userId"]?.stringValue)
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let day: Int64 = 86_400_000
        try inspect(backend) { conn throws(StoreError) in
            // Ended two days ago; ended two days ago but revoked an hour ago; still running.
            for (id, expires, revoked) in [("s-ended", now - 2 * day, nil), ("s-revoked", now - 2 * day, now - 3_600_000),
                                           ("s-live", now + day, nil)] as [(String, Int64, Int64?)] {
                try conn.execute("INSERT INTO sessions (id, user_id, created_at, expires_at, revoked_at) VALUES ($1, $2, $3, $4, $5)",
                                 [.text(id), .text(userId), .int(now - 3 * day), .int(expires), revoked.map { .int($0) } ?? .null])
            }
        }
        #expect(try c.call("auth.login", #"{"email":"hk@example.com","password":"correct horse battery"}"#, timeoutMs: 15_000).result != nil)
        func count(_ sql: String) -> Int64 {
            (try? inspect(backend) { conn throws(StoreError) in try conn.queryOne(sql, [])?.int(0) ?? -1 }) ?? -1
        }
        #expect(eventually(within: 5_000, every: 200) { count("SELECT COUNT(*) FROM refresh_tokens") == 0 })
        #expect(eventually(within: 5_000, every: 200) { count("SELECT COUNT(*) FROM sessions WHERE id = 's-ended'") == 0 })
        #expect(count("SELECT COUNT(*) FROM sessions WHERE id IN ('s-revoked', 's-live')") == 2)
        // The login's own session (ends in 90 days) stays; only its refresh token expired.
        #expect(count("SELECT COUNT(*) FROM sessions WHERE id NOT IN ('s-ended', 's-revoked', 's-live')") == 1)
    }
}

// One suite, both backends: migrations, round trips, error mapping, loops, the bounded queue,
// concurrency, timeouts. PostgreSQL outages are in OutageTests.

#if canImport(Glibc)
import Glibc
#endif
import Reactor
@testable import Store
import Synchronization
import Testing

private let decimal = "12345678901234567890.0123456789"

private func insertUser(_ db: any SQLConnection, _ id: String, _ email: String) throws(StoreError) {
    try db.execute("INSERT INTO users (id, email, password_hash, created_at) VALUES ($1, $2, $3, $4)",
                   [.text(id), .text(email), .text("hash-\(id)"), .int(1_700_000_000_000)])
}

private func firstInts(_ rows: [SQLRow]) throws(StoreError) -> [Int64] {
    var out: [Int64] = []
    for r in rows { out.append(try r.int(0)) }
    return out
}

@Suite(.serialized) struct StoreTests {
    @Test(arguments: Backend.allCases)
    func migrationsApplyOnceAndReopenIsANoOp(_ backend: Backend) throws {
        let config = try backend.configuration()
        let store = try Store(configuration: config, logger: testLogger)
        let version = store.transactionBlocking(write: false) { db throws(StoreError) in
            try firstInts(db.query("SELECT version FROM schema_version", []))
        }
        #expect(try version.get() == [Int64(Migrations.latest)])
        #expect(try store.transactionBlocking { db throws(StoreError) in try insertUser(db, "u1", "a@x") }.get() == ())
        store.shutdown()
        // Again on the same database: nothing to apply, data kept.
        let again = try Store(configuration: config, logger: testLogger)
        defer { again.shutdown() }
        let users = again.transactionBlocking(write: false) { db throws(StoreError) in
            (try firstInts(db.query("SELECT version FROM schema_version", [])),
             try db.query("SELECT count(*) FROM users", [])[0].int(0))
        }
        #expect(try users.get().0 == [Int64(Migrations.latest)])
        #expect(try users.get().1 == 1)
    }

    @Test(arguments: Backend.allCases)
    func aNewerSchemaIsRefused(_ backend: Backend) throws {
        let config = try backend.configuration()
        let store = try Store(configuration: config, logger: testLogger)
        _ = try store.transactionBlocking { db throws(StoreError) in try db.execute("UPDATE schema_version SET version = 99", []) }.get()
        store.shutdown()
        #expect {
            _ = try Store(configuration: config, logger: testLogger)
        } throws: { error in
            (error as? StoreStartError)?.message ==
                "the database is at schema version 99, this build knows up to \(Migrations.latest); upgrade the gateway"
        }
    }

    @Test(arguments: Backend.allCases)
    func valuesRoundTripExactly(_ backend: Backend) throws {
        let store = try Store(configuration: try backend.configuration(), logger: testLogger)
        defer { store.shutdown() }
        let row = try store.transactionBlocking { db throws(StoreError) -> SQLRow? in
            try insertUser(db, "u1", "a@x")
            try db.execute("INSERT INTO sessions (id, user_id, created_at, expires_at, revoked_at, revoke_reason) VALUES ($1, $2, $3, $4, $5, $6)",
                           [.text("s1"), .text("u1"), .int(-5), .int(Int64.max), .null, .text("")])
            try db.execute("INSERT INTO portfolios (id, user_id, name, base_currency, created_at, realized_pnl) VALUES ($1, $2, $3, $4, $5, $6)",
                           [.text("p1"), .text("u1"), .text("Ünïcode 'quoted' $1"), .text("USD"), .int(7), .text(decimal)])
            return try db.queryOne("""
                SELECT s.created_at, s.expires_at, s.revoked_at, s.revoke_reason, p.name, p.realized_pnl, p.next_seq
                FROM sessions s JOIN portfolios p ON p.user_id = s.user_id WHERE s.id = $1 AND p.id = $2
                """, [.text("s1"), .text("p1")])
        }.get()
        let r = try #require(row)
        #expect(try r.int(0) == -5)
        #expect(try r.int(1) == Int64.max)
        #expect(r.isNull(2))
        #expect(try r.text(3) == "")
        #expect(try r.text(4) == "Ünïcode 'quoted' $1")
        #expect(try r.text(5) == decimal)
        #expect(try r.int(6) == 1)   // the default
        #expect(r.optionalInt(2) == nil)
        #expect(throws: StoreError.self) { try r.int(2) }
    }

    @Test(arguments: Backend.allCases)
    func uniqueViolationsAreNamed(_ backend: Backend) throws {
        let store = try Store(configuration: try backend.configuration(), logger: testLogger)
        defer { store.shutdown() }
        _ = try store.transactionBlocking { db throws(StoreError) in try insertUser(db, "u1", "a@x") }.get()
        let sameEmail = store.transactionBlocking { db throws(StoreError) in try insertUser(db, "u2", "a@x") }
        let sameID = store.transactionBlocking { db throws(StoreError) in try insertUser(db, "u1", "b@x") }
        switch backend {
        case .sqlite:
            #expect(sameEmail.failure == .uniqueViolation("users.email"))
            #expect(sameID.failure == .uniqueViolation("users.id"))
        case .postgres:
            #expect(sameEmail.failure == .uniqueViolation("users_email_key"))
            #expect(sameID.failure == .uniqueViolation("users_pkey"))
        }
    }

    @Test(arguments: Backend.allCases)
    func aThrowingBodyRollsBack(_ backend: Backend) throws {
        let store = try Store(configuration: try backend.configuration(), logger: testLogger)
        defer { store.shutdown() }
        let failed = store.transactionBlocking { db throws(StoreError) in
            try insertUser(db, "u1", "a@x")
            throw StoreError.invalid("the body gave up")
        }
        #expect(failed.failure == .invalid("the body gave up"))
        let count = store.transactionBlocking(write: false) { db throws(StoreError) in try db.query("SELECT count(*) FROM users", [])[0].int(0) }
        #expect(try count.get() == 0)
    }

    @Test(arguments: Backend.allCases)
    func theCompletionRunsOnTheCallingLoop(_ backend: Backend) throws {
        let store = try Store(configuration: try backend.configuration(), logger: testLogger)
        let l = try RunningLoop()
        defer { store.shutdown(); l.stop() }
        let seen = Recorder<(Bool, Bool)>()   // (body on the loop thread, completion on it)
        l.onLoop {
            store.transaction(on: l.loop, write: false, { _ throws(StoreError) in l.loop.inLoopThread },
                              completion: { r in seen.append(((try? r.get()) ?? true, l.loop.inLoopThread)) })
        }
        #expect(waitUntil { seen.count == 1 })
        #expect(seen.all.first?.0 == false)
        #expect(seen.all.first?.1 == true)
    }

    @Test(arguments: Backend.allCases)
    func aFullQueueAnswersBusyOnTheLoopLater(_ backend: Backend) throws {
        let store = try Store(configuration: try backend.configuration {
            $0.sqliteThreads = 1
            $0.postgresPool = 1
            $0.queueLimit = 1
        }, logger: testLogger)
        let l = try RunningLoop()
        let gate = Gate()
        defer { gate.release(); store.shutdown(); l.stop() }
        let started = Atomic<Bool>(false)
        let results = Recorder<String>()
        @Sendable func submit(_ name: String) {
            store.transaction(on: l.loop, write: false, { _ throws(StoreError) in
                started.store(true, ordering: .releasing)
                gate.wait()
            }, completion: { r in results.append(r.failure == .busy ? "\(name) busy" : "\(name) ok") })
        }
        l.onLoop { submit("first") }
        #expect(waitUntil { started.load(ordering: .acquiring) })   // the one worker is held
        l.onLoop {
            submit("second")   // queued
            submit("third")    // refused
            results.append("returned")   // before the refusal is delivered
        }
        #expect(waitUntil { results.count == 2 })
        #expect(results.all == ["returned", "third busy"])
        gate.release()
        #expect(waitUntil { results.count == 4 })
        #expect(results.all.suffix(2) == ["first ok", "second ok"])
    }

    @Test(arguments: Backend.allCases)
    func concurrentWritersLoseNoUpdate(_ backend: Backend) throws {
        let store = try Store(configuration: try backend.configuration(), logger: testLogger)
        let loops = try (0..<4).map { try RunningLoop(index: $0) }
        defer { store.shutdown(); loops.forEach { $0.stop() } }
        _ = try store.transactionBlocking { db throws(StoreError) in
            try insertUser(db, "u1", "a@x")
            try db.execute("INSERT INTO portfolios (id, user_id, name, base_currency, created_at) VALUES ('p1', 'u1', 'main', 'USD', 0)", [])
        }.get()
        let got = Recorder<Result<Int64, StoreError>>()
        for i in 0..<50 {
            let l = loops[i % 4]
            l.onLoop {
                store.transaction(on: l.loop, { db throws(StoreError) in
                    try db.query("UPDATE portfolios SET next_seq = next_seq + 1 WHERE id = $1 RETURNING next_seq - 1", [.text("p1")])[0].int(0)
                }, completion: { got.append($0) })
            }
        }
        #expect(waitUntil(timeout: 20_000) { got.count == 50 })
        let seqs = got.all.compactMap { try? $0.get() }
        #expect(seqs.count == 50)
        #expect(Set(seqs) == Set(1...50))
        let last = store.transactionBlocking(write: false) { db throws(StoreError) in
            try db.query("SELECT next_seq FROM portfolios WHERE id = 'p1'", [])[0].int(0)
        }
        #expect(try last.get() == 51)
    }

    @Test(arguments: Backend.allCases)
    func aLongStatementIsStoppedAtTheTimeout(_ backend: Backend) throws {
        let timeout: Millis = backend == .sqlite ? 300 : 500
        let store = try Store(configuration: try backend.configuration { $0.timeout = timeout }, logger: testLogger)
        defer { store.shutdown() }
        let slow = backend == .sqlite
            ? "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000000) SELECT count(*) FROM c"
            : "SELECT pg_sleep(3)"
        let start = Clock.monotonicMillis()
        let r = store.transactionBlocking(write: false) { db throws(StoreError) in try db.query(slow, []).count }
        let took = Clock.monotonicMillis() - start
        #expect(r.failure == .unavailable("timeout"))
        #expect(took >= timeout - 10 && took < 1_000, "took \(took) ms")
        // The connection still serves.
        let after = store.transactionBlocking(write: false) { db throws(StoreError) in try db.query("SELECT 1", [])[0].int(0) }
        #expect(try after.get() == 1)
    }

    @Test func sqlitePlaceholdersSkipLiteralsAndComments() {
        #expect(sqlitePlaceholders("SELECT $1, '$2', \"a$3\", $10 -- $4\n, $2") == "SELECT ?1, '$2', \"a$3\", ?10 -- $4\n, ?2")
        #expect(sqlitePlaceholders("SELECT 'it''s $1', $1") == "SELECT 'it''s $1', ?1")
    }

    @Test func sqliteRefusesRealAndBlobColumns() throws {
        let store = try Store(configuration: try Backend.sqlite.configuration(), logger: testLogger)
        defer { store.shutdown() }
        let real = store.transactionBlocking(write: false) { db throws(StoreError) in try db.query("SELECT 1.5", []).count }
        let blob = store.transactionBlocking(write: false) { db throws(StoreError) in try db.query("SELECT x'00'", []).count }
        #expect(real.failure == .invalid("column 0: REAL or BLOB value, never stored by this gateway"))
        #expect(blob.failure == .invalid("column 0: REAL or BLOB value, never stored by this gateway"))
    }
}

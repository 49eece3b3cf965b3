// A PostgreSQL server of the test's own goes away and comes back: operations answer
// `.unavailable` quickly, `isUp` follows, and the same Store recovers without a restart.

import Reactor
import Store
import Synchronization
import Testing
import TestSupport

/// A Store on a fresh database of `server`.
private func store(on server: PostgresServer, pool: Int, timeout: Millis) throws -> (Store, StoreConfiguration) {
    var config = StoreConfiguration()
    config.backend = .postgres(url: try server.freshDatabase())
    config.postgresPool = pool
    config.timeout = timeout
    return (try Store(configuration: config, logger: testLogger), config)
}

private let select: @Sendable (any SQLConnection) throws(StoreError) -> Int64 = { db throws(StoreError) in
    try db.query("SELECT 1", [])[0].int(0)
}

@Suite(.serialized) struct OutageTests {
    @Test func aStoppedServerIsUnavailableFastAndTheStoreRecovers() throws {
        let server = try PostgresServer.startPrivate()
        defer { server.destroy() }
        let (store, config) = try store(on: server, pool: 2, timeout: 1_000)
        let l = try RunningLoop()
        defer { store.shutdown(); l.stop() }
        store.startHealthChecks(on: l.loop)
        #expect(try l.transaction(store, select)?.get() == 1)
        #expect(store.isUp)

        try server.stop()
        for _ in 0..<3 {
            let start = Clock.monotonicMillis()
            let r = l.transaction(store, select)
            let took = Clock.monotonicMillis() - start
            guard case .failure(.unavailable) = r else {
                Issue.record("expected unavailable, got \(String(describing: r))")
                return
            }
            #expect(took < config.timeout + 1_000, "took \(took) ms")
        }
        #expect(waitUntil(timeout: 3_000) { !store.isUp })

        try server.start()
        let back = Clock.monotonicMillis()
        #expect(waitUntil(timeout: 5_000) { store.isUp })
        let upAfter = Clock.monotonicMillis() - back
        #expect(upAfter < 2_500, "isUp after \(upAfter) ms")
        // Operations succeed again on the same Store (each worker reconnects on its next use).
        var ok = 0
        #expect(waitUntil(timeout: 8_000) {
            if case .success(1) = l.transaction(store, select) { ok += 1 } else { ok = 0 }
            return ok >= 4
        })
        #expect(store.isUp)
    }

    @Test func aServerThatStopsAnsweringCostsAWorkerTheTimeoutPlusOneSecondAtMost() throws {
        let server = try PostgresServer.startPrivate()
        defer { server.destroy() }
        let (store, _) = try store(on: server, pool: 1, timeout: 500)
        defer { store.shutdown() }
        #expect(try store.transactionBlocking(select).get() == 1)
        try server.suspend()
        let start = Clock.monotonicMillis()
        let hung = store.transactionBlocking(select)
        let took = Clock.monotonicMillis() - start
        #expect(hung.failure == .unavailable("timeout"))
        #expect(took >= 1_400 && took < 2_500, "took \(took) ms")   // timeout + 1 s, client side
        try server.resume()
        var ok = false
        #expect(waitUntil(timeout: 8_000) {
            ok = (try? store.transactionBlocking(select).get()) == 1
            return ok
        })
    }
}

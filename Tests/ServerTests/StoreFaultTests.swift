import Accounts
import Gateway
import JSON
import Store
import TestSupport
import Testing

/// The store misbehaving while the gateway serves (issue 9): a slow query must not hold up the
/// price events of other clients on the same loop, and a PostgreSQL that goes away (stopped or
/// frozen) gives −32013 within the timeout, then service again once it is back.
@Suite("The store misbehaving", .serialized)
struct StoreFaultTests {
    /// Test-only: `test.storeSleep {ms}` holds a store transaction that long — `pg_sleep` on
    /// PostgreSQL; on SQLite a write transaction (BEGIN IMMEDIATE holds the write lock) whose
    /// worker sleeps inside it.
    static func sleepModule(_ modules: inout GatewayModules, _ store: Store) {
        modules.methods.register(MethodSpec("test.storeSleep", params: [.required("ms", .integer)]) { call in
            let ms = Int(call.params["ms"]?.numberValue?.int64 ?? 0)
            store.transaction(on: call.client.loop, write: true, { c throws(StoreError) in
                switch c.dialect {
                case .postgres: _ = try c.query("SELECT pg_sleep($1)", [.text("\(Double(ms) / 1000)")])
                case .sqlite: sleepMillis(ms)
                }
            }) { result in
                switch result {
                case .success: call.succeed(["slept": .number(JSONNumber(ms))])
                case .failure(let e): call.fail(.internalError("\(e)"))
                }
            }
        })
    }

    static let price = #"{"symbol":"GAP","price":"1.25","ts":1}"#

    /// One loop; a feed publishes every 5 ms from its own thread; while another client's query
    /// sleeps 2 s in the store, the subscriber's largest gap between events stays small.
    @Test(arguments: TestStore.allCases)
    func aSlowQueryDoesNotDelayPricesOnTheSameLoop(_ store: TestStore) throws {
        let g = try TestGateway(threads: 1, store: try store.backend(), storeModules: Self.sleepModule)
        defer { g.stop() }
        let sub = try g.client()
        #expect(try sub.call("subscribe", #"{"channel":"prices:GAP"}"#).result != nil)
        let slow = try g.client()
        let stop = StopFlag()
        let feed = BackgroundThread {
            guard let p = try? g.client(publisher: true) else { return }
            var n = 0
            while !stop.isSet && n < 2_000 {
                n += 1
                _ = try? p.send("publish", #"{"channel":"prices:GAP","data":\#(Self.price)}"#)
                if n % 20 == 0 { _ = try? p.answer(id: n, timeoutMs: 3000) }
                sleepMillis(5)
            }
            p.close()
        }
        defer {
            stop.set()
            feed.join()
        }
        try sub.waitForEvents(20)

        // The idle gaps first, then the same while the slow query runs.
        let idle = try largestGap(sub, forMs: 500)
        let id = try slow.send("test.storeSleep", #"{"ms":2000}"#)
        let start = ContinuousClock.now
        let busy = try largestGap(sub, forMs: 2_000)
        let answer = try slow.answer(id: id, timeoutMs: 5_000)
        let slept = millis(since: start)
        #expect(answer.result?["slept"] == .number(JSONNumber(2000)))
        #expect(slept >= 1_900, "the query returned after \(slept) ms, so it did not hold the store")
        // A blocked loop would show a gap of ~2,000 ms; the bound leaves room for a busy CI host.
        #expect(busy.gap < 300, "largest gap \(busy.gap) ms during the slow query (idle: \(idle.gap) ms), \(busy.events) events")
        #expect(busy.events > 100, "only \(busy.events) events in 2 s (idle: \(idle.events) in 0.5 s)")
    }

    /// The largest time between two events the client read within `ms`, and how many it read.
    func largestGap(_ c: RPCClient, forMs ms: Int) throws -> (gap: Int, events: Int) {
        _ = c.takeEvents()
        let start = ContinuousClock.now
        var lastAt = 0
        var gap = 0
        var count = 0
        while millis(since: start) < ms {
            do { try c.readOne(timeoutMs: ms - millis(since: start)) } catch { break }
            let got = c.takeEvents().count
            guard got > 0 else { continue }
            let at = millis(since: start)
            gap = max(gap, at - lastAt)
            lastAt = at
            count += got
        }
        return (max(gap, millis(since: start) - lastAt), count)
    }

    /// A gateway on `pg` (store timeout 1.5 s) and a client registered and logged in on it.
    func signedIn(on pg: PostgresServer) throws -> (TestGateway, RPCClient) {
        let g = try TestGateway(store: .postgres(url: try pg.freshDatabase()), storeSettings: { $0.timeout = 1_500 },
                                accounts: { $0.jwtSecret = "0123456789abcdef0123456789abcdef-test" })
        let c = try g.client()
        #expect(try c.call("auth.register", #"{"email":"pg@example.com","password":"correct horse battery"}"#, timeoutMs: 15_000).result != nil)
        #expect(try login(c).result != nil)
        return (g, c)
    }

    func login(_ c: RPCClient) throws -> Incoming {
        try c.call("auth.login", #"{"email":"pg@example.com","password":"correct horse battery"}"#, timeoutMs: 8000)
    }

    /// PostgreSQL stopped: the auth methods answer −32013 `unavailable` at once (connection
    /// refused); started again: they succeed without a gateway restart.
    @Test func authWhilePostgresIsStoppedAndAfter() throws {
        let pg = try PostgresServer.startPrivate()
        defer { pg.destroy() }
        let (g, c) = try signedIn(on: pg)
        defer { g.stop() }

        try pg.stop()
        for (method, params) in [("auth.me", "{}"), ("auth.login", #"{"email":"pg@example.com","password":"correct horse battery"}"#),
                                 ("auth.register", #"{"email":"pg2@example.com","password":"correct horse battery"}"#)] {
            let start = ContinuousClock.now
            let r = try c.call(method, params, timeoutMs: 8000)
            #expect(r.errorCode == -32013, "\(method): \(r.value)")
            #expect(r.errorReason == "unavailable", "\(method)")
            #expect(millis(since: start) < 1_500 + 1_500, "\(method) took \(millis(since: start)) ms")
        }
        // The refused logins were not failures: the password still logs in afterwards.
        try pg.start()
        #expect(eventually(within: 15_000, every: 250) { (try? login(c))?.result != nil })
        #expect(try c.call("auth.me").result?["email"] == .string("pg@example.com"))
        #expect(try c.call("auth.register", #"{"email":"pg2@example.com","password":"correct horse battery"}"#, timeoutMs: 15_000).result != nil)
    }

    /// PostgreSQL frozen (SIGSTOP: connections open, nothing answers): −32013 within the
    /// timeout (plus the worker's second of grace), never a hung request; thawed: served again.
    @Test func authWhilePostgresIsFrozenAndAfter() throws {
        let pg = try PostgresServer.startPrivate()
        defer { pg.destroy() }
        let (g, c) = try signedIn(on: pg)
        defer { g.stop() }

        try pg.suspend()
        let start = ContinuousClock.now
        let r = try c.call("auth.me", timeoutMs: 8000)
        let took = millis(since: start)
        try pg.resume()
        #expect(r.errorCode == -32013, "\(r.value)")
        #expect(took < 1_500 + 1_000 + 1_000, "auth.me took \(took) ms against a frozen server")
        #expect(eventually(within: 15_000, every: 250) { (try? c.call("auth.me", timeoutMs: 5000))?.result != nil })
    }
}

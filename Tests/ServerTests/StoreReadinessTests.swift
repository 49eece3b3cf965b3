import App
import JSON
import Store
import TestSupport
import Testing

/// `/readyz` follows the store (contract 1, issue 9): 503 while PostgreSQL is unreachable, 200
/// again once it is back, without restarting the gateway; and the gateway keeps serving.
@Suite(.serialized)
struct StoreReadinessTests {
    func readyStatus(_ port: Int) -> Int? {
        guard let probe = try? TCPClient(port: port) else { return nil }
        defer { probe.close() }
        return try? probe.exchange(rawRequest("/readyz", ["Host: 127.0.0.1", "Connection: close"])).status
    }

    @Test func readinessFollowsPostgresDownAndBackUp() throws {
        let pg = try PostgresServer.startPrivate()
        defer { pg.destroy() }
        let gw = try TestGateway(store: .postgres(url: try pg.freshDatabase()))
        defer { gw.stop() }
        #expect(eventually(within: 5_000) { readyStatus(gw.port) == 200 })

        try pg.stop()
        #expect(eventually(within: 5_000) { readyStatus(gw.port) == 503 })
        // Prices still flow while the store is down.
        let sub = try gw.client()
        #expect(try sub.call("subscribe", #"{"channel":"prices:AAPL"}"#).result != nil)
        let publisher = try gw.client(publisher: true)
        let published = try publisher.call("publish", #"{"channel":"prices:AAPL","data":{"symbol":"AAPL","price":"1.5","ts":1}}"#)
        #expect(published.result != nil)
        try sub.waitForEvents(1)
        #expect(sub.takeEvents().first?.params?["data"]?["price"] == .string("1.5"))

        try pg.start()
        #expect(eventually(within: 10_000) { readyStatus(gw.port) == 200 })
    }

    @Test func sqliteStoreIsReady() throws {
        let gw = try TestGateway()
        defer { gw.stop() }
        #expect(eventually(within: 5_000) { readyStatus(gw.port) == 200 })
    }
}

import Gateway
import JSON
import Synchronization
import Testing

/// Taps on published events (price bars, valuations): socket and HTTP publishes go through the
/// same path, and every published event reaches every registered tap, in order.
@Suite("Gateway publish taps")
struct GatewayTapTests {
    final class Seen: Sendable {
        let events = Mutex<[(String, UInt64)]>([])
        var snapshot: [(String, UInt64)] { events.withLock { $0 } }
    }

    @Test func socketAndHTTPPublishesReachEveryTap() throws {
        let first = Seen(), second = Seen()
        let g = try TestGateway(threads: 1, modules: { modules in
            for seen in [first, second] {
                modules.broker.addTap { events in seen.events.withLock { $0 += events.map { ($0.channel.name, $0.seq) } } }
            }
        })
        defer { g.stop() }
        let p = try g.client(publisher: true)
        defer { p.close() }
        _ = try GatewayReviewRegressionTests.publish(p, "TAP", 1)
        let reply = try g.httpPublish("""
            [{"channel":"prices:TAP","data":{"symbol":"TAP","price":"2","ts":2}},
             {"channel":"prices:TAP2","data":{"symbol":"TAP2","price":"3","ts":3}}]
            """)
        #expect(reply.status == 200)
        // A refused publish (invalid data) reaches no tap.
        #expect(try p.call("publish", "{\"channel\":\"prices:TAP\",\"data\":{\"symbol\":\"TAP\",\"price\":\"x\",\"ts\":1}}").errorCode == -32602)
        _ = try GatewayReviewRegressionTests.publish(p, "TAP", 4)
        for seen in [first, second] {
            let got = seen.snapshot
            #expect(got.map(\.0) == ["prices:TAP", "prices:TAP", "prices:TAP2", "prices:TAP"])
            #expect(got.map(\.1) == [1, 2, 1, 3])
        }
    }
}

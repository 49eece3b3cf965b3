import Gateway
import JSON
import Testing

/// An epoch handed out in a subscribe answer stays valid for the history age after the last
/// subscriber leaves, even when the channel never had an event (contract §2, gateway.md §3).
@Suite("Gateway quiet channels")
struct GatewayQuietChannelTests {
    @Test func aQuietChannelKeepsItsEpochAfterItsLastSubscriberLeaves() throws {
        let g = try TestGateway()
        defer { g.stop() }
        let channel = try #require(ChannelName("prices:QUIET"))
        let c = try g.client()
        let first = try c.call("subscribe", "{\"channel\":\"prices:QUIET\"}")
        let epoch = try #require(first.result?["epoch"]?.stringValue)
        #expect(first.result?["seq"] == .number(JSONNumber(0)))
        c.close()
        // The drop must have reached the broker before anything is published.
        #expect(eventually(within: 3000) { g.gateway.broker.subscriberCount(channel) == 0 })
        #expect(g.gateway.broker.channelCount == 1)
        let p = try g.client(publisher: true)
        defer { p.close() }
        for n in 1...3 { #expect(try GatewayReviewRegressionTests.publish(p, "QUIET", n).result?["epoch"]?.stringValue == epoch) }
        let again = try g.client()
        defer { again.close() }
        let r = try again.call("subscribe", "{\"channel\":\"prices:QUIET\",\"since\":{\"epoch\":\"\(epoch)\",\"seq\":0}}")
        #expect(r.result?["recovered"] == .bool(true))
        #expect(r.result?["epoch"]?.stringValue == epoch)
        #expect(r.result?["seq"] == .number(JSONNumber(3)))
        try again.waitForEvents(3)
        again.drain(forMs: 100)
        let events = again.takeEvents()
        #expect(events.compactMap(\.seq) == [1, 2, 3])
        #expect(events.map { $0.params?["data"]?["price"]?.stringValue } == ["1", "2", "3"])
    }

    @Test func aQuietChannelIsForgottenAfterItsRetention() throws {
        let g = try TestGateway { $0.broker.historyTTL = 200 }
        defer { g.stop() }
        let c = try g.client()
        defer { c.close() }
        let epoch = try #require(try c.call("subscribe", "{\"channel\":\"prices:GONE\"}").result?["epoch"]?.stringValue)
        #expect(try c.call("unsubscribe", "{\"channel\":\"prices:GONE\"}").result?["unsubscribed"] == .bool(true))
        // (That it is kept meanwhile is the test above's; here only that it goes.)
        #expect(eventually(within: 3000) { g.gateway.broker.channelCount == 0 })
        let r = try c.call("subscribe", "{\"channel\":\"prices:GONE\",\"since\":{\"epoch\":\"\(epoch)\",\"seq\":0}}")
        #expect(r.result?["recovered"] == .bool(false))
        #expect(r.result?["epoch"]?.stringValue != epoch)
    }

    @Test func quietChannelsGiveWayAtTheChannelLimitOldestFirst() throws {
        // Kept quiet channels count toward the limit, but must not lock others out of new
        // channels: at the limit the one quiet longest is given up (its epoch with it).
        let g = try TestGateway { $0.broker.maxChannels = 2 }
        defer { g.stop() }
        let c = try g.client()
        defer { c.close() }
        var epochs: [String: String] = [:]
        for s in ["A", "B"] {
            epochs[s] = try c.call("subscribe", "{\"channel\":\"prices:\(s)\"}").result?["epoch"]?.stringValue
            #expect(try c.call("unsubscribe", "{\"channel\":\"prices:\(s)\"}").result?["unsubscribed"] == .bool(true))
        }
        #expect(try c.call("subscribe", "{\"channel\":\"prices:C\"}").result != nil)   // A gives way
        #expect(g.gateway.broker.channelCount == 2)
        // B was kept: its epoch still recovers (and B is no new channel).
        let b = try c.call("subscribe", "{\"channel\":\"prices:B\",\"since\":{\"epoch\":\"\(epochs["B"] ?? "")\",\"seq\":0}}")
        #expect(b.result?["recovered"] == .bool(true))
        // B and C are subscribed now, nothing is quiet: a third channel is refused.
        let refused = try c.call("subscribe", "{\"channel\":\"prices:D\"}")
        #expect(refused.errorCode == -32008)
        #expect(refused.errorReason == "too_many_channels")
        // A's old epoch is gone: recovered:false with a new one, once there is room again.
        #expect(try c.call("unsubscribe", "{\"channel\":\"prices:C\"}").result?["unsubscribed"] == .bool(true))
        let a = try c.call("subscribe", "{\"channel\":\"prices:A\",\"since\":{\"epoch\":\"\(epochs["A"] ?? "")\",\"seq\":0}}")
        #expect(a.result?["recovered"] == .bool(false))
        #expect(a.result?["epoch"]?.stringValue != epochs["A"])
    }
}

@testable import Gateway
import JSON
import Reactor
import Testing

/// The fan-out routes positioned events to the loops that have subscribers of their channel.
@Suite("Fan-out")
struct FanOutTests {
    @Test func eventsGoOnlyWhereSubscribersAre() throws {
        let fanOut = FanOut(hubs: [LoopHub(index: 0), LoopHub(index: 1)])
        let log = LocalChannelLog(settings: ChannelLogSettings(), fanOut: fanOut)
        let a = try #require(ChannelName("prices:A")), b = try #require(ChannelName("prices:B"))
        func publish(_ ch: ChannelName) throws -> Event {
            try log.publish([PublishItem(ch, .object(JSONObject([("symbol", .string(ch.key))])))], now: 1).events[0]
        }
        fanOut.join(a, hub: 1)
        fanOut.join(a, hub: 1)
        fanOut.join(b, hub: 0)
        #expect(fanOut.subscriberCount(a) == 2)
        let e1 = try publish(a), e2 = try publish(b), e3 = try publish(a)
        #expect(fanOut.hubs[1].inboxSeqs == [e1.seq, e3.seq])
        #expect(fanOut.hubs[0].inboxSeqs == [e2.seq])
        fanOut.leave([a], hub: 1)
        fanOut.leave([a, b], hub: 1)   // b was never joined on hub 1: nothing to undo there
        #expect(fanOut.subscriberCount(a) == 0 && fanOut.subscriberCount(b) == 1)
        _ = try publish(a)
        #expect(fanOut.hubs[1].inboxSeqs == [e1.seq, e3.seq])   // nobody left on hub 1
    }
}

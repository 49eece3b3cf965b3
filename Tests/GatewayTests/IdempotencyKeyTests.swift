@testable import Gateway
import JSON
import Reactor
import Testing

/// Idempotent publish in the in-process log (contract 2d): a repeated key answers the first
/// position and makes no event, within the window, whatever the data.
@Suite("Idempotency keys")
struct IdempotencyKeyTests {
    func log(window: Millis = 1000) -> LocalChannelLog {
        var s = ChannelLogSettings()
        s.idempotencyWindow = window
        return LocalChannelLog(settings: s, fanOut: FanOut(hubs: [LoopHub(index: 0)]))
    }

    func item(_ channel: ChannelName, _ n: Int, key: String?) -> PublishItem {
        PublishItem(channel, .object(JSONObject([("symbol", .string(channel.key)), ("n", .number(JSONNumber(n)))])), idempotencyKey: key)
    }

    @Test func aRepeatAnswersTheFirstPositionAndPublishesNothing() throws {
        let b = log()
        let ch = try #require(ChannelName("prices:K"))
        let first = try b.publish([item(ch, 1, key: "k-1")], now: 10)
        let other = try b.publish([item(ch, 2, key: nil)], now: 11)
        let repeated = try b.publish([item(ch, 3, key: "k-1")], now: 12)
        #expect(first.events.count == 1 && other.events.count == 1)
        #expect(repeated.events.isEmpty)
        #expect(repeated.positions == [first.positions[0]])
        #expect(b.position(ch)?.seq == 2)
        // Another channel's key space is its own.
        let ch2 = try #require(ChannelName("prices:L"))
        #expect(try b.publish([item(ch2, 1, key: "k-1")], now: 13).events.count == 1)
    }

    @Test func aBatchRepeatingItsOwnKeyPublishesItOnce() throws {
        let b = log()
        let ch = try #require(ChannelName("prices:K"))
        let out = try b.publish([item(ch, 1, key: "a"), item(ch, 2, key: "a"), item(ch, 3, key: "b")], now: 10)
        #expect(out.events.map(\.seq) == [1, 2])
        #expect(out.positions.map { $0?.seq } == [1, 1, 2])
    }

    @Test func theWindowEnds() throws {
        let b = log(window: 1000)
        let ch = try #require(ChannelName("prices:K"))
        _ = try b.publish([item(ch, 1, key: "k")], now: 10)
        #expect(try b.publish([item(ch, 1, key: "k")], now: 1009).events.isEmpty)
        #expect(try b.publish([item(ch, 1, key: "k")], now: 1010).events.map(\.seq) == [2])
    }

    @Test func keysAreBoundedPerChannel() throws {
        var keys = IdempotencyKeys()
        for i in 0..<(IdempotencyKeys.limit + 10) { keys.record("k\(i)", seq: UInt64(i + 1), now: 1, window: 1_000_000) }
        #expect(keys.count == IdempotencyKeys.limit)
        #expect(keys.seq(for: "k0", now: 1, window: 1_000_000) == nil)
        #expect(keys.seq(for: "k\(IdempotencyKeys.limit + 9)", now: 1, window: 1_000_000) == UInt64(IdempotencyKeys.limit + 10))
    }

    @Test func theKeyRule() {
        #expect(PublishItem.isValidIdempotencyKey("a"))
        #expect(PublishItem.isValidIdempotencyKey(String(repeating: "~", count: 64)))
        #expect(!PublishItem.isValidIdempotencyKey(""))
        #expect(!PublishItem.isValidIdempotencyKey(String(repeating: "x", count: 65)))
        #expect(!PublishItem.isValidIdempotencyKey("a b"))
        #expect(!PublishItem.isValidIdempotencyKey("é"))
    }
}

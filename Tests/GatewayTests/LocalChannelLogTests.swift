@testable import Gateway
import JSON
import Reactor
import Testing

/// The in-process channel log, through its synchronous forms (what its callbacks are given).
@Suite("Local channel log")
struct LocalChannelLogTests {
    func broker(size: Int = 5, ttl: Millis = 1000) -> LocalChannelLog {
        var s = ChannelLogSettings()
        s.historySize = size
        s.historyTTL = ttl
        return LocalChannelLog(settings: s, fanOut: FanOut(hubs: [LoopHub(index: 0)]))
    }

    func publish(_ b: LocalChannelLog, _ n: Int, at now: Millis, channel: String = "prices:AAPL") throws -> [StreamPosition] {
        let ch = try #require(ChannelName(channel))
        return try (0..<n).map { i in
            try b.publish([PublishItem(ch, .object(JSONObject([("symbol", .string("AAPL")), ("n", .number(JSONNumber(i)))])))], now: now).events[0].position
        }
    }

    func grant(_ b: LocalChannelLog, _ ch: ChannelName, since: StreamPosition?, snapshot: Bool = false, now: Millis) throws -> ChannelGrant {
        try b.subscribe(ch, since: since, snapshot: snapshot, now: now)
    }

    @Test func replayHoldsTheNewestEventsWithinSizeAndAge() throws {
        let b = broker()
        let ch = try #require(ChannelName("prices:AAPL"))
        let positions = try publish(b, 8, at: 100)
        let epoch = positions[0].epoch
        #expect(positions.map(\.seq) == Array(1...8))
        #expect(Set(positions.map(\.epoch)).count == 1)
        // 4...8 held: since 3 recoverable (replays 4...8), since 2 not.
        let ok = try grant(b, ch, since: StreamPosition(epoch: epoch, seq: 3), now: 200)
        #expect(ok.recovered == true && ok.seq == 8 && ok.epoch == epoch)
        #expect(ok.replay.map(\.seq) == [4, 5, 6, 7, 8])
        #expect(try grant(b, ch, since: StreamPosition(epoch: epoch, seq: 2), now: 200).recovered == false)
        let upToDate = try grant(b, ch, since: StreamPosition(epoch: epoch, seq: 8), snapshot: true, now: 200)
        #expect(upToDate.recovered == true && upToDate.replay.isEmpty)   // no snapshot after a recovery
        #expect(try grant(b, ch, since: StreamPosition(epoch: epoch, seq: 9), now: 200).recovered == false)
        #expect(try grant(b, ch, since: StreamPosition(epoch: "other", seq: 8), now: 200).recovered == false)
        let plain = try grant(b, ch, since: nil, now: 200)
        #expect(plain.recovered == nil && plain.replay.isEmpty)
        let snap = try grant(b, ch, since: StreamPosition(epoch: "other", seq: 1), snapshot: true, now: 200)
        #expect(snap.recovered == false && snap.replay.map(\.seq) == [8])
        // Past the age limit nothing replays, but the latest value stays for snapshots and *.latest.
        #expect(try grant(b, ch, since: StreamPosition(epoch: epoch, seq: 7), now: 5000).recovered == false)
        #expect(try grant(b, ch, since: nil, snapshot: true, now: 5000).replay.map(\.seq) == [8])
        #expect(b.latest([ch])[0]?.seq == 8)
    }

    @Test func trimmingDropsExpiredHistoryButKeepsTheLatest() throws {
        let b = broker(size: 10, ttl: 1000)
        let ch = try #require(ChannelName("prices:AAPL"))
        let epoch = try publish(b, 4, at: 100)[0].epoch
        b.trim(now: 600)
        #expect(try grant(b, ch, since: StreamPosition(epoch: epoch, seq: 0), now: 600).replay.count == 4)   // young: kept
        b.trim(now: 2000)
        // Gone, whatever the clock says at the next subscribe.
        #expect(try grant(b, ch, since: StreamPosition(epoch: epoch, seq: 0), now: 0).recovered == false)
        #expect(b.latest([ch])[0]?.seq == 4)
        _ = try publish(b, 1, at: 2100)
        #expect(try grant(b, ch, since: StreamPosition(epoch: epoch, seq: 4), now: 2100).replay.map(\.seq) == [5])
    }

    @Test func publicationTimesNeverGoBackwards() throws {
        // A publish stamped with an earlier clock reading than the previous one (another loop's
        // cached time) must not make the older event look expired or the newer one look young.
        let b = broker(size: 10, ttl: 1000)
        let ch = try #require(ChannelName("prices:AAPL"))
        let epoch = try publish(b, 1, at: 5000)[0].epoch
        _ = try publish(b, 1, at: 4990)
        #expect(try grant(b, ch, since: StreamPosition(epoch: epoch, seq: 0), now: 4995).replay.map(\.seq) == [1, 2])
    }

    @Test func manyPublishesKeepTheRingBounded() throws {
        let b = broker(size: 3)
        let ch = try #require(ChannelName("prices:AAPL"))
        let epoch = try publish(b, 1000, at: 1)[0].epoch
        #expect(try grant(b, ch, since: StreamPosition(epoch: epoch, seq: 997), now: 1).replay.map(\.seq) == [998, 999, 1000])
        #expect(try grant(b, ch, since: StreamPosition(epoch: epoch, seq: 996), now: 1).recovered == false)
    }

    @Test func subscribingCountsTowardTheChannelLimitAndLeavesNothingBehind() throws {
        var s = ChannelLogSettings()
        s.maxChannels = 2
        let b = LocalChannelLog(settings: s, fanOut: FanOut(hubs: [LoopHub(index: 0)]))
        let a = try #require(ChannelName("prices:A")), c = try #require(ChannelName("prices:C"))
        _ = try grant(b, a, since: nil, now: 1)
        _ = try grant(b, try #require(ChannelName("prices:B")), since: nil, now: 1)
        #expect(throws: ChannelLogError.tooManyChannels) { _ = try grant(b, c, since: nil, now: 1) }
        b.unsubscribe([a], now: 1)   // never published, no subscriber left: kept for its retention
        #expect(b.channelCount == 2)
        b.trim(now: 1 + s.historyTTL)
        #expect(b.channelCount == 2)
        b.trim(now: 2 + s.historyTTL)   // quiet for longer than the history age: forgotten
        #expect(b.channelCount == 1)
        _ = try grant(b, c, since: nil, now: 1)
    }

    @Test func atTheLimitOnlyQuietChannelsGiveWayAndTheQueueStaysBounded() throws {
        var s = ChannelLogSettings()
        s.maxChannels = 3
        let b = LocalChannelLog(settings: s, fanOut: FanOut(hubs: [LoopHub(index: 0)]))
        let q1 = try #require(ChannelName("prices:Q1")), q2 = try #require(ChannelName("prices:Q2"))
        _ = try publish(b, 1, at: 1, channel: "prices:P")   // published: never given up
        // Churn on two names: every round leaves them quiet again (one queue entry each).
        for t in 0..<10_000 {
            _ = try grant(b, q1, since: nil, now: Millis(t))
            _ = try grant(b, q2, since: nil, now: Millis(t))
            b.unsubscribe([q2, q1], now: Millis(t))
        }
        #expect(b.quietQueueLength <= 2 * 3 + 1024)
        // Full (P, Q2, Q1 quiet in that order): a new channel takes Q2's place, then Q1's.
        _ = try grant(b, try #require(ChannelName("prices:N1")), since: nil, now: 20_000)
        #expect(b.position(q2) == nil && b.position(q1) != nil)
        _ = try grant(b, try #require(ChannelName("prices:N2")), since: nil, now: 20_000)
        #expect(b.position(q1) == nil)
        // P is published and N1, N2 are subscribed: nothing can give way.
        #expect(throws: ChannelLogError.tooManyChannels) { _ = try grant(b, q1, since: nil, now: 20_000) }
        #expect(throws: ChannelLogError.tooManyChannels) { _ = try publish(b, 1, at: 20_000, channel: "prices:P2") }
        #expect(b.channelCount == 3)
    }

    @Test func aBatchNeverMakesRoomWithItsOwnQuietChannels() throws {
        var s = ChannelLogSettings()
        s.maxChannels = 2
        let log = LocalChannelLog(settings: s, fanOut: FanOut(hubs: [LoopHub(index: 0)]))
        let a = try #require(ChannelName("prices:A")), b = try #require(ChannelName("prices:B"))
        let c = try #require(ChannelName("prices:C")), d = try #require(ChannelName("prices:D"))
        _ = try grant(log, a, since: nil, now: 10)
        log.unsubscribe([a], now: 11)   // A quiet
        _ = try grant(log, b, since: nil, now: 12)   // B live: the table is full
        let data = JSONValue.object(JSONObject([("symbol", .string("A")), ("price", .string("1")), ("ts", .number(JSONNumber(1)))]))
        // Evicting A for C would make A again: one over the bound. Nothing else is quiet.
        #expect(throws: ChannelLogError.tooManyChannels) { _ = try log.publish([PublishItem(a, data), PublishItem(c, data)], now: 20) }
        #expect(log.channelCount == 2)
        // A is still quiet, so it still gives way to someone else's new channel.
        _ = try grant(log, d, since: nil, now: 21)
        #expect(log.position(a) == nil && log.channelCount == 2)
    }

    @Test func aClockSlightlyBehindTheUnsubscribingLoopsKeepsTheQuietChannel() throws {
        let log = broker(ttl: 300_000)
        let a = try #require(ChannelName("prices:A"))
        let epoch = try grant(log, a, since: nil, now: 1_000).epoch
        log.unsubscribe([a], now: 1_002)   // another loop's cached clock
        log.trim(now: 1_001)               // hub 0's, a millisecond behind
        #expect(log.channelCount == 1)
        #expect(try grant(log, a, since: StreamPosition(epoch: epoch, seq: 0), now: 1_003).recovered == true)
    }

    @Test func aQuietChannelKeepsItsEpochForItsRetention() throws {
        let b = broker(ttl: 1000)
        let ch = try #require(ChannelName("prices:Q")), mine = try #require(ChannelName("portfolio:p1"))
        let epoch = try grant(b, ch, since: nil, now: 10).epoch
        let portfolioEpoch = try grant(b, mine, since: nil, now: 10).epoch
        b.unsubscribe([ch, mine], now: 10)
        b.trim(now: 900)
        _ = try publish(b, 3, at: 950, channel: "prices:Q")
        let back = try grant(b, ch, since: StreamPosition(epoch: epoch, seq: 0), now: 960)
        #expect(back.recovered == true && back.epoch == epoch && back.replay.map(\.seq) == [1, 2, 3])
        // A published channel is kept for good; a quiet portfolio channel for a day.
        b.trim(now: 100_000)
        #expect(b.channelCount == 2)
        #expect(try grant(b, mine, since: StreamPosition(epoch: portfolioEpoch, seq: 0), now: 100_000).recovered == true)
        b.unsubscribe([mine], now: 100_000)
        b.trim(now: 100_000 + 86_400_000 + 1)
        #expect(b.channelCount == 1)
    }

    @Test func channelLimit() throws {
        var s = ChannelLogSettings()
        s.maxChannels = 2
        let b = LocalChannelLog(settings: s, fanOut: FanOut(hubs: [LoopHub(index: 0)]))
        _ = try publish(b, 1, at: 1, channel: "prices:A")
        _ = try publish(b, 1, at: 1, channel: "prices:B")
        #expect(throws: ChannelLogError.tooManyChannels) { _ = try publish(b, 1, at: 1, channel: "prices:C") }
        _ = try publish(b, 1, at: 1, channel: "prices:A")   // existing channels still work
    }

    /// `count` events of about `padding` bytes of data each on `channel`, published at `now`.
    func publishPadded(_ b: LocalChannelLog, _ channel: String, count: Int, padding: Int, at now: Millis) throws -> [StreamPosition] {
        let ch = try #require(ChannelName(channel))
        let pad = JSONValue.string(String(repeating: "x", count: padding))
        return try (0..<count).map { _ in
            try b.publish([PublishItem(ch, .object(JSONObject([("symbol", .string(ch.key)), ("pad", pad)])))], now: now).events[0].position
        }
    }

    @Test func historiesTogetherStayWithinTheirMemoryBudget() throws {
        var s = ChannelLogSettings()
        s.historySize = 1_000
        s.historyTTL = 1_000_000
        s.historyBytes = 256 << 10
        let b = LocalChannelLog(settings: s, fanOut: FanOut(hubs: [LoopHub(index: 0)]))
        var last: [String: StreamPosition] = [:]
        var published = 0
        for round in 0..<40 {
            for c in 0..<20 {
                let name = "prices:S\(c)"
                last[name] = try publishPadded(b, name, count: 5, padding: 400, at: Millis(round)).last
                published += 5
                #expect(b.historyBytes <= s.historyBytes)
            }
        }
        // 4,000 events of ~1.4 KB: about 20 times the budget went through.
        let s0 = try #require(ChannelName("prices:S0"))
        let one = try #require(b.latest([s0])[0]).footprint
        #expect(published * one > 16 * s.historyBytes)
        #expect(b.historyBytes > s.historyBytes / 4, "the budget keeps recent history, not none")
        for (name, pos) in last {
            let ch = try #require(ChannelName(name))
            // The newest events of every channel are still replayable; the first ones are not.
            let recent = try grant(b, ch, since: StreamPosition(epoch: pos.epoch, seq: pos.seq - 3), now: 40)
            #expect(recent.recovered == true && recent.replay.map(\.seq) == [pos.seq - 2, pos.seq - 1, pos.seq])
            let old = try grant(b, ch, since: StreamPosition(epoch: pos.epoch, seq: 1), now: 40)
            #expect(old.recovered == false && old.replay.isEmpty)
        }
    }

    @Test func eventsDroppedForTheBudgetAreReallyFreed() throws {
        final class Weak { weak var event: Event?; init(_ e: Event?) { event = e } }
        var s = ChannelLogSettings()
        s.historyBytes = 1 << 20
        let b = LocalChannelLog(settings: s, fanOut: FanOut(hubs: [LoopHub(index: 0)]))
        var seen: [Weak] = []
        var names: [ChannelName] = []
        for c in 0..<200 {
            let name = "prices:F\(c)"
            let ch = try #require(ChannelName(name))
            names.append(ch)
            for _ in 0..<30 {
                _ = try publishPadded(b, name, count: 1, padding: 800, at: 1)
                seen.append(Weak(b.latest([ch])[0]))
            }
        }
        // What is still alive beyond each channel's latest event (kept outside the budget)
        // must fit the budget: dropped events are not merely uncounted but released.
        let latest = Set(names.compactMap { b.latest([$0])[0].map(ObjectIdentifier.init) })
        let alive = seen.compactMap(\.event).filter { !latest.contains(ObjectIdentifier($0)) }
        #expect(alive.reduce(0) { $0 + $1.footprint } <= s.historyBytes)
        #expect(b.historyBytes <= s.historyBytes)
    }

    @Test func anEventLargerThanAnEighthOfTheBudgetIsKeptOnlyAsLatest() throws {
        var s = ChannelLogSettings()
        s.historyBytes = 1 << 20
        let b = LocalChannelLog(settings: s, fanOut: FanOut(hubs: [LoopHub(index: 0)]))
        let small = try publishPadded(b, "prices:SMALL", count: 20, padding: 500, at: 1)
        let before = try publishPadded(b, "prices:BIG", count: 5, padding: 500, at: 1)
        let held = b.historyBytes
        let big = try publishPadded(b, "prices:BIG", count: 1, padding: 200_000, at: 2)[0]
        let bigName = try #require(ChannelName("prices:BIG"))
        #expect(b.latest([bigName])[0]?.seq == big.seq)
        // Only BIG's own history went (it could not be replayed past the missing event).
        #expect(b.historyBytes < held && b.historyBytes > 0)
        let lost = try grant(b, bigName, since: before[2], now: 3)
        #expect(lost.recovered == false)
        let smallName = try #require(ChannelName("prices:SMALL"))
        let kept = try grant(b, smallName, since: small[10], now: 3)
        #expect(kept.recovered == true && kept.replay.count == 9)
        // After it, the channel's history starts again.
        let next = try publishPadded(b, "prices:BIG", count: 2, padding: 500, at: 4)
        let again = try grant(b, bigName, since: next[0], now: 5)
        #expect(again.recovered == true && again.replay.map(\.seq) == [next[1].seq])
    }

    @Test func historyBytesFollowCountAndAgeTrimming() throws {
        let b = broker(size: 5, ttl: 1000)
        _ = try publishPadded(b, "prices:A", count: 50, padding: 100, at: 10)
        let a = try #require(ChannelName("prices:A"))
        let one = try #require(b.latest([a])[0]).footprint
        #expect(b.historyBytes == 5 * one)
        _ = try publishPadded(b, "prices:B", count: 2, padding: 100, at: 500)
        let bName = try #require(ChannelName("prices:B"))
        let oneB = try #require(b.latest([bName])[0]).footprint   // a shorter seq than A's
        #expect(b.historyBytes == 5 * one + 2 * oneB)
        b.trim(now: 1200)   // A's events are 1,190 ms old, B's 700
        #expect(b.historyBytes == 2 * oneB)
        b.trim(now: 5000)
        #expect(b.historyBytes == 0)
        #expect(b.latest([a])[0] != nil, "the latest event outlives its history")
    }

    @Test func epochsAreRandomHex() {
        let a = LocalChannelLog.newEpoch(), b = LocalChannelLog.newEpoch()
        #expect(a != b)
        #expect(a.utf8.count == 16 && a.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) })
    }

    @Test func eventFramesAreOneUnmaskedTextFrame() throws {
        let b = broker()
        let ch = try #require(ChannelName("prices:AAPL"))
        _ = try publish(b, 1, at: 1)
        let e = try #require(b.latest([ch])[0])
        let bytes = Array(e.frame.bytes)
        #expect(bytes[0] == 0x81)   // FIN, text, no RSV, unmasked
        #expect(bytes[1] == 126)
        #expect(Int(bytes[2]) << 8 | Int(bytes[3]) == bytes.count - 4)
        let payload = String(decoding: bytes[4...], as: UTF8.self)
        #expect(payload == "{\"jsonrpc\":\"2.0\",\"method\":\"event\",\"params\":{\"channel\":\"prices:AAPL\",\"epoch\":\"\(e.position.epoch)\",\"seq\":1,\"data\":{\"symbol\":\"AAPL\",\"n\":0}}}")
    }
}

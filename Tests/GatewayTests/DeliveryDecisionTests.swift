@testable import Gateway
import Reactor
import Testing

/// Every branch of the delivery rule (protocol/gateway.md §7), without sockets.
@Suite("Delivery decision")
struct DeliveryDecisionTests {
    /// A delivery that is sent when nothing else applies; each test changes one input.
    func decide(seq: UInt64 = 5, lastSeq: UInt64 = 4, closed: Bool = false, held: Bool = false,
                minInterval: Millis = 0, nextAllowed: Millis = 0, now: Millis = 1000,
                queued: Int = 0, bound: Int = 100, conflatable: Bool = true) -> DeliveryAction {
        DeliveryDecision.decide(seq: seq, lastSeq: lastSeq, closed: closed, held: held, minInterval: minInterval,
                                nextAllowed: nextAllowed, now: now, queued: queued, bound: bound, conflatable: conflatable)
    }

    @Test func underTheBoundAnEventGoesNow() {
        #expect(decide() == .send)
        #expect(decide(queued: 100) == .send)                       // at the bound is not over it
        #expect(decide(conflatable: false) == .send)
        #expect(decide(seq: 9, lastSeq: 4) == .send)                 // a jump (conflated upstream) still goes
    }

    @Test func duplicatesAndClosedSessionsDrop() {
        #expect(decide(seq: 4, lastSeq: 4) == .drop)
        #expect(decide(seq: 3, lastSeq: 4) == .drop)
        #expect(decide(closed: true) == .drop)
        #expect(decide(seq: 4, lastSeq: 4, held: true) == .drop)     // a duplicate is not even held
        #expect(decide(closed: true, held: true, queued: 1000) == .drop)
    }

    @Test func aHeldSubscriptionKeepsEvents() {
        #expect(decide(held: true) == .hold)
        // Held before paced or conflated: `start` decides again for each held event.
        #expect(decide(held: true, minInterval: 100, nextAllowed: 2000, queued: 1000) == .hold)
    }

    @Test func maxRatePacesUntilTheNextAllowedTime() {
        #expect(decide(minInterval: 100, nextAllowed: 1001, now: 1000) == .pace)
        #expect(decide(minInterval: 100, nextAllowed: 1000, now: 1000) == .send)   // due now
        #expect(decide(minInterval: 0, nextAllowed: 5000, now: 1000) == .send)     // no maxRate
        #expect(decide(minInterval: 100, nextAllowed: 2000, queued: 1000, conflatable: false) == .pace)
    }

    @Test func overTheBoundMarketEventsConflate() {
        #expect(decide(queued: 101) == .conflate)
        #expect(decide(queued: 10_000) == .conflate)                 // never a close for market data
        #expect(DeliveryAction.conflate.overBound)
    }

    @Test func overTheBoundPrivateEventsGoUntilTwiceTheBoundThenClose() {
        #expect(decide(queued: 101, conflatable: false) == .sendOverBound)
        #expect(decide(queued: 200, conflatable: false) == .sendOverBound)
        #expect(decide(queued: 201, conflatable: false) == .closeSlowConsumer)
        #expect(decide(queued: Int.max, bound: Int.max / 2 + 1, conflatable: false) == .sendOverBound)   // no overflow
        #expect(DeliveryAction.sendOverBound.overBound && DeliveryAction.closeSlowConsumer.overBound)
        #expect(!DeliveryAction.send.overBound && !DeliveryAction.pace.overBound && !DeliveryAction.hold.overBound)
        #expect(!DeliveryAction.drop.overBound)
    }

    @Test func theQueueIsReadOnlyWhenItDecides() {
        var reads = 0
        func queued() -> Int { reads += 1; return 0 }
        _ = DeliveryDecision.decide(seq: 1, lastSeq: 1, closed: false, held: false, minInterval: 0, nextAllowed: 0,
                                    now: 0, queued: queued(), bound: 1, conflatable: true)
        _ = DeliveryDecision.decide(seq: 2, lastSeq: 1, closed: false, held: true, minInterval: 0, nextAllowed: 0,
                                    now: 0, queued: queued(), bound: 1, conflatable: true)
        #expect(reads == 0)
        _ = DeliveryDecision.decide(seq: 2, lastSeq: 1, closed: false, held: false, minInterval: 0, nextAllowed: 0,
                                    now: 0, queued: queued(), bound: 1, conflatable: true)
        #expect(reads == 1)
    }
}

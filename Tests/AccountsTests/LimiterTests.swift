@testable import Accounts
import Testing

private let minute: Int64 = 60_000
private let window: Int64 = 15 * minute

@Suite struct LoginLimiterTests {
    @Test func fiveFailuresForOneEmailFromOnePeer() {
        let limiter = LoginLimiter()
        let t0: Int64 = 1_000_000
        for k in 0..<5 {
            #expect(limiter.check(email: "a@b.c", peer: "1.1.1.1", now: t0 + Int64(k) * 1000) == nil)
            limiter.recordFailure(email: "a@b.c", peer: "1.1.1.1", now: t0 + Int64(k) * 1000)
        }
        // Until the oldest (t0) leaves its 15-minute window.
        #expect(limiter.check(email: "a@b.c", peer: "1.1.1.1", now: t0 + 10_000) == window - 10_000)
        #expect(limiter.check(email: "a@b.c", peer: "1.1.1.1", now: t0 + window - 1) == 1)
        #expect(limiter.check(email: "a@b.c", peer: "1.1.1.1", now: t0 + window) == nil)
        // Another peer, or another email from this peer, is not limited.
        #expect(limiter.check(email: "a@b.c", peer: "2.2.2.2", now: t0 + 10_000) == nil)
        #expect(limiter.check(email: "x@b.c", peer: "1.1.1.1", now: t0 + 10_000) == nil)
    }

    @Test func slidingWindow() {
        let limiter = LoginLimiter()
        let times: [Int64] = [0, 5 * minute, 6 * minute, 7 * minute, 8 * minute]
        for t in times { limiter.recordFailure(email: "e@x.y", peer: "p", now: t) }
        #expect(limiter.check(email: "e@x.y", peer: "p", now: 9 * minute) == 6 * minute)
        // At 15 min the first leaves: 4 left, allowed; a failure then makes 5 again, bound by the 5-min one.
        #expect(limiter.check(email: "e@x.y", peer: "p", now: window) == nil)
        limiter.recordFailure(email: "e@x.y", peer: "p", now: window)
        #expect(limiter.check(email: "e@x.y", peer: "p", now: window) == 5 * minute)
    }

    @Test func fiftyForOneEmailFromAllPeers() {
        let limiter = LoginLimiter()
        for k in 0..<50 {
            // Four per peer, so the per-(email, peer) limit never binds.
            limiter.recordFailure(email: "v@x.y", peer: "peer\(k / 4)", now: Int64(k) * 1000)
        }
        #expect(limiter.check(email: "v@x.y", peer: "fresh-peer", now: 60_000) == window - 60_000)
        #expect(limiter.check(email: "other@x.y", peer: "fresh-peer", now: 60_000) == nil)
        #expect(limiter.check(email: "v@x.y", peer: "fresh-peer", now: window - 1) == 1)
        #expect(limiter.check(email: "v@x.y", peer: "fresh-peer", now: window) == nil)   // 49 left
    }

    @Test func thirtyFromOnePeerWithinAMinute() {
        let limiter = LoginLimiter()
        for k in 0..<30 {
            limiter.recordFailure(email: "u\(k)@x.y", peer: "9.9.9.9", now: Int64(k) * 100)
        }
        #expect(limiter.check(email: "new@x.y", peer: "9.9.9.9", now: 3000) == minute - 3000)
        #expect(limiter.check(email: "new@x.y", peer: "8.8.8.8", now: 3000) == nil)
        #expect(limiter.check(email: "new@x.y", peer: "9.9.9.9", now: minute) == nil)   // the one at 0 left
        #expect(limiter.check(email: "new@x.y", peer: "9.9.9.9", now: minute - 1) == 1)
    }

    @Test func largestBindingRetryWins() {
        let limiter = LoginLimiter()
        // 5 for (a, p) at 0..4 s: binds until 15 min. Then 25 more from p within the minute.
        for k in 0..<5 { limiter.recordFailure(email: "a@x.y", peer: "p", now: Int64(k) * 1000) }
        for k in 0..<25 { limiter.recordFailure(email: "b\(k)@x.y", peer: "p", now: 10_000 + Int64(k)) }
        // Both bind for a@x.y: the 15-minute one is larger.
        #expect(limiter.check(email: "a@x.y", peer: "p", now: 20_000) == window - 20_000)
        // Only the per-peer one for another email: until the oldest (0) leaves the minute.
        #expect(limiter.check(email: "c@x.y", peer: "p", now: 20_000) == minute - 20_000)
    }

    @Test func successClearsThatEmailFromThatPeer() {
        let limiter = LoginLimiter()
        for k in 0..<4 { limiter.recordFailure(email: "a@x.y", peer: "p", now: Int64(k)) }
        for k in 0..<4 { limiter.recordFailure(email: "a@x.y", peer: "q", now: Int64(k)) }
        limiter.recordSuccess(email: "a@x.y", peer: "p")
        // p starts again from zero: four more failures are still allowed.
        for k in 0..<4 { limiter.recordFailure(email: "a@x.y", peer: "p", now: 10 + Int64(k)) }
        #expect(limiter.check(email: "a@x.y", peer: "p", now: 20) == nil)
        // q's failures stay.
        limiter.recordFailure(email: "a@x.y", peer: "q", now: 20)
        #expect(limiter.check(email: "a@x.y", peer: "q", now: 30) == window - 30)
    }

    @Test func successClearsFromTheWiderCountsToo() {
        let limiter = LoginLimiter()
        // 29 from peer p: 4 on a@ (then a success), 25 on others. One more failure elsewhere is 26, not 30.
        for k in 0..<4 { limiter.recordFailure(email: "a@x.y", peer: "p", now: Int64(k)) }
        for k in 0..<25 { limiter.recordFailure(email: "o\(k)@x.y", peer: "p", now: 10 + Int64(k)) }
        limiter.recordSuccess(email: "a@x.y", peer: "p")
        limiter.recordFailure(email: "z@x.y", peer: "p", now: 100)
        #expect(limiter.check(email: "z2@x.y", peer: "p", now: 200) == nil)
        // Without the success those 4 would have counted: same sequence, limited.
        let other = LoginLimiter()
        for k in 0..<4 { other.recordFailure(email: "a@x.y", peer: "p", now: Int64(k)) }
        for k in 0..<25 { other.recordFailure(email: "o\(k)@x.y", peer: "p", now: 10 + Int64(k)) }
        other.recordFailure(email: "z@x.y", peer: "p", now: 100)
        #expect(other.check(email: "z2@x.y", peer: "p", now: 200) == minute - 200)
    }

    @Test func overshootFromConcurrentLoginsIsCounted() {
        let limiter = LoginLimiter()
        // 8 logins checked together, all failed: refusal lasts until 4 of them (8 - 5 + 1) have left.
        for k in 0..<8 { limiter.recordFailure(email: "a@x.y", peer: "p", now: Int64(k) * 1000) }
        #expect(limiter.check(email: "a@x.y", peer: "p", now: 10_000) == 3000 + window - 10_000)
    }

    @Test func threadSafe() async {
        let limiter = LoginLimiter()
        await withTaskGroup(of: Void.self) { group in
            for task in 0..<8 {
                group.addTask {
                    for k in 0..<500 {
                        limiter.recordFailure(email: "e\(k % 7)@x.y", peer: "p\(task)", now: Int64(k))
                        _ = limiter.check(email: "e\(k % 7)@x.y", peer: "p\(task)", now: Int64(k))
                        if k % 50 == 0 { limiter.recordSuccess(email: "e0@x.y", peer: "p\(task)") }
                    }
                }
            }
        }
        #expect(limiter.check(email: "e1@x.y", peer: "p0", now: 500) != nil)
    }

    @Test func boundedMemory() {
        var log = SlidingWindowLog<String>(limit: 5, windowMs: window, maxKeys: 80)
        for k in 0..<1000 { log.record("k\(k)", now: Int64(k)) }
        #expect(log.keyCount <= 80)
        // The newest keys survived, the oldest went.
        #expect(log.retryAfter("k999", now: 1000) == nil)
        for _ in 0..<5 { log.record("k999", now: 1000) }
        #expect(log.retryAfter("k999", now: 1000) == window)
        // Expired keys are swept once a window has passed.
        log.record("late", now: 10 * window)
        #expect(log.keyCount == 1)
    }

    @Test func eventsPerKeyAreBounded() {
        var log = SlidingWindowLog<String>(limit: 3, windowMs: 1000, maxKeys: 10)
        for k in 0..<100 { log.record("k", now: Int64(k)) }
        // 2 * limit kept: the refusal ends when the newest three have left, as if all were kept.
        let expected: Int64 = 97 + 1000 - 100
        #expect(log.retryAfter("k", now: 100) == expected)
    }

    @Test func clockSteppingBack() {
        var log = SlidingWindowLog<String>(limit: 2, windowMs: 1000, maxKeys: 10)
        log.record("k", now: 500)
        log.record("k", now: 400)
        let expected: Int64 = 400 + 1000 - 600
        #expect(log.retryAfter("k", now: 600) == expected)
    }
}

@Suite struct RegistrationLimiterTests {
    @Test func elevenInAMinuteIsRefused() {
        let limiter = RegistrationLimiter()
        for k in 0..<10 {
            #expect(limiter.admit(peer: "1.2.3.4", now: Int64(k) * 1000) == nil)
        }
        #expect(limiter.admit(peer: "1.2.3.4", now: 30_000) == minute - 30_000)
        #expect(limiter.admit(peer: "1.2.3.4", now: 30_000) == minute - 30_000)   // refusals not counted
        #expect(limiter.admit(peer: "5.6.7.8", now: 30_000) == nil)
        #expect(limiter.admit(peer: "1.2.3.4", now: minute) == nil)                // the one at 0 left
        #expect(limiter.check(peer: "1.2.3.4", now: minute) == 1000)               // 10 again; next at 1 s leaves
    }

    @Test func checkAndRecordSeparately() {
        let limiter = RegistrationLimiter(limit: 2, windowMs: 1000)
        limiter.record(peer: "p", now: 0)
        #expect(limiter.check(peer: "p", now: 1) == nil)
        limiter.record(peer: "p", now: 1)
        #expect(limiter.check(peer: "p", now: 2) == 998)
    }
}

// Timers on a real loop: order, cancel, repeat, cancel from inside a callback, re-entrancy,
// and the loop waking for a timer when nothing else happens.

#if canImport(Glibc)
import Glibc
#endif
@testable import Reactor
import Testing

@Suite struct TimerTests {
    @Test func firesInDeadlineOrderThenSchedulingOrder() throws {
        let l = try RunningLoop()
        defer { l.stop() }
        let fired = Recorder<String>()
        _ = l.onLoop {
            l.loop.schedule(after: 30) { fired.append("30") }
            l.loop.schedule(after: 10) { fired.append("10a") }
            l.loop.schedule(after: 20) { fired.append("20") }
            l.loop.schedule(after: 10) { fired.append("10b") }
            l.loop.schedule(after: 0) { fired.append("0") }
            return true
        }
        #expect(waitUntil { fired.count == 5 })
        #expect(fired.all == ["0", "10a", "10b", "20", "30"])
    }

    @Test func aCancelledTimerNeverFires() throws {
        let l = try RunningLoop()
        defer { l.stop() }
        let fired = Recorder<String>()
        _ = l.onLoop {
            let t = l.loop.schedule(after: 10) { fired.append("cancelled") }
            #expect(t.isActive)
            t.cancel()
            #expect(!t.isActive)
            t.cancel()   // twice: nothing
            l.loop.schedule(after: .max) { fired.append("never") }   // saturates, no wrap to "now"
            l.loop.schedule(after: 40) { fired.append("sentinel") }
            return true
        }
        #expect(waitUntil { fired.count >= 1 })
        #expect(fired.all == ["sentinel"])
    }

    @Test func repeatsUntilItCancelsItself() throws {
        let l = try RunningLoop()
        defer { l.stop() }
        let ticks = Recorder<Millis>()
        let done = Recorder<Bool>()
        let start = l.onLoop { () -> Millis in
            l.loop.schedule(every: 5) { timer in
                ticks.append(l.loop.now)
                if ticks.count == 5 {
                    timer.cancel()
                    #expect(!timer.isActive)
                    l.loop.schedule(after: 40) { done.append(true) }
                }
            }
            return l.loop.now
        } ?? .max
        #expect(waitUntil { done.count == 1 })
        let t = ticks.all
        #expect(t.count == 5)
        // Never early: the n-th run is due n intervals after scheduling (no drift either way).
        for (i, at) in t.enumerated() { #expect(at >= start + 5 * Millis(i + 1), "ticks at \(t) from \(start)") }
    }

    @Test func aCallbackCancelsAnotherDueInTheSamePass() throws {
        let l = try RunningLoop()
        defer { l.stop() }
        let fired = Recorder<String>()
        _ = l.onLoop {
            let victim = LoopLocal<LoopTimer?>(nil)
            // Same deadline: both are due in the same pass, the first runs first.
            l.loop.schedule(after: 10) {
                fired.append("first")
                victim.value?.cancel()
            }
            victim.value = l.loop.schedule(after: 10) { fired.append("victim") }
            l.loop.schedule(after: 50) { fired.append("sentinel") }
            return true
        }
        #expect(waitUntil { fired.count >= 2 })
        #expect(fired.all == ["first", "sentinel"])
    }

    @Test func aTimerScheduledFromACallbackRunsInALaterPass() throws {
        let l = try RunningLoop()
        defer { l.stop() }
        let passes = LoopLocal(0)
        let seen = Recorder<(String, Int)>()
        _ = l.onLoop {
            l.loop.addBeforeFlushHook { passes.value += 1 }
            l.loop.schedule(after: 5) {
                seen.append(("outer", passes.value))
                // Due at once, yet not in this round: a chain of these cannot starve the loop.
                l.loop.schedule(after: 0) { seen.append(("inner", passes.value)) }
            }
            return true
        }
        #expect(waitUntil { seen.count == 2 })
        let s = seen.all
        #expect(s.map(\.0) == ["outer", "inner"])
        #expect(s[1].1 > s[0].1, "inner ran in pass \(s[1].1), outer in \(s[0].1)")
    }

    @Test func theLoopWakesForATimerWithNothingElseGoingOn() throws {
        // No sweep for 30 s: only the timer's deadline can end the wait.
        let l = try RunningLoop { $0.sweepInterval = 30_000 }
        defer { l.stop() }
        let firedAfter = Recorder<UInt64>()
        // Let the loop settle into its long wait first.
        #expect(l.onLoop { true } == true)
        usleep(50_000)
        let start = Clock.monotonicNanos()
        l.loop.execute { l.loop.schedule(after: 80) { firedAfter.append(Clock.monotonicNanos() - start) } }
        #expect(waitUntil(timeout: 3_000) { firedAfter.count == 1 })
        let ms = (firedAfter.all.first ?? .max) / 1_000_000
        #expect(ms >= 70 && ms < 1_000, "fired after \(ms) ms")
    }

    @Test func manyCancelledTimersLeaveTheRestInOrder() throws {
        let l = try RunningLoop()
        defer { l.stop() }
        let fired = Recorder<Int>()
        _ = l.onLoop {
            var timers: [LoopTimer] = []
            for i in 0..<1_000 {
                timers.append(l.loop.schedule(after: Millis(10 + i % 50)) { fired.append(i) })
            }
            // Cancelling 900 rebuilds the heap (stale entries outnumber live ones).
            for (i, t) in timers.enumerated() where i % 10 != 0 { t.cancel() }
            #expect(l.loop.timers.activeCount == 100)
            l.loop.schedule(after: 100) { fired.append(-1) }
            return true
        }
        #expect(waitUntil { fired.count >= 101 })
        let f = fired.all
        #expect(f.count == 101 && f.last == -1)
        let kept = f.dropLast()
        #expect(kept.allSatisfy { $0 % 10 == 0 })
        let key = kept.map { (10 + $0 % 50) * 10_000 + $0 }
        #expect(key == key.sorted())
    }
}

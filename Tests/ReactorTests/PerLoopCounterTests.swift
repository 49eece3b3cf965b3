// Per-loop counters: two real loops count at once from their own threads while another
// thread scrapes; the sum is exact once they are done, and never goes backwards meanwhile.

@testable import Reactor
import Synchronization
import Testing

@Suite struct PerLoopCounterTests {
    @Test func twoLoopsCountingConcurrentlySumExactly() throws {
        let a = try RunningLoop(index: 0)
        let b = try RunningLoop(index: 1)
        defer { a.stop(); b.stop() }
        let counter = PerLoopCounter(name: "events", loops: 2)
        let finished = Atomic<Int>(0)
        let perLoop = 200_000
        for l in [a, b] {
            // In slices, from timers: the loops' passes interleave with the scraper.
            l.loop.execute {
                var left = perLoop
                l.loop.schedule(every: 1) { timer in
                    let n = min(left, 20_000)
                    for _ in 0..<n { counter.add(on: l.loop) }
                    left -= n
                    if left == 0 {
                        timer.cancel()
                        finished.add(1, ordering: .releasing)
                    }
                }
            }
        }
        var last: UInt64 = 0
        var monotonic = true
        var scrapes = 0
        #expect(waitUntil {
            let t = counter.total
            if t < last { monotonic = false }
            last = t
            scrapes += 1
            return finished.load(ordering: .acquiring) == 2
        })
        #expect(monotonic)
        #expect(counter.total == UInt64(2 * perLoop))
        #expect(counter.value(loop: 0) == UInt64(perLoop))
        #expect(counter.value(loop: 1) == UInt64(perLoop))
        #expect(scrapes > 1)
    }
}

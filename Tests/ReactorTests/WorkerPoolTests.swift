// The blocking-work pool: completions on the submitting loop's thread, a full queue refused at
// once, the loop serving while work blocks, and shutdown (queued work cancelled, threads joined).

#if canImport(Glibc)
import Glibc
#endif
@testable import Reactor
import CSystem
import Synchronization
import Testing

/// A gate blocking workers until opened (bounded: a forgotten gate cannot hang the suite).
private final class Gate: Sendable {
    private let open = Atomic<Bool>(false)
    func release() { open.store(true, ordering: .releasing) }
    func wait() { _ = waitUntil(timeout: 10_000) { open.load(ordering: .acquiring) } }
}

@Suite struct WorkerPoolTests {
    @Test func completionRunsOnTheSubmittingLoop() throws {
        let l = try RunningLoop()
        let pool = WorkerPool(name: "t", threads: 2, queueLimit: 4, logger: testLogger)
        defer { pool.shutdown(); l.stop() }
        let workOnLoop = Recorder<Bool>()
        let done = Recorder<(Int, Bool)>()
        let submitted = l.onLoop { () -> Bool in
            do {
                try pool.submit(from: l.loop, { () -> Int in
                    workOnLoop.append(l.loop.inLoopThread)
                    return 42
                }, completion: { r in
                    done.append(((try? r.get()) ?? -1, l.loop.inLoopThread))
                })
                return true
            } catch {
                return false
            }
        }
        #expect(submitted == true)
        #expect(waitUntil { done.count == 1 })
        #expect(workOnLoop.all == [false])
        #expect(done.all.first?.0 == 42 && done.all.first?.1 == true)
    }

    @Test func aFullQueueIsRefusedAtOnceWhileTheLoopKeepsServing() throws {
        let l = try RunningLoop()
        let pool = WorkerPool(name: "t", threads: 1, queueLimit: 2, logger: testLogger)
        defer { pool.shutdown(); l.stop() }
        let gate = Gate()
        let started = Recorder<Int>()
        let done = Recorder<Int>()
        func submit(_ i: Int) -> WorkerPool.Busy? {
            l.onLoop { () -> WorkerPool.Busy? in
                do {
                    try pool.submit(from: l.loop, { () -> Int in
                        started.append(i)
                        gate.wait()
                        return i
                    }, completion: { r in done.append((try? r.get()) ?? -1) })
                    return nil
                } catch let e as WorkerPool.Busy {
                    return e
                } catch {
                    return nil
                }
            } ?? nil
        }
        #expect(submit(1) == nil)
        #expect(waitUntil { started.count == 1 })   // the one thread is busy now
        #expect(submit(2) == nil)
        #expect(submit(3) == nil)
        #expect(submit(4) == .queueFull)
        #expect(pool.queuedCount == 2)
        // The worker blocks; the loop does not: a timer still fires.
        let ticked = Recorder<Bool>()
        _ = l.onLoop { l.loop.schedule(after: 10) { ticked.append(true) }; return true }
        #expect(waitUntil { ticked.count == 1 })
        #expect(done.count == 0)
        gate.release()
        #expect(waitUntil { done.count == 3 })
        #expect(done.all == [1, 2, 3])
    }

    @Test func shutdownCancelsQueuedWorkAndJoinsItsThreads() throws {
        let l = try RunningLoop()
        defer { l.stop() }
        let pool = WorkerPool(name: "t", threads: 1, queueLimit: 4, logger: testLogger)
        let gate = Gate()
        let started = Recorder<Int>()
        let results = Recorder<(Int, Bool)>()   // (value or -1 for cancelled, on the loop)
        let ok = l.onLoop { () -> Bool in
            for i in 1...3 {
                do {
                    try pool.submit(from: l.loop, { () -> Int in
                        started.append(i)
                        gate.wait()
                        return i
                    }, completion: { r in
                        switch r {
                        case .success(let v): results.append((v, l.loop.inLoopThread))
                        case .failure: results.append((-1, l.loop.inLoopThread))
                        }
                    })
                } catch {
                    return false
                }
            }
            return true
        }
        try #require(ok == true)
        #expect(waitUntil { started.count == 1 })
        let stopped = Recorder<Bool>()
        let thread = LoopThread.start(name: "test-shutdown") { pool.shutdown(); stopped.append(true) }
        let t = try #require(thread)
        // Queued work is told at once; the running job holds shutdown until it finishes.
        #expect(waitUntil { results.count == 2 })
        #expect(results.all.map(\.0) == [-1, -1])
        #expect(stopped.count == 0)
        gate.release()
        #expect(waitUntil { stopped.count == 1 })
        t.join()
        #expect(waitUntil { results.count == 3 })
        #expect(results.all.last?.0 == 1)
        #expect(results.all.allSatisfy { $0.1 })
        #expect(started.all == [1])
        let refused = l.onLoop { () -> WorkerPool.Busy? in
            do {
                try pool.submit(from: l.loop, { 0 }, completion: { _ in })
                return nil
            } catch let e as WorkerPool.Busy {
                return e
            } catch {
                return nil
            }
        } ?? nil
        #expect(refused == .shutDown)
    }

    @Test func indexedWorkSeesItsOwnThreadsIndex() throws {
        let l = try RunningLoop()
        let pool = WorkerPool(name: "t", threads: 3, queueLimit: 64, logger: testLogger)
        defer { pool.shutdown(); l.stop() }
        // Each index must always map to the same thread (the store keeps one connection each).
        let seen = Recorder<(Int, UInt)>()
        let ok = l.onLoop { () -> Bool in
            for _ in 0..<30 {
                do {
                    try pool.submit(from: l.loop, { (worker: Int) -> Int in
                        seen.append((worker, UInt(bitPattern: Int(bitPattern: UInt(pthread_self())))))
                        usleep(200)
                        return worker
                    }, completion: { _ in })
                } catch {
                    return false
                }
            }
            return true
        }
        #expect(ok == true)
        #expect(waitUntil { seen.count == 30 })
        var threadOf: [Int: UInt] = [:]
        for (worker, thread) in seen.all {
            #expect((0..<3).contains(worker))
            if let t = threadOf[worker] { #expect(t == thread) } else { threadOf[worker] = thread }
        }
        #expect(Set(threadOf.values).count == threadOf.count)
    }

    @Test func workersRunAtTheirNiceness() throws {
        let l = try RunningLoop()
        let pool = WorkerPool(name: "t", threads: 1, queueLimit: 4, priority: .nice(10), logger: testLogger)
        defer { pool.shutdown(); l.stop() }
        let base = cgw_thread_niceness()
        let got = Recorder<Int32>()
        let ok = l.onLoop { () -> Bool in
            (try? pool.submit(from: l.loop, { () -> Int32 in cgw_thread_niceness() },
                              completion: { r in if let v = try? r.get() { got.append(v) } })) != nil
        }
        #expect(ok == true)
        #expect(waitUntil { got.count == 1 })
        #expect(got.all == [10])   // absolute, as setpriority sets it
        #expect(cgw_thread_niceness() == base)   // only the worker changed
    }
}

@Suite struct WorkerPoolPriorityTests {
    @Test func idleWorkersRunUnderSchedIdle() throws {
        let l = try RunningLoop()
        let pool = WorkerPool(name: "t", threads: 1, queueLimit: 4, priority: .idle, logger: testLogger)
        defer { pool.shutdown(); l.stop() }
        let got = Recorder<Int32>()
        let ok = l.onLoop { () -> Bool in
            (try? pool.submit(from: l.loop, { () -> Int32 in cgw_thread_is_idle_policy() },
                              completion: { r in if let v = try? r.get() { got.append(v) } })) != nil
        }
        #expect(ok == true)
        #expect(waitUntil { got.count == 1 })
        #expect(got.all == [1])
        #expect(cgw_thread_is_idle_policy() == 0)   // only the worker changed
    }

    /// Under SCHED_IDLE only while a backlog waits: a flood gets spare CPU, a lone job a share.
    @Test func idleOnlyWhileBacklogged() throws {
        let l = try RunningLoop()
        let pool = WorkerPool(name: "t", threads: 1, queueLimit: 8, priority: .idleWhenBacklogged(backlog: 2, nice: 10),
                              logger: testLogger)
        defer { pool.shutdown(); l.stop() }
        let gate = Atomic<Bool>(false)
        let got = Recorder<Int32>()
        let ok = l.onLoop { () -> Bool in
            // One job holds the thread while three queue behind it.
            guard (try? pool.submit(from: l.loop, { () -> Int32 in
                while !gate.load(ordering: .acquiring) { usleep(1_000) }
                return -1
            }, completion: { _ in })) != nil else { return false }
            for _ in 0..<3 {
                guard (try? pool.submit(from: l.loop, { () -> Int32 in cgw_thread_is_idle_policy() },
                                        completion: { r in if let v = try? r.get() { got.append(v) } })) != nil else { return false }
            }
            return true
        }
        #expect(ok == true)
        gate.store(true, ordering: .releasing)
        #expect(waitUntil { got.count == 3 })
        // Two waiting when the first was taken: idle; then one, then none: normal again.
        #expect(got.all == [1, 0, 0])
    }
}

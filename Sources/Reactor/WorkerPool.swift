import CSystem
import Log

/// A fixed set of pthreads for blocking work (SQLite, password hashing) that must never run on
/// an event loop. Work is queued up to `queueLimit` jobs; beyond that `submit` refuses at once
/// (`Busy.queueFull`, for the RPC layer's -32013) instead of letting a queue grow without bound.
/// The completion runs on the loop that submitted, through `execute`.
///
/// Each thread has an index (`0..<threads`) that `submit`'s indexed form hands to the work, so a
/// caller can keep per-thread state (the store: one database connection per worker, touched
/// only by that thread). `priority` lowers the threads' CPU priority (the password-hash pool
/// runs at `.idle` so event loops win the CPU).
///
/// **Shutdown** (`shutdown()`): no new work is accepted; jobs already running finish and their
/// completions are delivered; jobs still queued never run, and their completions get
/// `.failure(.cancelled)` on their loops. Then every thread is joined. Shut the pool down
/// before its loops stop, or those completions are never run. Its threads keep the pool alive
/// until then.
/// How a pool's threads compete with the event loops for the CPU.
public enum WorkerPriority: Sendable, Equatable, CustomStringConvertible {
    /// Like every other thread (the store's workers: a loop is waiting for their answer).
    case normal
    /// A nice value (per thread on Linux).
    case nice(Int32)
    /// SCHED_IDLE: only CPU no normal thread wants, and a waking loop preempts it at once. For
    /// work that may wait (password hashes): a CPU-bound flood of it cannot delay a loop's
    /// wake-up, which at nice 10 it still did by a scheduler slice (measured: price delivery
    /// p99 2.3x its idle value during a login flood at nice 10).
    case idle
    /// SCHED_IDLE while at least `backlog` jobs wait (a flood), else the nice value: a flood
    /// gets only spare CPU, while a lone job on a busy machine still runs at a share (under
    /// SCHED_IDLE a 20 ms hash took seconds when other work kept both cores busy).
    case idleWhenBacklogged(backlog: Int, nice: Int32)

    public var description: String {
        switch self {
        case .normal: "normal"
        case .nice(let n): "nice \(n)"
        case .idle: "idle"
        case .idleWhenBacklogged(let backlog, let nice): "idle with \(backlog)+ waiting, else nice \(nice)"
        }
    }
}

public final class WorkerPool: Sendable {
    /// Why `submit` refused.
    public enum Busy: Error, Sendable, Equatable {
        /// `queueLimit` jobs are waiting already.
        case queueFull
        /// `shutdown()` has begun.
        case shutDown
    }

    /// What a completion gets instead of a value when its job was dropped at shutdown.
    public struct Cancelled: Error, Sendable, Equatable {}

    private struct Job {
        let run: @Sendable (Int) -> Void
        let cancel: @Sendable () -> Void
    }

    private struct State {
        var queue: [Job?]
        var head = 0
        var queued = 0
        var accepting = true
        var threads: [LoopThread] = []
    }

    public let name: String
    public let queueLimit: Int
    public let threads: Int
    public let priority: WorkerPriority
    private let logger: Logger
    private let lock = ConditionLock()
    // Only touched with `lock` held.
    nonisolated(unsafe) private var state: State

    public init(name: String, threads: Int, queueLimit: Int, priority: WorkerPriority = .normal, logger: Logger) {
        precondition(threads >= 1 && queueLimit >= 1)
        self.name = name
        self.queueLimit = queueLimit
        self.threads = threads
        self.priority = priority
        self.logger = logger.with("pool", name)
        state = State(queue: Array(repeating: nil, count: queueLimit))
        var started: [LoopThread] = []
        for i in 0..<threads {
            guard let t = LoopThread.start(name: "qv-\(name)-\(i)", { [self] in work(index: i) }) else {
                preconditionFailure("could not start worker thread \(i) of pool \(name)")
            }
            started.append(t)
        }
        lock.withLock { state.threads = started }
    }

    /// Queues `work` for a worker thread; `completion` later runs on `loop`'s thread with its
    /// result. Call on `loop`'s thread. Throws at once when the queue is full or shut down.
    public func submit<T: Sendable>(from loop: EventLoop, _ work: @escaping @Sendable () -> T,
                                    completion: @escaping (Result<T, Cancelled>) -> Void) throws(Busy) {
        try submit(from: loop, { (_: Int) in work() }, completion: completion)
    }

    /// The same, with the index (`0..<threads`) of the worker thread running `work`.
    public func submit<T: Sendable>(from loop: EventLoop, _ work: @escaping @Sendable (Int) -> T,
                                    completion: @escaping (Result<T, Cancelled>) -> Void) throws(Busy) {
        loop.assertInLoop()
        let done = LoopBound(completion)
        try enqueue({ worker in
            let value = work(worker)
            loop.execute { done.value(.success(value)) }
        }, cancelled: {
            loop.execute { done.value(.failure(Cancelled())) }
        })
    }

    /// The primitive under `submit`, for callers without a loop (a thread that waits for the
    /// answer itself, at start-up): `run` gets the worker's index on that worker; `cancelled`
    /// runs instead (on the thread calling `shutdown`) when the job is dropped at shutdown.
    /// Any thread. Throws at once when the queue is full or shut down.
    public func enqueue(_ run: @escaping @Sendable (Int) -> Void, cancelled: @escaping @Sendable () -> Void) throws(Busy) {
        let job = Job(run: run, cancel: cancelled)
        let refused: Busy? = lock.withLock {
            guard state.accepting else { return .shutDown }
            guard state.queued < queueLimit else { return .queueFull }
            state.queue[(state.head + state.queued) % queueLimit] = job
            state.queued += 1
            lock.signal()
            return nil
        }
        if let refused { throw refused }
    }

    /// Jobs waiting for a thread (any thread; a snapshot).
    public var queuedCount: Int { lock.withLock { state.queued } }

    /// Stops the pool as described above and joins its threads. Blocks: call it from a
    /// non-loop thread (main at exit), never from a worker. Idempotent.
    public func shutdown() {
        let (dropped, threads) = lock.withLock { () -> ([Job], [LoopThread]) in
            state.accepting = false
            var jobs: [Job] = []
            while let j = takeLocked() { jobs.append(j) }
            let t = state.threads
            state.threads = []
            lock.broadcast()
            return (jobs, t)
        }
        for j in dropped { j.cancel() }
        for t in threads { t.join() }
        if !dropped.isEmpty {
            logger.info("worker pool stopped: queued work cancelled", [("cancelled", String(dropped.count))])
        }
    }

    /// With the lock held.
    private func takeLocked() -> Job? {
        guard state.queued > 0 else { return nil }
        let j = state.queue[state.head]
        state.queue[state.head] = nil
        state.head = (state.head + 1) % queueLimit
        state.queued -= 1
        return j
    }

    /// A worker thread's whole life: take a job, run it, until shut down and empty.
    private func work(index: Int) {
        let failed: Bool = switch priority {
        case .normal: false
        case .nice(let n), .idleWhenBacklogged(_, let n): cgw_set_thread_niceness(n) != 0
        case .idle: cgw_set_thread_idle_policy() != 0
        }
        if failed {
            logger.warning("worker pool: could not lower the thread's priority", [("priority", "\(priority)"), ("errno", String(cgw_errno()))])
        }
        var idleNow = false
        while true {
            let (job, waiting): (Job?, Int) = lock.withLock {
                while state.queued == 0 && state.accepting { lock.wait() }
                let j = takeLocked()
                return (j, state.queued)
            }
            guard let job else { return }
            if case .idleWhenBacklogged(let backlog, _) = priority, (waiting >= backlog) != idleNow {
                // Two syscalls, only when the backlog crosses the mark.
                idleNow = waiting >= backlog
                _ = idleNow ? cgw_set_thread_idle_policy() : cgw_set_thread_normal_policy()
            }
            job.run(index)
        }
    }
}

/// A completion created on a loop thread, carried through a worker and back.
// @unchecked: its closure is only ever called on the loop that created it (via `execute`).


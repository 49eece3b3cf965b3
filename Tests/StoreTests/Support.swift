// Real loops, real databases (SQLite in a temp dir, a fresh PostgreSQL database), bounded waits.

#if canImport(Glibc)
import Glibc
#endif
import Log
@testable import Reactor
import Store
import Synchronization
import TestSupport

let testLogger = Logger(level: .critical)

/// The backends every store test runs against.
enum Backend: String, CaseIterable, Sendable {
    case sqlite
    case postgres

    /// A configuration on an empty database of this backend.
    func configuration(_ adjust: (inout StoreConfiguration) -> Void = { _ in }) throws -> StoreConfiguration {
        var c = StoreConfiguration()
        switch self {
        case .sqlite:
            c.backend = .sqlite(directory: try TemporaryDirectory.make(prefix: "qv-store") + "/data")
        case .postgres:
            c.backend = .postgres(url: try PostgresServer.shared().freshDatabase())
            c.postgresPool = 4
        }
        c.timeout = 2_000
        adjust(&c)
        return c
    }
}


/// Polls `condition` every millisecond for at most `timeout` ms; true once it holds.
func waitUntil(timeout: Int = 5_000, _ condition: () -> Bool) -> Bool {
    let end = Clock.monotonicNanos() + UInt64(timeout) * 1_000_000
    while !condition() {
        if Clock.monotonicNanos() > end { return false }
        usleep(1_000)
    }
    return true
}

final class Recorder<T: Sendable>: Sendable {
    private let items = Mutex<[T]>([])
    func append(_ t: T) { items.withLock { $0.append(t) } }
    var all: [T] { items.withLock { $0 } }
    var count: Int { items.withLock { $0.count } }
}

/// A gate holding workers until opened (bounded: a forgotten gate cannot hang the suite).
final class Gate: Sendable {
    private let open = Atomic<Bool>(false)
    func release() { open.store(true, ordering: .releasing) }
    func wait() { _ = waitUntil(timeout: 10_000) { open.load(ordering: .acquiring) } }
}

/// One started loop. `stop()` ends it and joins its thread.
final class RunningLoop: Sendable {
    let loop: EventLoop
    private let thread: LoopThread

    init(index: Int = 0) throws {
        let loop = try EventLoop(index: index, logger: testLogger)
        self.loop = loop
        guard let t = LoopThread.start(name: "test-loop-\(index)", { loop.run() }) else {
            throw SystemError(errno: EAGAIN, call: "pthread_create")
        }
        thread = t
    }

    /// Runs `body` on the loop and waits (bounded) for it.
    func onLoop(_ body: @escaping @Sendable () -> Void) {
        let done = Atomic<Bool>(false)
        loop.execute { body(); done.store(true, ordering: .releasing) }
        _ = waitUntil { done.load(ordering: .acquiring) }
    }

    /// A transaction submitted from the loop; waits (bounded) for its completion.
    func transaction<T: Sendable>(_ store: Store, write: Bool = true,
                                  _ body: @escaping @Sendable (any SQLConnection) throws(StoreError) -> T) -> Result<T, StoreError>? {
        let result = Mutex<Result<T, StoreError>?>(nil)
        loop.execute { store.transaction(on: self.loop, write: write, body, completion: { r in result.withLock { $0 = r } }) }
        var out: Result<T, StoreError>?
        _ = waitUntil(timeout: 15_000) { out = result.withLock { $0 }; return out != nil }
        return out
    }

    func stop() {
        loop.beginDrain(timeout: 0)
        thread.join()
    }
}

extension Result {
    var failure: Failure? { if case .failure(let e) = self { e } else { nil } }
}

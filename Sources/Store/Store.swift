#if canImport(Glibc)
import Glibc
#endif
import Log
import Reactor
import Synchronization

/// Where the data lives: `--data-dir` (SQLite, the embedded default) or `--postgres URL`.
public enum StoreBackend: Sendable, Equatable {
    /// The SQLite file `quantumvest.db` in this directory (created when missing).
    case sqlite(directory: String)
    /// A PostgreSQL server (`postgres://user:pass@host:port/db?…`, libpq's URI form).
    case postgres(url: String)
}

/// The store's settings (`--data-dir`, `--postgres`, `--postgres-pool`, `--store-timeout`,
/// `--store-queue`).
public struct StoreConfiguration: Sendable {
    /// `--data-dir`'s default.
    public static let defaultDataDirectory = "./data"
    public var backend: StoreBackend = .sqlite(directory: "./data")
    /// PostgreSQL connections (one worker thread each). SQLite uses `sqliteThreads`.
    public var postgresPool = 8
    public var sqliteThreads = 2
    /// Every statement, and every connection attempt, gives up after this long: −32013.
    public var timeout: Millis = 5_000
    /// Operations waiting for a connection at most; beyond it −32013 `busy`.
    public var queueLimit = 1_024

    public init() {}
}

/// The database behind one interface, whichever backend: a bounded pool of worker threads,
/// each owning one connection; operations are closures run inside a transaction on one of
/// them, and their completions come back on the calling loop. No event loop ever waits on it.
public final class Store: Sendable {
    public let configuration: StoreConfiguration
    public let dialect: SQLDialect
    private let pool: WorkerPool
    private let slots: [WorkerSlot]
    private let health: StoreHealth
    private let logger: Logger
    private let stopped = Atomic<Bool>(false)

    /// A `.retryable` transaction runs at most this many more times.
    static let retries = 3

    /// Opens the database, applies the migrations (blocking: call before the loops serve) and
    /// starts the workers. Throws a message fit for the operator (unreachable server, a schema
    /// newer than this build, an unwritable directory).
    public init(configuration: StoreConfiguration, logger: Logger) throws(StoreStartError) {
        self.configuration = configuration
        let logger = logger.with("component", "store")
        self.logger = logger
        health = StoreHealth(logger: logger)
        var connections: [any WorkerConnection] = []
        switch configuration.backend {
        case .sqlite(let directory):
            dialect = .sqlite
            try makeDirectories(directory)
            let path = directory + "/quantumvest.db"
            do {
                for _ in 0..<max(configuration.sqliteThreads, 1) {
                    connections.append(try SQLiteConnection(path: path, timeout: configuration.timeout, logger: logger))
                    // Migrate on the first connection before the others exist (WAL set up once).
                    if connections.count == 1 { try Self.migrate(connections[0], logger) }
                }
            } catch let error as StoreStartError {
                connections.forEach { $0.close() }
                throw error
            } catch {
                connections.forEach { $0.close() }
                throw StoreStartError(message: "cannot open the SQLite database \(path): \(error)")
            }
        case .postgres(let url):
            dialect = .postgres
            let reconnect = ReconnectBackoff()
            for _ in 0..<max(configuration.postgresPool, 1) {
                connections.append(PostgresConnection(url: url, timeout: configuration.timeout, reconnect: reconnect, logger: logger))
            }
            do {
                try Self.migrate(connections[0], logger)
            } catch {
                connections.forEach { $0.close() }
                throw error
            }
        }
        // The connections were touched on this thread only so far; from here each belongs to
        // its worker (thread creation orders the hand-over).
        slots = connections.map(WorkerSlot.init)
        pool = WorkerPool(name: "store", threads: connections.count, queueLimit: max(configuration.queueLimit, 1), logger: logger)
        logger.info("store open", [("backend", dialect == .sqlite ? "sqlite" : "postgres"),
                                   ("workers", String(connections.count)), ("schema", String(Migrations.latest))])
    }

    private static func migrate(_ connection: any WorkerConnection, _ logger: Logger) throws(StoreStartError) {
        switch run(connection, write: true, Migrations.migrate) {
        case .success(let found):
            if found < Migrations.latest {
                logger.info("schema migrated", [("from", String(found)), ("to", String(Migrations.latest))])
            }
        case .failure(.invalid(let m)) where m.hasPrefix(Migrations.SchemaTooNew.prefix):
            throw StoreStartError(message: String(m.dropFirst(Migrations.SchemaTooNew.prefix.count)))
        case .failure(.unavailable(let reason)):
            throw StoreStartError(message: "cannot reach the database: \(reason)")
        case .failure(let error):
            throw StoreStartError(message: "cannot prepare the database: \(error)")
        }
    }

    /// One transaction on the calling worker, retried a few times when `.retryable` with a
    /// short jittered backoff (the worker may sleep; a loop never runs this).
    private static func run<T>(_ connection: any WorkerConnection, write: Bool,
                               _ body: (any SQLConnection) throws(StoreError) -> T) -> Result<T, StoreError> {
        var attempt = 0
        while true {
            let result = connection.runOnce(write: write, body)
            guard case .failure(.retryable) = result, attempt < retries else { return result }
            attempt += 1
            usleep(UInt32(2_000 << attempt) + UInt32.random(in: 0..<2_000))
        }
    }

    /// Runs `body` inside one database transaction on a worker thread (committed when it
    /// returns, rolled back when it throws; `.retryable` failures are retried a few times),
    /// then `completion` on `loop`'s thread. Call on `loop`'s thread. A full queue completes
    /// with `.busy` (on the loop, after this returns); an unreachable database or a timeout
    /// with `.unavailable`.
    /// `write`: SQLite takes its write lock at BEGIN (`BEGIN IMMEDIATE`), so two writers never
    /// deadlock on a lock upgrade; read-only work passes false.
    public func transaction<T: Sendable>(on loop: EventLoop, write: Bool = true,
                                         _ body: @escaping @Sendable (any SQLConnection) throws(StoreError) -> T,
                                         completion: @escaping (Result<T, StoreError>) -> Void) {
        loop.assertInLoop()
        do {
            try pool.submit(from: loop, { [slots, health] (worker: Int) -> Result<T, StoreError> in
                let result = Self.run(slots[worker].connection, write: write, body)
                health.record(result)
                return result
            }, completion: { result in
                switch result {
                case .success(let r): completion(r)
                case .failure: completion(.failure(.unavailable("shutting down")))
                }
            })
        } catch {
            // Never re-entrantly: the caller's code after this call runs first.
            let refused: StoreError = error == .queueFull ? .busy : .unavailable("shutting down")
            let done = OnLoop(completion)
            loop.execute { done.call(.failure(refused)) }
        }
    }

    /// The same, blocking the calling thread: for start-up and command-line tools
    /// (`import-bars`), never on an event loop.
    public func transactionBlocking<T: Sendable>(write: Bool = true,
                                                 _ body: @escaping @Sendable (any SQLConnection) throws(StoreError) -> T) -> Result<T, StoreError> {
        let answer = OneShot<Result<T, StoreError>>()
        do {
            try pool.enqueue({ [slots, health] worker in
                let result = Self.run(slots[worker].connection, write: write, body)
                health.record(result)
                answer.put(result)
            }, cancelled: {
                answer.put(.failure(.unavailable("shutting down")))
            })
        } catch {
            return .failure(error == .queueFull ? .busy : .unavailable("shutting down"))
        }
        return answer.wait()
    }

    /// Reachable as of the last operation or health check (at most ~1 s old): `/readyz`.
    public var isUp: Bool { health.isUp }

    /// Starts the health check on `loop` (every second, a trivial query through the pool), so
    /// `isUp` recovers after an outage even when no request comes. Any thread.
    public func startHealthChecks(on loop: EventLoop) {
        loop.execute { [self] in
            var inFlight = false   // loop-confined: at most one check queued at a time
            loop.schedule(every: 1_000) { [self] timer in
                guard !stopped.load(ordering: .relaxed) else { return timer.cancel() }
                // A full queue is the store being busy, not down: skip this round.
                guard !inFlight, pool.queuedCount < pool.queueLimit else { return }
                do {
                    // The connection's probe, outside a transaction: PostgreSQL's connects even
                    // while the reconnect backoff holds operations off.
                    try pool.submit(from: loop, { [slots, health] (worker: Int) in
                        health.record(Result { () throws(StoreError) in try slots[worker].connection.probe() })
                    }, completion: { _ in inFlight = false })
                    inFlight = true
                } catch {
                    return   // shutting down or just filled up
                }
            }
        }
    }

    /// Stops the workers (queued operations complete with `.unavailable`) and closes the
    /// connections. Blocks; call from a non-loop thread before the loops stop. Idempotent.
    public func shutdown() {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        pool.shutdown()
        // The workers are joined: their connections are ours to close now.
        for slot in slots { slot.connection.close() }
        logger.info("store closed", [])
    }
}

/// Worker `i`'s connection, reachable from the pool's `@Sendable` job.
// @unchecked: only worker thread `i` touches `slots[i].connection` (and `shutdown`, after the
// threads are joined).
private final class WorkerSlot: @unchecked Sendable {
    let connection: any WorkerConnection
    init(_ connection: any WorkerConnection) { self.connection = connection }
}

/// Why the store could not start: printed for the operator, exit 1.
public struct StoreStartError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}

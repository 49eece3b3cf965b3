import Log
import Reactor

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

/// STUB — the interface is fixed; the store helper implements it.
///
/// The database behind one interface, whichever backend: a bounded pool of worker threads,
/// each owning one connection; operations are closures run inside a transaction on one of
/// them, and their completions come back on the calling loop. No event loop ever waits on it.
public final class Store: Sendable {
    public let configuration: StoreConfiguration
    public let dialect: SQLDialect

    /// Opens the database, applies the migrations (blocking: call before the loops serve) and
    /// starts the workers. Throws a message fit for the operator (unreachable server, a schema
    /// newer than this build, an unwritable directory).
    public init(configuration: StoreConfiguration, logger: Logger) throws(StoreStartError) {
        self.configuration = configuration
        switch configuration.backend {
        case .sqlite: dialect = .sqlite
        case .postgres: dialect = .postgres
        }
        throw StoreStartError(message: "not implemented")
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
        completion(.failure(.unavailable("not implemented")))
    }

    /// The same, blocking the calling thread: for start-up and command-line tools
    /// (`import-bars`), never on an event loop.
    public func transactionBlocking<T: Sendable>(write: Bool = true,
                                                 _ body: @escaping @Sendable (any SQLConnection) throws(StoreError) -> T) -> Result<T, StoreError> {
        .failure(.unavailable("not implemented"))
    }

    /// Reachable as of the last operation or health check (at most ~1 s old): `/readyz`.
    public var isUp: Bool { false }

    /// Starts the health check on `loop` (every second, a trivial query through the pool), so
    /// `isUp` recovers after an outage even when no request comes.
    public func startHealthChecks(on loop: EventLoop) {}

    /// Stops the workers (queued operations complete with `.unavailable`) and closes the
    /// connections. Blocks; call from a non-loop thread before the loops stop.
    public func shutdown() {}
}

/// Why the store could not start: printed for the operator, exit 1.
public struct StoreStartError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}

import CSQLite
import Log
import Reactor

/// One SQLite connection (`SQLITE_OPEN_NOMUTEX`: used by exactly one worker thread, so SQLite's
/// own locking is not needed). WAL, `synchronous=NORMAL`, foreign keys on, `busy_timeout` =
/// the store timeout; a statement running past the timeout is interrupted by the progress
/// handler. Prepared statements are cached per connection (bounded, least recently used out).
final class SQLiteConnection: WorkerConnection {
    let dialect = SQLDialect.sqlite
    private let db: OpaquePointer
    private let timeout: Millis
    private let logger: Logger
    private var cache: [String: (statement: OpaquePointer, lastUse: UInt64)] = [:]
    private var useCounter: UInt64 = 0
    private static let cacheLimit = 64
    /// Read by the progress handler (same thread): when the running statement must stop.
    fileprivate var deadline: Millis = .max

    init(path: String, timeout: Millis, logger: Logger) throws(StoreError) {
        var handle: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &handle, flags, nil)
        guard rc == SQLITE_OK, let handle else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close_v2(handle)
            throw .unavailable("cannot open \(path): \(message)")
        }
        db = handle
        self.timeout = timeout
        self.logger = logger
        sqlite3_extended_result_codes(db, 1)
        sqlite3_busy_timeout(db, Int32(clamping: timeout))
        installProgressHandler()
        do {
            for pragma in ["PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", "PRAGMA foreign_keys=ON"] {
                try query(pragma, [])
            }
        } catch {
            close()
            throw error
        }
    }

    /// The progress handler's context is this object, unretained: the handler is removed in
    /// `close()` before the object can go away.
    private func installProgressHandler() {
        let context = Unmanaged.passUnretained(self).toOpaque()
        sqlite3_progress_handler(db, 1_000, { context in
            guard let context else { return 0 }
            let connection = Unmanaged<SQLiteConnection>.fromOpaque(context).takeUnretainedValue()
            return Clock.monotonicMillis() > connection.deadline ? 1 : 0
        }, context)
    }

    func close() {
        for entry in cache.values { sqlite3_finalize(entry.statement) }
        cache = [:]
        sqlite3_progress_handler(db, 0, nil, nil)
        sqlite3_close_v2(db)
    }

    func begin(write: Bool) throws(StoreError) { try execute(write ? "BEGIN IMMEDIATE" : "BEGIN", []) }
    func commit() throws(StoreError) { try execute("COMMIT", []) }
    func rollback() {
        // Autocommit already: some errors (interrupt, I/O) roll back by themselves.
        guard sqlite3_get_autocommit(db) == 0 else { return }
        _ = try? execute("ROLLBACK", [])
    }

    @discardableResult
    func execute(_ sql: String, _ params: [SQLValue]) throws(StoreError) -> Int {
        try query(sql, params)
        return Int(sqlite3_changes64(db))
    }

    @discardableResult
    func query(_ sql: String, _ params: [SQLValue]) throws(StoreError) -> [SQLRow] {
        let statement = try prepared(sql)
        defer {
            sqlite3_reset(statement)
            sqlite3_clear_bindings(statement)   // parameter values (secrets) do not linger
        }
        try bind(params, to: statement)
        deadline = Clock.monotonicMillis() &+ timeout
        defer { deadline = .max }
        var rows: [SQLRow] = []
        while true {
            let rc = sqlite3_step(statement)
            if rc == SQLITE_DONE { return rows }
            guard rc == SQLITE_ROW else { throw error(rc) }
            rows.append(try row(statement))
        }
    }

    private func prepared(_ sql: String) throws(StoreError) -> OpaquePointer {
        useCounter &+= 1
        if let hit = cache[sql] {
            cache[sql] = (hit.statement, useCounter)
            return hit.statement
        }
        var statement: OpaquePointer?
        let rc = sqlite3_prepare_v3(db, sqlitePlaceholders(sql), -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
        guard rc == SQLITE_OK, let statement else { throw error(rc) }
        if cache.count >= Self.cacheLimit, let oldest = cache.min(by: { $0.value.lastUse < $1.value.lastUse }) {
            sqlite3_finalize(oldest.value.statement)
            cache[oldest.key] = nil
        }
        cache[sql] = (statement, useCounter)
        return statement
    }

    private func bind(_ params: [SQLValue], to statement: OpaquePointer) throws(StoreError) {
        let expected = Int(sqlite3_bind_parameter_count(statement))
        guard params.count == expected else {
            throw .invalid("statement takes \(expected) parameters, \(params.count) given")
        }
        for (i, value) in params.enumerated() {
            let index = Int32(i + 1)
            let rc: Int32
            switch value {
            case .null: rc = sqlite3_bind_null(statement, index)
            case .int(let v): rc = sqlite3_bind_int64(statement, index, v)
            case .text(let s):
                var s = s
                rc = s.withUTF8 { buffer in
                    buffer.withMemoryRebound(to: CChar.self) {
                        qv_sqlite3_bind_text_copy(statement, index, $0.baseAddress, Int32(clamping: $0.count))
                    }
                }
            }
            guard rc == SQLITE_OK else { throw error(rc) }
        }
    }

    /// Rows are input: a REAL or BLOB column is refused (we never store them).
    private func row(_ statement: OpaquePointer) throws(StoreError) -> SQLRow {
        let n = sqlite3_column_count(statement)
        var values: [SQLValue] = []
        values.reserveCapacity(Int(n))
        for c in 0..<n {
            switch sqlite3_column_type(statement, c) {
            case SQLITE_NULL: values.append(.null)
            case SQLITE_INTEGER: values.append(.int(sqlite3_column_int64(statement, c)))
            case SQLITE_TEXT:
                let count = Int(sqlite3_column_bytes(statement, c))
                guard let p = sqlite3_column_text(statement, c) else { values.append(.text("")); continue }
                values.append(.text(String(decoding: UnsafeBufferPointer(start: p, count: count), as: UTF8.self)))
            default:
                throw .invalid("column \(c): REAL or BLOB value, never stored by this gateway")
            }
        }
        return SQLRow(values)
    }

    /// SQLite's messages name tables and columns, never bound values.
    private func error(_ rc: Int32) -> StoreError {
        let message = String(cString: sqlite3_errmsg(db))
        switch rc {
        case QV_SQLITE_CONSTRAINT_UNIQUE, QV_SQLITE_CONSTRAINT_PRIMARYKEY:
            // "UNIQUE constraint failed: users.email" → "users.email"
            let name = message.split(separator: ":", maxSplits: 1).last.map { $0.trimmingSpaces } ?? message
            return .uniqueViolation(name)
        case _ where rc & 0xff == SQLITE_BUSY || rc & 0xff == SQLITE_LOCKED:
            return .retryable("sqlite: \(message)")
        case SQLITE_INTERRUPT:
            return .unavailable("timeout")
        case _ where rc & 0xff == SQLITE_IOERR || rc & 0xff == SQLITE_FULL || rc & 0xff == SQLITE_CANTOPEN:
            return .unavailable("sqlite: \(message)")
        default:
            logger.warning("sqlite error", [("code", String(rc)), ("message", message)])
            return .invalid("sqlite: \(message)")
        }
    }
}

extension Substring {
    var trimmingSpaces: String {
        String(drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed())
    }
}

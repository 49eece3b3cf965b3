/// The SQL layer both stores share: values, rows and one connection as the domain code sees
/// them. Domain code (accounts, portfolios, bars) is written once against `SQLConnection`, in
/// one SQL dialect: placeholders are `$1 … $n` (the SQLite driver binds them as `?1 … ?n`),
/// and the few differences are asked of `dialect`.

/// A bound parameter or a column value. Amounts travel as canonical decimal text (`.text`):
/// PostgreSQL stores them in `NUMERIC` columns, SQLite as text — never `REAL`.
public enum SQLValue: Sendable, Equatable {
    case null
    case int(Int64)
    case text(String)
}

/// Which server is on the other end, for the statements that differ.
public enum SQLDialect: Sendable, Equatable {
    case sqlite
    case postgres
}

/// Why a store operation failed. Messages are for logs and never carry parameter values
/// (they may be secrets: hashes, tokens).
public enum StoreError: Error, Sendable, Equatable {
    /// The worker queue is full: the client sees −32013 `busy`.
    case busy
    /// The database is unreachable, or the operation timed out (`--store-timeout`): −32013
    /// `unavailable`.
    case unavailable(String)
    /// A unique or primary-key constraint refused a write (the constraint's name when known).
    case uniqueViolation(String)
    /// A serialization failure or deadlock (PostgreSQL `40001`/`40P01`, SQLite `BUSY`): the
    /// transaction may be retried.
    case retryable(String)
    /// A row that does not have the shape the code expects (rows are input too), or another
    /// error of the query itself: a bug or a damaged database, logged, −32603 to the client.
    case invalid(String)
}

/// One result row: columns by position, as the query's SELECT list has them.
public struct SQLRow: Sendable {
    public let values: [SQLValue]

    public init(_ values: [SQLValue]) { self.values = values }

    public var count: Int { values.count }

    /// Column `i` as an integer (PostgreSQL's text results are parsed here). Throws `.invalid`
    /// on NULL or a non-integer.
    public func int(_ i: Int) throws(StoreError) -> Int64 {
        guard let v = optionalInt(i) else { throw .invalid("column \(i): expected an integer, got NULL") }
        return v
    }

    public func optionalInt(_ i: Int) -> Int64? {
        guard i >= 0, i < values.count else { return nil }
        switch values[i] {
        case .int(let v): return v
        case .text(let s): return Int64(s)
        case .null: return nil
        }
    }

    /// Column `i` as text. Throws `.invalid` on NULL.
    public func text(_ i: Int) throws(StoreError) -> String {
        guard let v = optionalText(i) else { throw .invalid("column \(i): expected text, got NULL") }
        return v
    }

    public func optionalText(_ i: Int) -> String? {
        guard i >= 0, i < values.count else { return nil }
        switch values[i] {
        case .text(let s): return s
        case .int(let v): return String(v)
        case .null: return nil
        }
    }

    public func isNull(_ i: Int) -> Bool {
        guard i >= 0, i < values.count else { return true }
        return values[i] == .null
    }
}

/// One open database connection, owned by one worker thread: never shared, never touched on an
/// event loop. Inside `Store.transaction` the connection is already in a transaction.
public protocol SQLConnection: AnyObject {
    var dialect: SQLDialect { get }

    /// Runs one statement with bound parameters and returns its rows (none for a write without
    /// `RETURNING`).
    @discardableResult
    func query(_ sql: String, _ params: [SQLValue]) throws(StoreError) -> [SQLRow]

    /// Runs one statement and returns how many rows it changed.
    @discardableResult
    func execute(_ sql: String, _ params: [SQLValue]) throws(StoreError) -> Int
}

extension SQLConnection {
    /// The first row, or nil.
    public func queryOne(_ sql: String, _ params: [SQLValue]) throws(StoreError) -> SQLRow? {
        try query(sql, params).first
    }
}

#if canImport(Glibc)
import Glibc
#endif
import CLibPQ
import Log
import Reactor

/// One PostgreSQL connection (libpq), owned by one store worker thread.
///
/// Why worker threads rather than `PQsocket` on an epoll loop: it is the same shape as SQLite
/// (one pool, one interface, one test suite), a transaction is plain sequential code instead of
/// a chain of callbacks across loop passes, and the pool bounds the connections and the queue.
/// The thread is still never at libpq's mercy: every call here is libpq's non-blocking form
/// (`PQconnectStartParams`/`PQconnectPoll`, `PQsendQueryParams`/`PQconsumeInput`) waited on
/// with `poll()` and a deadline, so a server that stops answering cannot hold a worker past
/// the timeout (+1 s: the server's own `statement_timeout` normally answers first).
///
/// A lost connection is dropped (`.unavailable`) and made again by a later operation, gated
/// by the shared `ReconnectBackoff`. Parameters always travel separately, as text, never
/// spliced into SQL; results come back as text (NULL → `.null`).
final class PostgresConnection: WorkerConnection {
    let dialect = SQLDialect.postgres
    private let url: String
    private let timeout: Millis
    private let reconnect: ReconnectBackoff
    private let logger: Logger
    private var conn: OpaquePointer?

    init(url: String, timeout: Millis, reconnect: ReconnectBackoff, logger: Logger) {
        self.url = url
        self.timeout = timeout
        self.reconnect = reconnect
        self.logger = logger
    }

    func close() { drop() }

    func begin(write: Bool) throws(StoreError) {
        if conn != nil {
            do throws(StoreError) {
                try execute("BEGIN", [])
                return
            } catch {
                // Still connected: a real failure. Dropped: maybe a server restart since the
                // last use, so one fresh connection before giving up.
                guard conn == nil, error != .unavailable("timeout") else { throw error }
            }
        }
        try connect(ignoringBackoff: false)
        try execute("BEGIN", [])
    }

    func commit() throws(StoreError) {
        // COMMIT of a failed transaction "succeeds" as a rollback: say so instead.
        if let conn, PQtransactionStatus(conn) == PQTRANS_INERROR {
            throw .invalid("the transaction failed earlier and was rolled back")
        }
        try execute("COMMIT", [])
    }

    func rollback() {
        guard let conn, PQtransactionStatus(conn) != PQTRANS_IDLE else { return }
        _ = try? execute("ROLLBACK", [])
    }

    /// The health check: connects even while the backoff holds operations off (one attempt a
    /// second at most), so `isUp` turns true soon after the server is back.
    func probe() throws(StoreError) {
        if conn == nil { try connect(ignoringBackoff: true) }
        try query("SELECT 1", [])
    }

    @discardableResult
    func query(_ sql: String, _ params: [SQLValue]) throws(StoreError) -> [SQLRow] { try run(sql, params).rows }

    @discardableResult
    func execute(_ sql: String, _ params: [SQLValue]) throws(StoreError) -> Int { try run(sql, params).changed }

    // MARK: connecting

    private func connect(ignoringBackoff: Bool) throws(StoreError) {
        guard ignoringBackoff || reconnect.mayAttempt() else {
            throw .unavailable("database unreachable (waiting to reconnect)")
        }
        do throws(StoreError) {
            try open()
            reconnect.succeeded()
        } catch {
            drop()
            // Once per outage, not every second of it (the health check keeps trying).
            let level: Logger.Level = reconnect.failed() ? .warning : .debug
            if case .unavailable(let reason) = error { logger.log(level, "postgres connect failed", [("reason", reason)]) }
            throw error
        }
    }

    private func open() throws(StoreError) {
        let deadline = Clock.monotonicMillis() &+ timeout
        let keys = ["dbname", "connect_timeout", "application_name"]
        let values = [url, String(max(1, (timeout + 999) / 1_000)), "quantumvest"]
        let started = withCStrings(keys) { k in withCStrings(values) { v in PQconnectStartParams(k, v, 1) } }
        guard let c = started else { throw .unavailable("postgres: out of memory") }
        conn = c
        guard PQstatus(c) != CONNECTION_BAD else { throw failedConnect(c) }
        // As if PQconnectPoll had just asked to write (libpq's documented start state).
        var status = PGRES_POLLING_WRITING
        while status != PGRES_POLLING_OK {
            switch status {
            case PGRES_POLLING_READING: try waitFor(c, write: false, until: deadline)
            case PGRES_POLLING_WRITING: try waitFor(c, write: true, until: deadline)
            default: throw failedConnect(c)
            }
            status = PQconnectPoll(c)
        }
        guard PQsetnonblocking(c, 1) == 0 else { throw failedConnect(c) }
        // libpq prints server NOTICEs on stderr by default; they are not ours to show.
        PQsetNoticeProcessor(c, { _, _ in }, nil)
        // Our own integer, not input: the server gives up on a statement first.
        try execute("SET statement_timeout = \(timeout)", [])
    }

    private func failedConnect(_ c: OpaquePointer) -> StoreError {
        .unavailable("postgres: \(firstLine(PQerrorMessage(c)))")
    }

    /// Waits until the socket is readable (or writable) or the deadline passes.
    private func waitFor(_ c: OpaquePointer, write: Bool, until deadline: Millis) throws(StoreError) {
        let fd = PQsocket(c)
        guard fd >= 0 else { throw .unavailable("postgres: no connection") }
        while true {
            let now = Clock.monotonicMillis()
            guard now < deadline else { throw .unavailable("timeout") }
            var p = pollfd(fd: fd, events: Int16(write ? POLLOUT : POLLIN), revents: 0)
            let rc = poll(&p, 1, Int32(clamping: deadline - now))
            if rc > 0 { return }
            if rc < 0 && errno != EINTR { throw .unavailable("postgres: poll failed") }
        }
    }

    /// Closes the server connection (non-blocking: libpq only tries to send its goodbye).
    private func drop() {
        if let conn { PQfinish(conn) }
        conn = nil
    }

    // MARK: statements

    private func run(_ sql: String, _ params: [SQLValue]) throws(StoreError) -> (rows: [SQLRow], changed: Int) {
        guard let c = conn else { throw .unavailable("postgres: connection lost") }
        var texts: [String?] = []
        texts.reserveCapacity(params.count)
        for (i, p) in params.enumerated() {
            switch p {
            case .null: texts.append(nil)
            case .int(let v): texts.append(String(v))
            case .text(let s):
                guard !s.utf8.contains(0) else { throw .invalid("parameter \(i + 1) contains a NUL byte") }
                texts.append(s)
            }
        }
        let sent = withCStrings(texts) { values in
            PQsendQueryParams(c, sql, Int32(params.count), nil, values, nil, nil, 0)
        }
        guard sent == 1 else { throw lost(c) }
        let deadline = Clock.monotonicMillis() &+ timeout &+ 1_000
        do throws(StoreError) {
            try flush(c, until: deadline)
            return try collect(c, until: deadline)
        } catch .unavailable("timeout") {
            // The server did not answer even its own statement_timeout: cancel, drop.
            logger.warning("postgres statement timed out client-side; cancelling and dropping the connection", [])
            if let cancel = PQgetCancel(c) { sendCancelDetached(cancel) }
            drop()
            throw .unavailable("timeout")
        }
    }

    private func flush(_ c: OpaquePointer, until deadline: Millis) throws(StoreError) {
        while true {
            let rc = PQflush(c)
            if rc == 0 { return }
            guard rc > 0 else { throw lost(c) }
            try waitFor(c, write: true, until: deadline)
        }
    }

    /// Every result of the statement (one, as extended-protocol queries hold one statement);
    /// the first error wins.
    private func collect(_ c: OpaquePointer, until deadline: Millis) throws(StoreError) -> (rows: [SQLRow], changed: Int) {
        var answer: (rows: [SQLRow], changed: Int)?
        var failure: StoreError?
        while true {
            while PQisBusy(c) == 1 {
                try waitFor(c, write: false, until: deadline)
                guard PQconsumeInput(c) == 1 else { throw lost(c) }
            }
            guard let res = PQgetResult(c) else { break }
            switch PQresultStatus(res) {
            case PGRES_TUPLES_OK: answer = (rows(res), 0)
            case PGRES_COMMAND_OK: answer = ([], Int(String(cString: PQcmdTuples(res))) ?? 0)
            default: failure = failure ?? error(res)
            }
            PQclear(res)
        }
        if PQstatus(c) == CONNECTION_BAD { throw lost(c) }
        if let failure { throw failure }
        guard let answer else { throw .invalid("postgres: the statement returned no result") }
        return answer
    }

    private func rows(_ res: OpaquePointer) -> [SQLRow] {
        let n = PQntuples(res)
        let columns = PQnfields(res)
        var out: [SQLRow] = []
        out.reserveCapacity(Int(n))
        for r in 0..<n {
            var values: [SQLValue] = []
            values.reserveCapacity(Int(columns))
            for col in 0..<columns {
                if PQgetisnull(res, r, col) == 1 {
                    values.append(.null)
                } else if let p = PQgetvalue(res, r, col) {
                    let bytes = UnsafeRawBufferPointer(start: p, count: Int(PQgetlength(res, r, col)))
                    values.append(.text(String(decoding: bytes, as: UTF8.self)))
                } else {
                    values.append(.null)
                }
            }
            out.append(SQLRow(values))
        }
        return out
    }

    private func lost(_ c: OpaquePointer) -> StoreError {
        let message = firstLine(PQerrorMessage(c))
        logger.warning("postgres connection lost", [("message", message)])
        drop()
        return .unavailable("postgres: connection lost")
    }

    /// One line per error: the SQLSTATE and the primary message, never the DETAIL (it quotes
    /// key values) and, for data exceptions (class 22, which quote the offending input), not
    /// the quoted parts either.
    private func error(_ res: OpaquePointer) -> StoreError {
        func field(_ code: Character) -> String? {
            guard let ascii = code.asciiValue, let p = PQresultErrorField(res, Int32(ascii)) else { return nil }
            return String(cString: p)
        }
        let state = field("C") ?? "?????"
        var message = field("M") ?? "error"
        if state.hasPrefix("22") { message = redactingQuoted(message) }
        let mapped: StoreError = switch state {
        case "23505": .uniqueViolation(field("n") ?? field("t") ?? "unique")
        case "40001", "40P01": .retryable("postgres \(state)")
        case "57014": .unavailable("timeout")
        case _ where state.hasPrefix("08") || state.hasPrefix("57P") || state == "53300":
            .unavailable("postgres \(state): \(message)")
        default: .invalid("postgres \(state): \(message)")
        }
        switch mapped {
        case .uniqueViolation, .retryable: logger.info("postgres error", [("sqlstate", state), ("message", message)])
        default: logger.warning("postgres error", [("sqlstate", state), ("message", message)])
        }
        return mapped
    }
}

private func firstLine(_ p: UnsafePointer<CChar>?) -> String {
    guard let p else { return "unknown error" }
    let s = String(cString: p)
    return s.split(separator: "\n").first.map(String.init) ?? s
}

/// `invalid input syntax for type bigint: "abc"` → `… bigint: "…"`.
private func redactingQuoted(_ message: String) -> String {
    var out = ""
    var inside = false
    for ch in message {
        if ch == "\"" {
            out += inside ? "…\"" : "\""
            inside.toggle()
        } else if !inside {
            out.append(ch)
        }
    }
    return out
}

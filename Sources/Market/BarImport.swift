#if canImport(Glibc)
import Glibc
#endif
import Money
import Store
import Synchronization

/// `quantumvest import-bars FILE.csv` (contract 2c): the file streams through a 1 MiB buffer,
/// each row is validated as it comes, and rows go to `bars_daily` in multi-row upserts of
/// `batchRows`, all inside ONE store transaction: a bad row (or any failure) rolls everything
/// back. Rows replace the stored bar of their symbol and day (imported bars carry no open/close
/// ts, see `BarStore.bar`).
public enum BarImport {
    public static let batchRows = 500
    static let chunkBytes = 1 << 20

    public struct Progress: Sendable {
        public let bytes: Int
        public let totalBytes: Int
        public let rows: Int
    }

    public enum Failure: Error, Sendable, CustomStringConvertible {
        case file(String)
        case row(BarImportRow.Failure)
        case store(StoreError)

        public var description: String {
            switch self {
            case .file(let m): m
            case .row(let f): "\(f); nothing was imported"
            case .store(let e): "the store failed: \(e); nothing was imported"
            }
        }
    }

    /// Imports `path` into `store`; returns the rows imported. `progress` is called on the
    /// store's worker thread after each batch.
    public static func run(path: String, store: Store, progress: @escaping @Sendable (Progress) -> Void) -> Result<Int, Failure> {
        let failure = Mutex<Failure?>(nil)
        let result = store.transactionBlocking(write: true) { c throws(StoreError) -> Int in
            failure.withLock { $0 = nil }   // a retried attempt starts clean
            do throws(Failure) {
                return try importFile(path, c, progress)
            } catch {
                failure.withLock { $0 = error }
                throw .invalid("import failed")
            }
        }
        switch result {
        case .success(let rows): return .success(rows)
        case .failure(let e): return .failure(failure.withLock { $0 } ?? .store(e))
        }
    }

    private struct DayKey: Hashable {
        let symbol: String
        let t: Int64
    }

    static func importFile(_ path: String, _ c: any SQLConnection, _ progress: (Progress) -> Void) throws(Failure) -> Int {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .file("cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var st = stat()
        let total = fstat(fd, &st) == 0 ? Int(st.st_size) : 0

        var parser = CSVParser()
        var sawHeader = false
        var firstLine: [DayKey: Int] = [:]
        var batch = Batch(dialect: c.dialect)
        var rows = 0
        var bytes = 0

        func flushBatch() throws(StoreError) { try batch.write(c) }
        // One record: the header first, then validated rows; a full batch is written at once.
        func onRecord(_ fields: [[UInt8]], _ line: Int) throws(Failure) {
            guard sawHeader else {
                do { try BarImportRow.checkHeader(fields, line: line) } catch { throw .row(error) }
                sawHeader = true
                return
            }
            let row: BarImportRow
            do { row = try BarImportRow(fields: fields, line: line) } catch { throw .row(error) }
            let key = DayKey(symbol: row.symbol, t: row.t)
            if let first = firstLine[key] {
                throw .row(.init(line: line, field: "date", message: "\(row.symbol) on this date already appears on line \(first)"))
            }
            firstLine[key] = line
            batch.append(row)
            rows += 1
            if batch.isFull {
                do { try flushBatch() } catch { throw .store(error) }
            }
        }
        func unwrap(_ e: ParseOrRecordError<Failure>) -> Failure {
            switch e {
            case .parse(let p): .row(.init(line: p.line, field: nil, message: "not valid CSV: \(p.message)"))
            case .record(let f): f
            }
        }

        var buffer = [UInt8](repeating: 0, count: chunkBytes)
        var lastReport = 0
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, chunkBytes) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .file("cannot read \(path): \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            do { try parser.feed(buffer[0..<n], onRecord) } catch { throw unwrap(error) }
            bytes += n
            if bytes - lastReport >= chunkBytes {
                lastReport = bytes
                progress(Progress(bytes: bytes, totalBytes: total, rows: rows))
            }
        }
        do { try parser.finish(onRecord) } catch { throw unwrap(error) }
        guard sawHeader else {
            throw .row(.init(line: 1, field: nil, message: "the file is empty: the header \(BarImportRow.header.joined(separator: ",")) is missing"))
        }
        do { try flushBatch() } catch { throw .store(error) }
        progress(Progress(bytes: bytes, totalBytes: total, rows: rows))
        return rows
    }

    static let upsertTail = """
        ON CONFLICT (symbol, t) DO UPDATE SET open = excluded.open, high = excluded.high, low = excluded.low,
            close = excluded.close, volume = excluded.volume, open_ts = NULL, close_ts = NULL
        """

    /// Rows waiting to be written, in the statement shape each dialect takes best. SQLite:
    /// multi-row VALUES of `batchRows` rows (7 parameters each; the statement text repeats, so
    /// SQLite's cached statement is reused). PostgreSQL: the driver sends each statement
    /// unprepared, and 2,000 statements of 3,500 parameters took 21 s for 1M rows; each column
    /// as one array parameter through `unnest`, 5,000 rows a statement, takes 11.6 s.
    struct Batch {
        let dialect: SQLDialect
        var sqliteValues: [SQLValue] = []
        var columns: [[String]] = Array(repeating: [], count: 7)
        var count = 0
        var sqliteStatements: [Int: String] = [:]

        init(dialect: SQLDialect) {
            self.dialect = dialect
            sqliteValues.reserveCapacity(batchRows * 7)
        }

        var isFull: Bool { count >= (dialect == .postgres ? 5_000 : batchRows) }

        mutating func append(_ row: BarImportRow) {
            let values = [row.open.description, row.high.description, row.low.description, row.close.description,
                          row.volume.description]
            switch dialect {
            case .sqlite:
                sqliteValues += [.text(row.symbol), .int(row.t)] + values.map { .text($0) }
            case .postgres:
                // Quoted: an unquoted NULL element would be SQL NULL (and NULL is a valid SYMBOL).
                columns[0].append("\"" + row.symbol + "\"")
                columns[1].append(String(row.t))
                for (i, v) in values.enumerated() { columns[i + 2].append(v) }
            }
            count += 1
        }

        mutating func write(_ c: any SQLConnection) throws(StoreError) {
            guard count > 0 else { return }
            switch dialect {
            case .sqlite:
                let sql = sqliteStatements[count] ?? BarImport.insertSQL(rows: count)
                sqliteStatements[count] = sql
                try c.execute(sql, sqliteValues)
                sqliteValues.removeAll(keepingCapacity: true)
            case .postgres:
                try c.execute("""
                    INSERT INTO bars_daily (symbol, t, open, high, low, close, volume, open_ts, close_ts)
                    SELECT s, t, o, h, l, c, v, NULL, NULL FROM unnest($1::text[], $2::bigint[], $3::numeric[], $4::numeric[],
                        $5::numeric[], $6::numeric[], $7::numeric[]) AS u(s, t, o, h, l, c, v)
                    \(upsertTail)
                    """, columns.map { .text("{" + $0.joined(separator: ",") + "}") })
                for i in columns.indices { columns[i].removeAll(keepingCapacity: true) }
            }
            count = 0
        }
    }

    /// `rows` rows of 7 parameters in one upsert (SQLite).
    static func insertSQL(rows: Int) -> String {
        var values: [String] = []
        values.reserveCapacity(rows)
        for r in 0..<rows {
            let p = r * 7
            values.append("($\(p + 1), $\(p + 2), $\(p + 3), $\(p + 4), $\(p + 5), $\(p + 6), $\(p + 7), NULL, NULL)")
        }
        return "INSERT INTO bars_daily (symbol, t, open, high, low, close, volume, open_ts, close_ts) VALUES "
            + values.joined(separator: ", ") + "\n" + upsertTail
    }
}

import Money
import Store

/// The bars' SQL, once for both stores (`SQLConnection`), run inside `Store` transactions on a
/// worker thread. Values are canonical decimal text in and out (NUMERIC in PostgreSQL, TEXT in
/// SQLite); rows are input too, so a column that is not what it should be is `.invalid`.
public enum BarStore {
    static let columns = "t, open, high, low, close, volume, open_ts, close_ts"

    /// A stored bar. `open_ts`/`close_ts` are NULL for imported bars: they count as set at the
    /// bar's start by events published before any live one, so a live event never takes an
    /// imported open (ties go to the first published) and always takes its close.
    static func bar(_ row: SQLRow) throws(StoreError) -> Bar {
        let t = try row.int(0)
        func decimal(_ i: Int) throws(StoreError) -> ExactDecimal {
            guard let text = row.optionalText(i), let d = ExactDecimal(canonicalOrPlain: text) else {
                throw .invalid("bar column \(i): expected a decimal")
            }
            return d
        }
        return Bar(t: t, open: try decimal(1), high: try decimal(2), low: try decimal(3), close: try decimal(4),
                   volume: try decimal(5), openTs: row.optionalInt(6) ?? t, closeTs: row.optionalInt(7) ?? t)
    }

    /// Folds the deltas into the stored bars: read-modify-write, merged in Swift. Chosen over an
    /// upsert expression because SQLite keeps decimals as TEXT, where `MAX(high, excluded.high)`
    /// would compare strings ("9" > "10"), and open/close need the ts comparison with ties;
    /// exact comparisons in one place serve both dialects. Deltas are few per second.
    public static func upsert(_ c: any SQLConnection, _ deltas: [BarKey: Bar]) throws(StoreError) {
        for (key, delta) in deltas {
            let stored = try c.queryOne("SELECT \(columns) FROM \(key.interval.table) WHERE symbol = $1 AND t = $2",
                                        [.text(key.symbol), .int(key.t)])
            let bar = try stored.map { row throws(StoreError) in try Self.bar(row).merged(with: delta) } ?? delta
            try c.execute("""
                INSERT INTO \(key.interval.table) (symbol, t, open, high, low, close, volume, open_ts, close_ts)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                ON CONFLICT (symbol, t) DO UPDATE SET open = excluded.open, high = excluded.high, low = excluded.low,
                    close = excluded.close, volume = excluded.volume, open_ts = excluded.open_ts, close_ts = excluded.close_ts
                """, [.text(key.symbol), .int(key.t), .text(bar.open.description), .text(bar.high.description),
                      .text(bar.low.description), .text(bar.close.description), .text(bar.volume.description),
                      .int(bar.openTs), .int(bar.closeTs)])
        }
    }

    /// The last `limit` bars with `t` in [from, to), oldest first.
    public static func history(_ c: any SQLConnection, symbol: String, interval: BarInterval, from: Int64, to: Int64,
                               limit: Int) throws(StoreError) -> [Bar] {
        var out: [Bar] = []
        for row in try c.query("""
            SELECT \(columns) FROM \(interval.table) WHERE symbol = $1 AND t >= $2 AND t < $3 ORDER BY t DESC LIMIT $4
            """, [.text(symbol), .int(from), .int(to), .int(Int64(limit))]) {
            out.append(try bar(row))
        }
        return out.reversed()
    }

    /// Deletes 1-minute bars that started before `before`; returns how many.
    @discardableResult
    public static func pruneMinutes(_ c: any SQLConnection, before: Int64) throws(StoreError) -> Int {
        try c.execute("DELETE FROM bars_minute WHERE t < $1", [.int(before)])
    }
}

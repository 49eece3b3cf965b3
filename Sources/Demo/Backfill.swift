import Store

/// Two years of simulated daily bars, at the first start only (a symbol with any bar is left
/// alone), seeded per symbol so every fresh store gets the same history. The path is scaled so
/// that its last close is the instrument's start price: live ticks continue from there.
enum DemoBackfill {
    static let dayMs: Int64 = 86_400_000

    struct Bar {
        let day: Int
        let open: String, high: String, low: String, close: String, volume: String
    }

    /// The bars of the `days` calendar days before `today` (weekdays only unless `everyDay`).
    static func bars(_ i: DemoInstrument, today: Int, days: Int) -> [Bar] {
        var rng = DemoRandom(seed: seed(i.symbol))
        let dayList = ((today - days)..<today).filter { i.everyDay || !isWeekend($0) }
        let dt = 1.0 / (i.everyDay ? 365 : 252)
        var path: [Double] = [1]
        var ranges: [Double] = []
        for _ in dayList {
            path.append(rng.step(path[path.count - 1], i, years: dt))
            ranges.append(abs(rng.normal()) * i.volatility * dt.squareRoot() * 0.5)
        }
        let scale = i.startPrice / (path.last ?? 1)
        var out: [Bar] = []
        out.reserveCapacity(dayList.count)
        for (k, day) in dayList.enumerated() {
            let o = cents(path[k] * scale), c = cents(path[k + 1] * scale)
            let hi = cents(Double(max(o.cents, c.cents)) / 100 * (1 + ranges[k]))
            let lo = cents(Double(min(o.cents, c.cents)) / 100 * (1 - ranges[k]))
            // Rounding never lets high or low cross the open or close.
            let high = hi.cents >= max(o.cents, c.cents) ? hi.text : (o.cents > c.cents ? o.text : c.text)
            let low = lo.cents <= min(o.cents, c.cents) ? lo.text : (o.cents < c.cents ? o.text : c.text)
            out.append(Bar(day: day, open: o.text, high: high, low: low, close: c.text,
                           volume: String(100_000 + Int(rng.next() % 5_000_000))))
        }
        return out
    }

    /// 1970-01-01 was a Thursday.
    static func isWeekend(_ day: Int) -> Bool {
        let weekday = ((day % 7) + 7 + 3) % 7   // 0 = Monday
        return weekday >= 5
    }

    /// FNV-1a of the symbol: a seed per instrument.
    static func seed(_ symbol: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in symbol.utf8 {
            h ^= UInt64(b)
            h = h &* 0x100_0000_01b3
        }
        return h
    }

    /// Writes the bars of every instrument with none yet; returns each instrument's last stored
    /// close (where live ticks start). In one transaction.
    static func run(_ c: any SQLConnection, _ instruments: [DemoInstrument], today: Int, days: Int) throws(StoreError) -> [String: String] {
        var last: [String: String] = [:]
        for i in instruments {
            let have = try c.queryOne("SELECT close FROM bars_daily WHERE symbol = $1 ORDER BY t DESC LIMIT 1", [.text(i.symbol)])
            if let have {
                last[i.symbol] = try have.text(0)
                continue
            }
            let bars = bars(i, today: today, days: days)
            // 100 rows a statement: few round trips, bound parameters only.
            var k = 0
            while k < bars.count {
                let chunk = bars[k..<min(k + 100, bars.count)]
                var sql = "INSERT INTO bars_daily (symbol, t, open, high, low, close, volume) VALUES "
                var params: [SQLValue] = []
                for (n, b) in chunk.enumerated() {
                    let base = n * 7
                    sql += (n == 0 ? "" : ", ") + "(" + (1...7).map { "$\(base + $0)" }.joined(separator: ", ") + ")"
                    params += [.text(i.symbol), .int(Int64(b.day) * dayMs), .text(b.open), .text(b.high), .text(b.low), .text(b.close),
                               .text(b.volume)]
                }
                try c.execute(sql + " ON CONFLICT (symbol, t) DO NOTHING", params)
                k += 100
            }
            last[i.symbol] = bars.last?.close
        }
        return last
    }
}

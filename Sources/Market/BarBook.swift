import Money

/// The bars that published prices changed since the last flush (contract 2c), pure: no I/O, no
/// clock (`now` is passed in), no locks (`Bars` holds it behind one).
///
/// Memory holds *deltas*, not whole bars: each entry is the bar of the events seen since the
/// last flush only. The flush merges each delta into the stored bar inside its transaction
/// (read-modify-write, see `BarStore.upsert`), so a bar imported or written by another process
/// meanwhile is updated, never overwritten, and nothing needs to be loaded at start.
///
/// Bound: at most `maxBars` entries (dirty plus in flight, default 100,000 ≈ 40 MB at worst).
/// Normal traffic needs two per symbol that ticked in the last second; an event that would need
/// new entries beyond the bound updates no bar and is counted in `dropped` (logged by the flusher).
public struct BarBook: Sendable {
    public static let defaultMaxBars = 100_000
    /// Events older than this (relative to `now`) update no bar.
    public static let maxAge: Int64 = 2 * 86_400_000
    /// Events further ahead than this update no bar.
    public static let maxAhead: Int64 = 60_000

    public let maxBars: Int
    /// Changed since the last flush began.
    public private(set) var dirty: [BarKey: Bar] = [:]
    /// Handed to the store, not yet committed: still part of what `pending` answers.
    public private(set) var inFlight: [BarKey: Bar] = [:]
    /// Events refused because the bound was reached, since the last `takeDropped`.
    public private(set) var dropped = 0

    public init(maxBars: Int = BarBook.defaultMaxBars) {
        self.maxBars = max(maxBars, 2)
    }

    public var count: Int { dirty.count + inFlight.count }

    /// One published price. False when it updated no bar (outside the time window, or the bound).
    @discardableResult
    public mutating func record(symbol: String, price: ExactDecimal, volume: ExactDecimal?, ts: Int64, now: Int64) -> Bool {
        guard ts >= now - Self.maxAge, ts <= now + Self.maxAhead else { return false }
        let keys = BarInterval.allCases.map { BarKey(symbol: symbol, interval: $0, t: $0.start(ts)) }
        let needed = keys.filter { dirty[$0] == nil }.count
        guard count + needed <= maxBars else {
            dropped += 1
            return false
        }
        for key in keys {
            let one = Bar(t: key.t, price: price, volume: volume ?? .zero, ts: ts)
            dirty[key] = dirty[key].map { $0.merged(with: one) } ?? one
        }
        return true
    }

    /// The flush starts: the dirty bars go in flight (nil when nothing changed or a flush is
    /// still in flight — one at a time keeps their order).
    public mutating func beginFlush() -> [BarKey: Bar]? {
        guard inFlight.isEmpty, !dirty.isEmpty else { return nil }
        inFlight = dirty
        dirty = [:]
        return inFlight
    }

    /// The flush ended. Not committed: its bars become dirty again, before anything that came
    /// since (which was published later), so the next flush retries them.
    public mutating func endFlush(committed: Bool) {
        if !committed {
            for (key, later) in dirty { inFlight[key] = inFlight[key].map { $0.merged(with: later) } ?? later }
            dirty = inFlight
        }
        inFlight = [:]
    }

    /// Bars of `symbol` not yet in the store with `t` in [from, to), oldest first.
    public func pending(symbol: String, interval: BarInterval, from: Int64, to: Int64) -> [Bar] {
        var out: [Int64: Bar] = [:]
        for source in [inFlight, dirty] {
            for (key, bar) in source where key.symbol == symbol && key.interval == interval && key.t >= from && key.t < to {
                out[key.t] = out[key.t].map { $0.merged(with: bar) } ?? bar
            }
        }
        return out.values.sorted { $0.t < $1.t }
    }

    public mutating func takeDropped() -> Int {
        defer { dropped = 0 }
        return dropped
    }
}

import Money

/// The two bar sizes of contract 2c, both aligned to UTC (the epoch is a UTC midnight).
public enum BarInterval: String, Sendable, CaseIterable {
    case minute = "1m"
    case day = "1d"

    public var millis: Int64 { self == .minute ? 60_000 : 86_400_000 }

    /// The start of the bar containing `ts` (floor division: right for negative times too).
    public func start(_ ts: Int64) -> Int64 {
        let r = ts % millis
        return r < 0 ? ts - r - millis : ts - r
    }

    /// The table holding this interval's bars.
    var table: String { self == .minute ? "bars_minute" : "bars_daily" }
}

/// One OHLCV bar, exact. `openTs`/`closeTs` are the `ts` of the events that set open and close,
/// so two partial bars of the same period (the store's and the one built in memory since the
/// last flush) merge exactly as if every event had gone into one bar.
public struct Bar: Sendable, Equatable {
    public var t: Int64
    public var open: ExactDecimal
    public var high: ExactDecimal
    public var low: ExactDecimal
    public var close: ExactDecimal
    public var volume: ExactDecimal
    public var openTs: Int64
    public var closeTs: Int64

    public init(t: Int64, open: ExactDecimal, high: ExactDecimal, low: ExactDecimal, close: ExactDecimal, volume: ExactDecimal,
                openTs: Int64, closeTs: Int64) {
        self.t = t
        self.open = open
        self.high = high
        self.low = low
        self.close = close
        self.volume = volume
        self.openTs = openTs
        self.closeTs = closeTs
    }

    /// A bar of one event.
    init(t: Int64, price: ExactDecimal, volume: ExactDecimal, ts: Int64) {
        self.init(t: t, open: price, high: price, low: price, close: price, volume: volume, openTs: ts, closeTs: ts)
    }

    /// `later` folded in, its events published after this bar's: on equal `ts` the earlier
    /// published keeps open and the later takes close (contract 2c's ties).
    public func merged(with later: Bar) -> Bar {
        var b = self
        if later.openTs < b.openTs {
            b.open = later.open
            b.openTs = later.openTs
        }
        if later.closeTs >= b.closeTs {
            b.close = later.close
            b.closeTs = later.closeTs
        }
        if later.high > b.high { b.high = later.high }
        if later.low < b.low { b.low = later.low }
        b.volume = b.volume + later.volume
        return b
    }
}

/// Where a bar lives: its symbol, interval and start.
public struct BarKey: Hashable, Sendable {
    public let symbol: String
    public let interval: BarInterval
    public let t: Int64

    public init(symbol: String, interval: BarInterval, t: Int64) {
        self.symbol = symbol
        self.interval = interval
        self.t = t
    }
}

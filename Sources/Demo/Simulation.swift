#if canImport(Glibc)
import Glibc
#endif

/// One simulated instrument: geometric Brownian motion with an annual drift and volatility.
public struct DemoInstrument: Sendable {
    public let symbol: String
    /// The price the simulation starts from when the store has no bar of it yet.
    public let startPrice: Double
    public let drift: Double
    public let volatility: Double
    /// Trades every day (crypto) or on weekdays only (equities, the benchmark).
    public let everyDay: Bool

    public init(_ symbol: String, _ startPrice: Double, drift: Double, volatility: Double, everyDay: Bool = false) {
        self.symbol = symbol
        self.startPrice = startPrice
        self.drift = drift
        self.volatility = volatility
        self.everyDay = everyDay
    }

    /// A dozen: large equities, the benchmark SPY and two crypto pairs, with drifts and
    /// volatilities of their usual order (annual).
    public static let defaults: [DemoInstrument] = [
        DemoInstrument("AAPL", 190, drift: 0.10, volatility: 0.27),
        DemoInstrument("MSFT", 415, drift: 0.10, volatility: 0.24),
        DemoInstrument("GOOGL", 170, drift: 0.09, volatility: 0.30),
        DemoInstrument("AMZN", 185, drift: 0.11, volatility: 0.32),
        DemoInstrument("NVDA", 120, drift: 0.20, volatility: 0.52),
        DemoInstrument("TSLA", 245, drift: 0.06, volatility: 0.58),
        DemoInstrument("JPM", 205, drift: 0.07, volatility: 0.22),
        DemoInstrument("XOM", 115, drift: 0.05, volatility: 0.25),
        DemoInstrument("JNJ", 155, drift: 0.04, volatility: 0.16),
        DemoInstrument("SPY", 560, drift: 0.08, volatility: 0.16),
        DemoInstrument("BTC-USD", 65_000, drift: 0.25, volatility: 0.65, everyDay: true),
        DemoInstrument("ETH-USD", 3_200, drift: 0.20, volatility: 0.75, everyDay: true),
    ]
}

/// A small seeded generator (SplitMix64) and standard normals (Box–Muller): reproducible
/// histories from a seed. A simulation, so binary floating point is fine here; what leaves it
/// is a decimal string with two fractional digits.
struct DemoRandom {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in (0, 1).
    mutating func uniform() -> Double { (Double(next() >> 11) + 0.5) / 9_007_199_254_740_992 }

    mutating func normal() -> Double {
        sqrt(-2 * log(uniform())) * cos(2 * Double.pi * uniform())
    }

    /// One GBM step of `years`: P·exp((μ − σ²/2)·dt + σ·√dt·Z).
    mutating func step(_ price: Double, _ i: DemoInstrument, years dt: Double) -> Double {
        price * exp((i.drift - i.volatility * i.volatility / 2) * dt + i.volatility * sqrt(dt) * normal())
    }
}

/// Whole cents as a decimal string ("187.25"); at least one cent.
func cents(_ price: Double) -> (cents: Int, text: String) {
    let c = max(1, Int((price * 100).rounded()))
    let frac = c % 100
    return (c, "\(c / 100).\(frac < 10 ? "0" : "")\(frac)")
}

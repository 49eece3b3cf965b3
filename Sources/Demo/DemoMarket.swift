#if canImport(Glibc)
import Glibc
#endif
import Gateway
import JSON
import Log
import Reactor
import Store
import Synchronization

/// `--demo`: a simulated market published through the broker's publish path, as an external
/// price feed's events are (validated the same way), so bars, valuations and subscribers see
/// nothing special. Every `tickMs` each instrument moves one GBM step; every `forecastEvery`
/// the forecaster publishes `predictions:SYMBOL`.
///
/// The forecaster is honest about what it is (`model` says so): exponentially weighted mean
/// (λ = 0.9999) and variance (λ = 0.99) of the instrument's own tick log-returns, projected to the
/// horizon as a GBM would move — `predicted` = P·exp(μ·n), and the 90 % interval
/// P·exp(μ·n ± 1.645·σ·√n) for the n ticks in the horizon. It knows the process is a random
/// walk, so it is right about the spread and has no edge on direction. It checks its own
/// intervals against the realised prices and logs the coverage each minute.
public final class DemoMarket: Sendable {
    public struct Settings: Sendable {
        public var instruments = DemoInstrument.defaults
        public var tickMs: Millis = 250
        public var forecastEveryMs: Millis = 5_000
        public var horizonMs: Millis = 60_000
        public var backfillDays = 730
        public var seed: UInt64 = 20_261_202
        public init() {}
    }

    /// What the forecaster has predicted and how often the realised price fell inside.
    public struct Coverage: Sendable, Equatable {
        public var checked = 0
        public var inside = 0
    }

    static let model = "ewma-gbm-90 (EWMA drift and volatility of tick returns, GBM 90% interval)"
    static let z90 = 1.6448536269514722
    static let meanLambda = 0.9999
    static let varianceLambda = 0.99

    private struct Instrument {
        let spec: DemoInstrument
        var price: Double
        var mean = 0.0
        var variance: Double
        var ticks = 0
    }

    private struct Pending {
        let index: Int
        let due: Millis
        let lower: Double
        let upper: Double
    }

    private struct State {
        var rng: DemoRandom
        var instruments: [Instrument]
        var pending: [Pending] = []
        var coverage = Coverage()
        var lastForecast: Millis = 0
    }

    public let settings: Settings
    private let broker: Broker
    private let logger: Logger
    private let state: Mutex<State>

    /// Backfills (first start) and reads where live prices start. Blocking: call at start.
    public init(settings: Settings, store: Store, broker: Broker, logger: Logger) throws(StoreError) {
        self.settings = settings
        self.broker = broker
        self.logger = logger.with("component", "demo")
        let today = Int(Clock.wallMillis() / 86_400_000)
        let instruments = settings.instruments
        let days = settings.backfillDays
        let last = try store.transactionBlocking { c throws(StoreError) in
            try DemoBackfill.run(c, instruments, today: today, days: days)
        }.get()
        let perTickYears = Double(settings.tickMs) / 1000 / (252 * 6.5 * 3600)
        state = Mutex(State(rng: DemoRandom(seed: settings.seed), instruments: instruments.map { i in
            let start = last[i.symbol].flatMap(Double.init) ?? i.startPrice
            // The forecaster starts from the instrument's true tick variance, then learns.
            return Instrument(spec: i, price: start, variance: i.volatility * i.volatility * perTickYears)
        }))
    }

    public func start(on loop: EventLoop) {
        loop.execute { [self] in
            loop.schedule(every: settings.tickMs) { [self] _ in tick(on: loop) }
            loop.schedule(every: 60_000) { [self] _ in
                let c = coverage
                guard c.checked > 0 else { return }
                logger.info("demo forecaster: realised prices inside the 90% interval", [
                    ("inside", "\(c.inside)"), ("checked", "\(c.checked)"),
                    ("share", String(Double(c.inside) / Double(c.checked))),
                ])
            }
        }
    }

    public var coverage: Coverage { state.withLock { $0.coverage } }

    private func tick(on loop: EventLoop) {
        let now = loop.now
        let ts = Clock.wallMillis()
        let perTickYears = Double(settings.tickMs) / 1000 / (252 * 6.5 * 3600)
        let horizonTicks = Double(settings.horizonMs) / Double(settings.tickMs)
        var items: [PublishItem] = []
        state.withLock { s in
            for k in s.instruments.indices {
                var i = s.instruments[k]
                let next = s.rng.step(i.price, i.spec, years: perTickYears)
                let r = log(next / i.price)
                // EWMA of the tick log-returns: the mean slowly (a fast one is mostly noise, and
                // projected over the horizon's ticks that noise would swamp the spread), the
                // variance faster, so it follows the market.
                i.mean = Self.meanLambda * i.mean + (1 - Self.meanLambda) * r
                i.variance = Self.varianceLambda * i.variance + (1 - Self.varianceLambda) * (r - i.mean) * (r - i.mean)
                i.price = next
                i.ticks += 1
                s.instruments[k] = i
                let volume = 1 + Int(s.rng.next() % 500)
                if let channel = ChannelName("prices:" + i.spec.symbol) {
                    items.append(PublishItem(channel, ["symbol": .string(i.spec.symbol), "price": .string(cents(next).text),
                                            "volume": .string(String(volume)), "ts": .number(JSONNumber(Int(ts)))]))
                }
            }
            // Realised prices against the intervals that came due.
            var kept: [Pending] = []
            for p in s.pending {
                guard p.due <= now else { kept.append(p); continue }
                let price = s.instruments[p.index].price
                s.coverage.checked += 1
                if price >= p.lower && price <= p.upper { s.coverage.inside += 1 }
            }
            s.pending = kept
            guard now >= s.lastForecast + settings.forecastEveryMs else { return }
            s.lastForecast = now
            for (k, i) in s.instruments.enumerated() {
                let mu = i.mean * horizonTicks
                let sigma = (i.variance * horizonTicks).squareRoot()
                let lower = i.price * exp(mu - Self.z90 * sigma), upper = i.price * exp(mu + Self.z90 * sigma)
                s.pending.append(Pending(index: k, due: now + settings.horizonMs, lower: lower, upper: upper))
                guard let channel = ChannelName("predictions:" + i.spec.symbol) else { continue }
                items.append(PublishItem(channel, [
                    "symbol": .string(i.spec.symbol), "horizon": .string("PT\(settings.horizonMs / 1000)S"),
                    "predicted": .string(cents(i.price * exp(mu)).text), "lower": .string(cents(lower).text),
                    "upper": .string(cents(upper).text), "model": .string(Self.model), "ts": .number(JSONNumber(Int(ts))),
                ]))
            }
        }
        // The path external publishers take, checks included.
        let valid = items.filter { EventData.refusal(publishing: $0.data, to: $0.channel) == nil }
        if valid.count != items.count { logger.warning("demo: events refused by the publish checks", [("count", "\(items.count - valid.count)")]) }
        broker.publish(valid, now: now, on: loop) { [self] result in
            if case .failure(let e) = result { logger.warning("demo: publish refused", [("error", "\(e)")]) }
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
import Gateway
import JSON
import Log
import Money
import Reactor
import Store
import Synchronization

/// Settings of the bars module (contract 2c).
public struct BarsConfiguration: Sendable {
    /// `--minute-bars-days`: 1-minute bars older than this are deleted (daily bars are kept).
    public var minuteBarsDays = 30
    /// Milliseconds between flushes: the most a crash can lose.
    public var flushInterval: Millis = 1_000
    /// Milliseconds between prunes of old 1-minute bars.
    public var pruneInterval: Millis = 3_600_000
    /// Bars held in memory at most (see `BarBook`).
    public var maxBars = BarBook.defaultMaxBars

    public init() {}
}

/// Price bars: a tap on every published event feeds the `BarBook`; a flusher on one loop hands
/// the changed bars to the store once a second; `prices.history` reads the store plus what is
/// not flushed yet. The book's lock is held only for a dictionary update or copy.
public final class Bars: Sendable {
    public let configuration: BarsConfiguration
    let store: Store
    let logger: Logger
    let book: Mutex<BarBook>
    private let stopped = Atomic<Bool>(false)

    public init(configuration: BarsConfiguration, store: Store, logger: Logger) {
        self.configuration = configuration
        self.store = store
        self.logger = logger.with("component", "bars")
        book = Mutex(BarBook(maxBars: configuration.maxBars))
    }

    /// Registers the tap and `prices.history`.
    public func install(into modules: inout GatewayModules) {
        modules.broker.addTap { [self] events in record(events) }
        HistoryMethod.register(in: &modules.methods, self, requireLogin: modules.configuration.requireLoginForMarket)
    }

    /// The tap: on the publisher's thread, so only parsing and the book's update.
    func record(_ events: [Event]) {
        let now = Clock.wallMillis()
        for event in events where event.channel.kind == .prices {
            guard let tick = PriceTick(event.data) else { continue }
            book.withLock { _ = $0.record(symbol: event.channel.key, price: tick.price, volume: tick.volume, ts: tick.ts, now: now) }
        }
    }

    /// The flusher and the prune on `loop` (any thread).
    public func start(on loop: EventLoop) {
        loop.execute { [self] in
            loop.schedule(every: configuration.flushInterval) { [self] timer in
                guard !stopped.load(ordering: .relaxed) else { return timer.cancel() }
                flush(on: loop)
            }
            prune(on: loop)
            loop.schedule(every: configuration.pruneInterval) { [self] timer in
                guard !stopped.load(ordering: .relaxed) else { return timer.cancel() }
                prune(on: loop)
            }
        }
    }

    /// One flush, off the loop; at most one in flight (the book refuses a second).
    func flush(on loop: EventLoop) {
        let (deltas, dropped) = book.withLock { ($0.beginFlush(), $0.takeDropped()) }
        if dropped > 0 { logger.warning("price events updated no bar: the bar bound is reached", [("events", String(dropped))]) }
        guard let deltas else { return }
        store.transaction(on: loop, write: true, { c throws(StoreError) in try BarStore.upsert(c, deltas) }) { [self] result in
            if case .failure(let e) = result { logger.warning("bar flush failed, retried next second", [("error", "\(e)")]) }
            book.withLock { $0.endFlush(committed: (try? result.get()) != nil) }
        }
    }

    private func prune(on loop: EventLoop) {
        let before = Clock.wallMillis() - Int64(configuration.minuteBarsDays) * 86_400_000
        store.transaction(on: loop, write: true, { c throws(StoreError) in try BarStore.pruneMinutes(c, before: before) }) { [self] result in
            switch result {
            case .success(let n) where n > 0: logger.info("old 1-minute bars deleted", [("bars", String(n))])
            case .failure(let e) where !stopped.load(ordering: .relaxed): logger.warning("minute bar prune failed", [("error", "\(e)")])
            default: break
            }
        }
    }

    /// At stop, before the store shuts down (blocking, never on a loop): the timers end and
    /// what is still dirty is written.
    public func stop() {
        stopped.store(true, ordering: .relaxed)
        // A loop flush still in flight completes on its loop (the loops still run): wait for
        // it, bounded by the store's timeout, rather than write its bars twice.
        let deadline = Clock.wallMillis() + Int64(store.configuration.timeout) + 1_000
        while book.withLock({ !$0.inFlight.isEmpty }) && Clock.wallMillis() < deadline { usleep(5_000) }
        let deltas = book.withLock { book -> [BarKey: Bar]? in
            book.endFlush(committed: false)   // one that never completed is retried here
            return book.beginFlush()
        }
        guard let deltas else { return }
        let result = store.transactionBlocking(write: true) { c throws(StoreError) in try BarStore.upsert(c, deltas) }
        if case .failure(let e) = result { logger.error("bars not written at stop", [("error", "\(e)"), ("bars", String(deltas.count))]) }
        book.withLock { $0.endFlush(committed: (try? result.get()) != nil) }
    }
}

/// The fields of a `prices:` event a bar needs (the gateway validated them at publish).
struct PriceTick {
    let price: ExactDecimal
    let volume: ExactDecimal?
    let ts: Int64

    init?(_ data: JSONValue) {
        guard let o = data.objectValue, let p = o["price"]?.stringValue, let price = ExactDecimal(canonicalOrPlain: p),
              let ts = o["ts"]?.numberValue?.int64 else { return nil }
        var volume: ExactDecimal?
        if let v = o["volume"] {
            guard let s = v.stringValue, let d = ExactDecimal(canonicalOrPlain: s) else { return nil }
            volume = d
        }
        self.price = price
        self.volume = volume
        self.ts = ts
    }
}

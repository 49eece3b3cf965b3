import Gateway
import JSON
import Log
import Money
import Reactor
import Store
import Synchronization

/// Live `portfolio.valuation` notifications (contract 2b): after a price of a held symbol or a
/// transaction, each subscriber of `portfolio:ID` gets the valuation — at once when none went
/// out in the last second, else one second after the previous one, computed then.
///
/// Only portfolios someone subscribes to are watched. Their holdings are read from the store
/// once, when watching starts, and then kept from the portfolio's own events (each carries the
/// holding after it); prices come from the broker's tap. So a price tick costs a dictionary
/// update under a lock, never a query. Computation and sending run on one loop.
final class ValuationFeed: Sendable {
    private struct Watched {
        var holdings: [String: Holding] = [:]
        var loaded = false
        /// A portfolio event came while the holdings were being read: read them again.
        var stale = false
        var lastSent: Millis?
        var timerArmed = false
    }

    private struct State {
        var loop: EventLoop?
        var watched: [String: Watched] = [:]
        var bySymbol: [String: Set<String>] = [:]
        var prices: [String: Valuation.Price] = [:]
        var dirty: Set<String> = []
        var wakeQueued = false
    }

    private let state = Mutex(State())
    private let store: Store
    private let broker: Broker
    private let logger: Logger
    static let interval: Millis = 1_000

    init(store: Store, broker: Broker, logger: Logger) {
        self.store = store
        self.broker = broker
        self.logger = logger
        broker.addTap { [weak self] events in self?.observe(events) }
    }

    func start(on loop: EventLoop) {
        state.withLock { $0.loop = loop }
        // Portfolios nobody subscribes to any more are forgotten (their cache with them).
        loop.execute { [self] in
            loop.schedule(every: 10_000) { [self] _ in sweep() }
        }
    }

    /// A subscription to `portfolio:id` was allowed: watch it (no valuation is sent for that).
    func watch(_ id: String) {
        let loop: EventLoop? = state.withLock { s in
            guard s.watched[id] == nil, let loop = s.loop else { return nil }
            s.watched[id] = Watched()
            return loop
        }
        guard let loop else { return }
        loop.execute { [self] in load(id, on: loop) }
    }

    private func load(_ id: String, on loop: EventLoop) {
        store.transaction(on: loop, write: false, { c throws(StoreError) in try PortfolioStore.holdings(c, portfolioId: id) }) { [self] result in
            guard case .success(let rows) = result else {
                // Not watched after all; the next subscribe tries again.
                _ = state.withLock { s in s.watched[id] = nil }
                return
            }
            let symbols = rows.map(\.symbol)
            let (again, dirty) = state.withLock { s -> (Bool, Bool) in
                guard var w = s.watched[id] else { return (false, false) }
                if w.stale {
                    w.stale = false
                    s.watched[id] = w
                    s.dirty.insert(id)
                    return (true, false)
                }
                w.holdings = Dictionary(rows.map { ($0.symbol, $0.holding) }, uniquingKeysWith: { a, _ in a })
                w.loaded = true
                s.watched[id] = w
                for sym in symbols { s.bySymbol[sym, default: []].insert(id) }
                return (false, s.dirty.contains(id))
            }
            if again { return load(id, on: loop) }
            seedPrices(symbols, on: loop)
            // Changes seen while reading (a transaction, a deletion) are valued now.
            if dirty { process(on: loop) }
        }
    }

    /// Prices published before watching began.
    private func seedPrices(_ symbols: [String], on loop: EventLoop) {
        let channels = symbols.compactMap { ChannelName("prices:" + $0) }
        broker.latest(channels, on: loop) { [self] result in
            guard case .success(let events) = result else { return }
            let prices = Valuation.prices(events)
            state.withLock { s in for (sym, p) in prices where s.prices[sym] == nil { s.prices[sym] = p } }
        }
    }

    // MARK: The tap (publishers' threads: keep it short)

    private func observe(_ events: [Event]) {
        var wake: EventLoop?
        var reloads: [String] = []
        let loop = state.withLock { s -> EventLoop? in
            for e in events {
                switch e.channel.kind {
                case .prices:
                    guard let ids = s.bySymbol[e.channel.key], !ids.isEmpty else { continue }
                    guard let p = Valuation.prices([e])[e.channel.key] else { continue }
                    s.prices[e.channel.key] = p
                    s.dirty.formUnion(ids)
                case .portfolio:
                    let id = e.channel.key
                    guard var w = s.watched[id] else { continue }
                    if !w.loaded {
                        // The read in flight may be older than this event: read again after it.
                        w.stale = true
                        s.watched[id] = w
                        continue
                    }
                    guard apply(e.data, to: &w) else {
                        // A deletion's event does not name the symbol: read the holdings again.
                        w.loaded = false
                        s.watched[id] = w
                        s.dirty.insert(id)   // valued once the holdings are read again
                        reloads.append(id)
                        continue
                    }
                    s.watched[id] = w
                    for sym in w.holdings.keys { s.bySymbol[sym, default: []].insert(id) }
                    s.dirty.insert(id)
                case .predictions:
                    continue
                }
            }
            if !s.dirty.isEmpty, !s.wakeQueued, let loop = s.loop {
                s.wakeQueued = true
                wake = loop
            }
            return s.loop
        }
        if let loop { for id in reloads { loop.execute { [self] in load(id, on: loop) } } }
        if let wake { wake.execute { [self] in process(on: wake) } }
    }

    /// A `transaction` event's holding (the state after it); false when the event cannot be
    /// applied this way (a deletion, a portfolio deleted, an unexpected shape).
    private func apply(_ data: JSONValue, to w: inout Watched) -> Bool {
        guard let o = data.objectValue, o["type"] == .string("transaction"),
              let symbol = o["transaction"]?.objectValue?["symbol"]?.stringValue else { return false }
        switch o["holding"] {
        case .null?:
            w.holdings[symbol] = nil
            return true
        case .object(let h)?:
            guard let q = h["quantity"]?.stringValue.flatMap({ ExactDecimal(canonicalOrPlain: $0) }),
                  let cost = h["costBasis"]?.stringValue.flatMap({ ExactDecimal(canonicalOrPlain: $0) }) else { return false }
            w.holdings[symbol] = Holding(quantity: q, costBasis: cost)
            return true
        default:
            return false
        }
    }

    // MARK: On the feed's loop

    private func process(on loop: EventLoop) {
        let now = loop.now
        var due: [(id: String, valuation: Valuation)] = []
        var later: [(String, Millis)] = []
        state.withLock { s in
            s.wakeQueued = false
            for id in s.dirty {
                guard var w = s.watched[id], w.loaded else { continue }
                if let last = w.lastSent, now < last + Self.interval {
                    if !w.timerArmed {
                        w.timerArmed = true
                        later.append((id, last + Self.interval - now))
                        s.watched[id] = w
                    }
                    continue
                }
                w.lastSent = now
                s.watched[id] = w
                let holdings = w.holdings.map { (symbol: $0.key, holding: $0.value) }
                    .sorted { Array($0.symbol.utf8).lexicographicallyPrecedes(Array($1.symbol.utf8)) }
                due.append((id, Valuation(holdings: holdings, prices: s.prices)))
            }
            // Those still loading stay; those waiting for their second come back with the timer.
            s.dirty = s.dirty.filter { id in s.watched[id]?.loaded == false }
        }
        for (id, delay) in later {
            _ = loop.schedule(after: delay) { [self] in
                state.withLock { s in
                    s.watched[id]?.timerArmed = false
                    s.dirty.insert(id)
                }
                process(on: loop)
            }
        }
        let asOf = Clock.wallMillis()
        for (id, v) in due {
            guard let channel = ChannelName("portfolio:" + id) else { continue }
            broker.notifySubscribers(channel, method: "portfolio.valuation", params: .object(JSONObject([
                ("portfolioId", .string(id)), ("totalValue", PortfolioJSON.decimal(v.totalValue)),
                ("holdings", .array(v.holdingsJSON(detailed: false))),
                ("unpricedSymbols", .array(v.unpriced.map { .string($0) })), ("asOf", PortfolioJSON.int(asOf)),
            ])))
        }
    }

    /// Forgets portfolios without subscribers, and prices no watched portfolio holds.
    private func sweep() {
        let ids = state.withLock { Array($0.watched.keys) }
        let gone = ids.filter { id in ChannelName("portfolio:" + id).map { broker.subscriberCount($0) == 0 } ?? true }
        guard !gone.isEmpty else { return }
        state.withLock { s in
            for id in gone {
                guard let w = s.watched.removeValue(forKey: id) else { continue }
                s.dirty.remove(id)
                for sym in w.holdings.keys {
                    s.bySymbol[sym]?.remove(id)
                    if s.bySymbol[sym]?.isEmpty == true {
                        s.bySymbol[sym] = nil
                        s.prices[sym] = nil
                    }
                }
            }
        }
    }
}

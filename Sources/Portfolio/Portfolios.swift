#if canImport(Glibc)
import Glibc
#endif
import Accounts
import Gateway
import Log
import Money
import Reactor
import Store
import Synchronization

/// Settings of the portfolio module (contract 2b), with its defaults.
public struct PortfolioConfiguration: Sendable {
    /// Portfolios one user may have.
    public var maxPortfolios = 100
    /// Events of a portfolio channel taken back into the in-process log at start, at most.
    public var restoredEventsPerChannel = 1_000
    /// Test only (`QV_TEST_EXIT_AFTER_COMMIT=1`): the process exits right after a portfolio
    /// write commits, before its event is published — the crash the outbox exists for.
    public var exitAfterCommit = false
    /// `risk.metrics`'s default benchmark (`--risk-benchmark`).
    public var riskBenchmark = "SPY"
    /// Annual risk-free rate as a fraction (`--risk-free-rate`; 0.04 = 4 %).
    public var riskFreeRate = 0.0

    public init() {}
}

/// Portfolios on one store: the `portfolio.*` methods, who may read `portfolio:` channels, and
/// the outbox relay that publishes their events.
public final class Portfolios: Sendable {
    public let configuration: PortfolioConfiguration
    let store: Store
    let logger: Logger
    private let parts = Mutex<(broker: Broker, relay: OutboxRelay, valuations: ValuationFeed)?>(nil)

    public init(configuration: PortfolioConfiguration, store: Store, logger: Logger) {
        self.configuration = configuration
        self.store = store
        self.logger = logger.with("component", "portfolio")
    }

    var broker: Broker {
        guard let b = parts.withLock({ $0?.broker }) else { preconditionFailure("Portfolios used before install") }
        return b
    }

    /// Adds the methods and the channel access check; makes the relay on the gateway's broker.
    public func install(into modules: inout GatewayModules) {
        let valuations = ValuationFeed(store: store, broker: modules.broker, logger: logger)
        parts.withLock { $0 = (modules.broker, OutboxRelay(store: store, broker: modules.broker, logger: logger), valuations) }
        modules.channelAccess = PortfolioAccess(store: store, valuations: valuations)
        PortfolioMethods.register(in: &modules.methods, self)
        RiskMethod.register(in: &modules.methods, self)
    }

    /// Blocking, at start (after `install`, before the loops serve): portfolio channels back at
    /// their recorded positions.
    public func restore(ttl: Millis) throws(StoreError) {
        guard let relay = parts.withLock({ $0?.relay }) else { return }
        try relay.restore(ttl: ttl, perChannel: configuration.restoredEventsPerChannel, now: Clock.wallMillis())
    }

    /// The relay on `loop` (what an earlier process left first), and the hourly prune of
    /// outbox rows past the history age.
    public func start(on loop: EventLoop, historyTTL: Millis) {
        guard let (relay, valuations) = parts.withLock({ p in p.map { ($0.relay, $0.valuations) } }) else { return }
        relay.start(on: loop)
        valuations.start(on: loop)
        loop.execute {
            loop.schedule(every: 3_600_000) { _ in relay.prune(ttl: historyTTL, on: loop) }
        }
    }

    /// A portfolio named `name` with these buys for `userId`, unless the user has one already
    /// (the demo account's). Blocking: call at start; the relay publishes its events when it
    /// starts. Amounts are decimal strings of the contract's input grammar.
    public func ensurePortfolio(userId: String, name: String, buys: [(symbol: String, quantity: String, price: String)])
        -> Result<String?, StoreError> {
        let now = Clock.wallMillis()
        let id = Secrets.randomID()
        var requests: [PortfolioMethods.Request] = []
        for b in buys {
            guard let q = ExactDecimal(contractInput: b.quantity), let p = ExactDecimal(contractInput: b.price) else {
                return .failure(.invalid("demo portfolio: not a decimal: \(b.quantity) @ \(b.price)"))
            }
            requests.append(.init(symbol: b.symbol, side: .buy, quantity: q, price: p, fee: .zero, executedAt: nil, clientOrderId: nil))
        }
        let limit = configuration.maxPortfolios
        let made = requests
        return store.transactionBlocking { c throws(StoreError) -> String? in
            guard try PortfolioStore.list(c, userId: userId).isEmpty else { return nil }
            guard try PortfolioStore.create(c, id: id, userId: userId, name: name, baseCurrency: "USD", now: now, limit: limit) else {
                return nil
            }
            for r in made {
                _ = try PortfolioMethods.record(c, portfolioId: id, userId: userId, r, transactionId: Secrets.randomID(), now: now)
            }
            return id
        }
    }

    /// A write with an outbox row committed.
    func committed() {
        if configuration.exitAfterCommit {
            logger.notice("exiting after a commit, before the publish (QV_TEST_EXIT_AFTER_COMMIT)", [])
            exit(86)
        }
        parts.withLock { $0?.relay }?.kick()
    }

}

/// `portfolio:ID` is readable by its owner only; the store says who that is.
struct PortfolioAccess: ChannelAccess {
    let store: Store
    let valuations: ValuationFeed

    func mayRead(_ channel: ChannelName, userId: String, on loop: EventLoop, _ done: @escaping (Bool) -> Void) {
        let id = channel.key
        store.transaction(on: loop, write: false, { c throws(StoreError) in
            try PortfolioStore.owned(c, id, userId: userId) != nil
        }) { [valuations] result in
            let allowed = (try? result.get()) ?? false
            if allowed { valuations.watch(id) }
            done(allowed)
        }
    }
}

import Accounts
import Demo
import Gateway
import Log
import Market
import Portfolio
import Reactor
import Redis
import Server
import Store
import WebSocketProtocol

/// The gateway process, built from one configuration: the server (loops, listeners, routes),
/// the gateway on it, and the drain switch both answer to. `quantumvest serve` and the tests
/// make it the same way.
///
/// `init` binds (port 0 picks a free one) without serving; `start` serves; `beginDrain` turns
/// `/readyz`, HTTP publish and new upgrades to 503 at once (any thread, does not block);
/// `stop` drains (WebSockets get 1001) and returns when every loop has ended.
public final class Application: Sendable {
    public let configuration: AppConfiguration
    public let logger: Logger
    public let gateway: Gateway
    public let server: Server
    /// The one drain switch: readiness, upgrades, keep-alive, HTTP publish.
    public let drain: DrainCoordinator
    /// The database (SQLite or PostgreSQL); `/readyz` answers 503 while it is unreachable.
    public let store: Store
    public let accounts: Accounts
    public let portfolios: Portfolios
    /// The simulated market (`--demo`).
    public let demo: DemoMarket?
    public let bars: Bars

    /// `routes`: endpoints of the caller's besides the gateway's (tests, later modules);
    /// `modules` register more JSON-RPC methods (see `Gateway.init`), with the store at hand.
    public init(configuration: AppConfiguration, logger: Logger, routes extraRoutes: Routes = Routes(),
                modules: (inout GatewayModules, Store) -> Void = { _, _ in }) throws(AppStartError) {
        self.configuration = configuration
        self.logger = logger
        let store: Store
        do {
            store = try Store(configuration: configuration.store, logger: logger)
        } catch {
            throw .store(error)
        }
        self.store = store
        let accounts: Accounts
        do {
            accounts = try Accounts(configuration: configuration.accounts, store: store, logger: logger)
        } catch {
            store.shutdown()
            throw .accounts(error)
        }
        self.accounts = accounts
        let portfolios = Portfolios(configuration: configuration.portfolio, store: store, logger: logger)
        self.portfolios = portfolios
        let bars = Bars(configuration: configuration.bars, store: store, logger: logger)
        self.bars = bars
        let drain = DrainCoordinator()
        let gateway: Gateway
        do {
            gateway = try Gateway(configuration: configuration.gateway, loops: configuration.server.threads, logger: logger,
                                  drain: drain, modules: { m in
                                      accounts.install(into: &m)
                                      portfolios.install(into: &m)
                                      bars.install(into: &m)
                                      modules(&m, store)
                                  })
        } catch {
            accounts.shutdown()
            store.shutdown()
            throw .redis("cannot start the Redis channel log: \(error)")
        }
        // Serve only once the servers answered (or say loudly which do not): subscribers of a
        // server still connecting would be refused with −32013 for nothing.
        if let redis = gateway.broker.log as? RedisChannelLog, !redis.waitUntilConnected(timeout: 3_000) {
            let down = zip(configuration.gateway.redis.servers, redis.serversUp).filter { !$0.1 }.map(\.0.description)
            logger.warning("Redis unreachable at start: its channels answer -32013 until it is back", [("servers", down.joined(separator: " "))])
        }
        var routes = extraRoutes
        gateway.install(into: &routes)
        // Ready: not draining, and the store answered its last check (at most ~1 s old).
        routes.http["/readyz"] = routes.http["/readyz"] ?? Routes.HTTPRoute(methods: ["GET"]) { _ in
            if drain.isDraining { return HTTPResponse.text(.serviceUnavailable, "draining") }
            guard store.isUp else { return HTTPResponse.text(.serviceUnavailable, "store unavailable") }
            return gateway.channelsReachable ? HTTPResponse.text(.ok, "ready") : HTTPResponse.text(.serviceUnavailable, "redis unavailable")
        }
        do {
            self.server = try Server(configuration: configuration.server, routes: routes, logger: logger, drain: drain)
        } catch {
            accounts.shutdown()
            store.shutdown()
            throw .server(error)
        }
        gateway.attach(server.loops)
        self.gateway = gateway
        do {
            // Before any loop serves: portfolio channels back at their recorded positions.
            try portfolios.restore(ttl: configuration.gateway.broker.portfolioHistoryTTL)
        } catch {
            accounts.shutdown()
            store.shutdown()
            throw .store(StoreStartError(message: "cannot restore portfolio channels from the outbox: \(error)"))
        }
        if let settings = configuration.demo {
            do {
                demo = try DemoMarket(settings: settings, store: store, broker: gateway.broker, logger: logger)
                try Application.demoAccount(accounts, portfolios, logger)
            } catch {
                accounts.shutdown()
                store.shutdown()
                throw .store(StoreStartError(message: "cannot set up the demo market: \(error)"))
            }
        } else {
            demo = nil
        }
        self.drain = drain
    }

    /// The demo account (only with `--demo`): known credentials, printed at start, and one
    /// portfolio of a few holdings, so a newcomer sees a live portfolio at once.
    public static let demoEmail = "demo@quantumvest.dev"
    public static let demoPassword = "quantumvest-demo"

    static func demoAccount(_ accounts: Accounts, _ portfolios: Portfolios, _ logger: Logger) throws {
        let userId = try accounts.ensureUser(email: demoEmail, password: demoPassword).get()
        _ = try portfolios.ensurePortfolio(userId: userId, name: "Demo portfolio", buys: [
            ("AAPL", "40", "181.20"), ("MSFT", "15", "402.75"), ("NVDA", "60", "108.40"), ("SPY", "10", "548.10"),
            ("BTC-USD", "0.25", "61250"),
        ]).get()
        // Demo credentials, meant to be seen (they open a sandbox account, nothing else).
        logger.notice("demo account: log in with email \(demoEmail) and password \(demoPassword)", [])
    }

    public var host: String { server.host }
    public var port: Int { server.port }
    public var loops: [EventLoop] { server.loops }
    public var isTLS: Bool { server.isTLS }

    public func start() {
        server.start()
        if let loop = server.loops.first {
            store.startHealthChecks(on: loop)
            accounts.startBackgroundWork(on: loop, sessions: gateway.sessions)
            portfolios.start(on: loop, historyTTL: configuration.gateway.broker.portfolioHistoryTTL)
            demo?.start(on: loop)
            bars.start(on: loop)
        }
    }

    /// Refuse new work from now on (readiness 503, publish 503, upgrades 503); connections
    /// stay until `stop`. Any thread.
    public func beginDrain() {
        drain.begin()
    }

    /// Drains (if not begun) and waits for the loops to end, bounded by the drain timeout.
    /// Blocks: call from the main thread or a test, never from a loop.
    public func stop() {
        drain.begin()
        // Before the loops stop: queued store work still completes on them.
        accounts.shutdown()
        bars.stop()   // the last second's bars, before the store closes
        store.shutdown()
        server.shutdown()
        gateway.shutdown()
    }
}

/// Why the process could not start (printed for the operator, exit 1).
public enum AppStartError: Error, CustomStringConvertible, Sendable {
    case server(ServerStartError)
    case store(StoreStartError)
    case accounts(AccountsStartError)
    case redis(String)

    public var description: String {
        switch self {
        case .server(let e): e.description
        case .store(let e): "store: \(e)"
        case .accounts(let e): "accounts: \(e)"
        case .redis(let e): "redis: \(e)"
        }
    }
}

import Gateway
import Log
import Reactor
import Server

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

    /// `routes`: endpoints of the caller's besides the gateway's (tests, later modules);
    /// `modules` register more JSON-RPC methods (see `Gateway.init`).
    public init(configuration: AppConfiguration, logger: Logger, routes extraRoutes: Routes = Routes(),
                modules: (inout GatewayModules) -> Void = { _ in }) throws(ServerStartError) {
        self.configuration = configuration
        self.logger = logger
        let drain = DrainCoordinator()
        let gateway = Gateway(configuration: configuration.gateway, loops: configuration.server.threads, logger: logger,
                              drain: drain, modules: modules)
        var routes = extraRoutes
        gateway.install(into: &routes)
        self.server = try Server(configuration: configuration.server, routes: routes, logger: logger, drain: drain)
        gateway.attach(server.loops)
        self.gateway = gateway
        self.drain = drain
    }

    public var host: String { server.host }
    public var port: Int { server.port }
    public var loops: [EventLoop] { server.loops }
    public var isTLS: Bool { server.isTLS }

    public func start() {
        server.start()
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
        server.shutdown()
    }
}

import JSON
import Log
import Reactor
import Server
import WebSocketProtocol

/// What every session of a gateway shares (immutable after start).
final class GatewayContext: Sendable {
    let configuration: GatewayConfiguration
    let methods: MethodRegistry
    let broker: Broker
    let sessions: SessionRegistry
    let logger: Logger
    let parser = JSONParser(maxDepth: 64)

    init(configuration: GatewayConfiguration, methods: MethodRegistry, broker: Broker, sessions: SessionRegistry, logger: Logger) {
        self.configuration = configuration
        self.methods = methods
        self.broker = broker
        self.sessions = sessions
        self.logger = logger
    }
}

/// What a module (auth, portfolio, risk, …) gets at start-up: the registry to add its methods
/// to, the channels (publish, latest, taps), and the sessions by user (revocations).
public struct GatewayModules {
    public var methods: MethodRegistry
    public let broker: Broker
    public let sessions: SessionRegistry
    public let configuration: GatewayConfiguration
    /// Checks access tokens at the `/ws` handshake (the accounts module sets it; without one,
    /// only publisher keys are accepted there).
    public var accessTokens: (any AccessTokenVerifier)?
    /// Who may subscribe to a `portfolio:` channel (the portfolio module sets it; without one,
    /// nobody may).
    public var channelAccess: (any ChannelAccess)?
}

/// Whether a user may read a private channel: asked off the caller's loop when it needs the
/// store, answered on `loop`.
public protocol ChannelAccess: Sendable {
    func mayRead(_ channel: ChannelName, userId: String, on loop: EventLoop, _ done: @escaping (Bool) -> Void)
}

/// The realtime gateway on top of the server: `/ws` (JSON-RPC sessions), `POST
/// /api/v1/publish`, and the channels: a log (positions, history) feeding one hub per event loop.
///
/// Wiring: make the gateway, `install` its routes, create the `Server` with them, `attach` the
/// server's loops, then start the server.
public final class Gateway: Sendable {
    public let configuration: GatewayConfiguration
    public let broker: Broker
    public let sessions: SessionRegistry
    let context: GatewayContext
    private let hubs: [LoopHub]
    private let credentials: Credentials
    /// The process's drain switch (HTTP publish answers 503 once it is set).
    private let drain: DrainCoordinator

    /// `loops`: how many event loops the server will run (one hub each). `drain`: the switch
    /// the server answers to as well. `modules` register more methods (auth, portfolio, risk, …)
    /// next to the channel methods.
    /// Throws only with `--redis` (the Redis log's loop thread could not start).
    public init(configuration: GatewayConfiguration, loops: Int, logger: Logger, drain: DrainCoordinator,
                modules: (inout GatewayModules) -> Void = { _ in }) throws(SystemError) {
        self.configuration = configuration
        self.drain = drain
        let hubs = (0..<max(1, loops)).map { LoopHub(index: $0) }
        self.hubs = hubs
        let broker: Broker
        if configuration.redis.servers.isEmpty {
            broker = Broker(settings: configuration.broker, hubs: hubs, logger: logger)
        } else {
            let fanOut = FanOut(hubs: hubs)
            broker = Broker(log: try RedisChannelLog(settings: configuration.broker, redis: configuration.redis, fanOut: fanOut, logger: logger),
                            fanOut: fanOut)
        }
        self.broker = broker
        let sessions = SessionRegistry(loops: hubs.count)
        self.sessions = sessions
        var setup = GatewayModules(methods: MethodRegistry(), broker: broker, sessions: sessions, configuration: configuration,
                                   accessTokens: nil, channelAccess: nil)
        modules(&setup)
        // After the modules: the channel methods take the access check a module provided.
        ChannelMethods.register(in: &setup.methods, broker: broker, configuration: configuration, access: setup.channelAccess)
        self.context = GatewayContext(configuration: configuration, methods: setup.methods, broker: broker,
                                      sessions: sessions, logger: logger)
        self.credentials = Credentials(configuration, accessTokens: setup.accessTokens)
    }

    /// Adds the gateway's endpoints.
    public func install(into routes: inout Routes) {
        let credentials = self.credentials
        let context = self.context
        let hubs = self.hubs
        routes.webSocket["/ws"] = { _, head in
            guard credentials.originAllowed(head) else {
                return .refuse(HTTPRejection(.forbidden, "origin not allowed"))
            }
            switch credentials.authenticate(head) {
            case .refuse(let rejection):
                return .refuse(rejection)
            case .role(let role, let grant):
                // Kept only when present: the login limits' peer behind a trusted proxy.
                let forwardedFor = head.values("x-forwarded-for")
                return .accept { ws in
                    GatewaySession(ws: ws, context: context, hub: hubs[ws.connection.loop.index % hubs.count], role: role,
                                   grant: grant, forwardedFor: forwardedFor)
                }
            }
        }
        let drain = self.drain
        let publish = PublishEndpoint(broker: broker, credentials: credentials, configuration: configuration,
                                      isDraining: { drain.isDraining })
        // Deferred: a log that answers after a round trip (Redis) answers the request then; the
        // in-process log answers before `handle` returns.
        routes.http["/api/v1/publish"] = Routes.HTTPRoute(methods: ["POST"]) { request, responder in
            publish.handle(request) { responder.respond($0) }
        }
    }

    /// Stops the shared log's connections (Redis), after the loops stopped.
    public func shutdown() {
        (broker.log as? RedisChannelLog)?.shutdown()
    }

    /// With Redis: false while every server is unreachable (`/readyz`, 2d); true otherwise.
    public var channelsReachable: Bool {
        guard let redis = broker.log as? RedisChannelLog else { return true }
        return redis.anyServerUp
    }

    /// Binds each hub (and session table) to its loop. Call after the server is made and before it starts.
    public func attach(_ loops: [EventLoop]) {
        precondition(loops.count == hubs.count, "one hub per event loop")
        for (hub, loop) in zip(hubs, loops) { hub.bind(loop) }
        sessions.attach(loops)
    }
}

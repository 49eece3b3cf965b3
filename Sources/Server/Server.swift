import Log
import Reactor
import Synchronization
import WebSocketProtocol

/// What every connection of a server shares: settings, routes, the logger, the drain flag.
final class ServerContext: Sendable {
    let configuration: ServerConfiguration
    let routes: Routes
    let logger: Logger
    let webSocketSettings: WebSocketSettings
    let drain: DrainFlag

    init(configuration: ServerConfiguration, routes: Routes, logger: Logger, drain: DrainFlag) {
        self.configuration = configuration
        self.routes = routes
        self.logger = logger
        self.webSocketSettings = WebSocketSettings(configuration, logger: logger)
        self.drain = drain
    }

    var isDraining: Bool { drain.isSet }
}

/// Set once when SIGTERM starts the drain; read by /readyz and by new handshakes.
public final class DrainFlag: Sendable {
    private let value = Atomic<Bool>(false)
    public init() {}
    public var isSet: Bool { value.load(ordering: .relaxed) }
    public func set() { value.store(true, ordering: .relaxed) }
}

/// Why a server could not start.
public enum ServerStartError: Error, CustomStringConvertible, Sendable {
    case listen(SystemError)
    case tls(TLSError)
    case configuration(String)

    public var description: String {
        switch self {
        case .listen(let e): "cannot listen: \(e)"
        case .tls(let e): "TLS: \(e)"
        case .configuration(let s): s
        }
    }
}

/// The HTTP/WebSocket server: N event loops sharing one port, routes, graceful drain.
public final class Server: Sendable {
    private let context: ServerContext
    private let group: EventLoopGroup

    /// Binds the listeners (port 0 picks a free one); `start` begins serving.
    public init(configuration: ServerConfiguration, routes: Routes, logger: Logger) throws(ServerStartError) {
        var tls: TLSContext?
        switch (configuration.tlsCertificatePath, configuration.tlsKeyPath) {
        case (nil, nil):
            break
        case (let cert?, let key?):
            do {
                tls = try TLSContext(certificatePath: cert, keyPath: key)
            } catch {
                throw .tls(error)
            }
        default:
            throw .configuration("TLS needs both a certificate (--tls-cert) and a key (--tls-key)")
        }
        var routes = routes
        let drain = DrainFlag()
        routes.http["/healthz"] = routes.http["/healthz"] ?? Routes.HTTPRoute(methods: ["GET"]) { _ in
            HTTPResponse.text(.ok, "ok")
        }
        if routes.http["/readyz"] == nil {
            routes.http["/readyz"] = Routes.HTTPRoute(methods: ["GET"]) { _ in
                drain.isSet ? HTTPResponse.text(.serviceUnavailable, "draining") : HTTPResponse.text(.ok, "ready")
            }
        }
        if configuration.echoEnabled {
            routes.webSocket["/echo"] = { _, _ in .accept { _ in EchoApplication.shared } }
        }
        let context = ServerContext(configuration: configuration, routes: routes, logger: logger, drain: drain)
        self.context = context
        do {
            self.group = try EventLoopGroup(host: configuration.host, port: configuration.port, threads: configuration.threads,
                                            configuration: configuration.effectiveLoop, tls: tls, logger: logger) { connection in
                HTTPConnection(connection: connection, context: context)
            }
        } catch {
            throw .listen(error)
        }
        self.isTLS = tls != nil
    }

    /// Whether the listeners speak TLS.
    public let isTLS: Bool

    public var host: String { group.host }
    public var port: Int { group.port }
    public var loops: [EventLoop] { group.loops }

    /// Open connections across all loops (any thread).
    public var openConnections: Int { group.loops.reduce(0) { $0 + $1.openConnections } }

    public func start() {
        group.start()
    }

    /// Graceful stop: refuse new work, close WebSockets with 1001, wait for them (bounded).
    public func shutdown() {
        context.drain.set()
        group.shutdown(timeout: context.configuration.drainTimeout)
    }
}

import Log
import Reactor
import WebSocketProtocol

/// What every connection of a server shares: settings, routes, the logger, the drain switch.
final class ServerContext: Sendable {
    let configuration: ServerConfiguration
    let routes: Routes
    let logger: Logger
    let webSocketSettings: WebSocketSettings
    let drain: DrainCoordinator

    init(configuration: ServerConfiguration, routes: Routes, logger: Logger, drain: DrainCoordinator) {
        self.configuration = configuration
        self.routes = routes
        self.logger = logger
        self.webSocketSettings = WebSocketSettings(configuration, logger: logger)
        self.drain = drain
    }

    var isDraining: Bool { drain.isDraining }
}

/// Why a server could not start.
public enum ServerStartError: Error, CustomStringConvertible, Sendable {
    case listen(SystemError)
    case tls(TLSError)
    case staticFiles(StaticFilesError)

    public var description: String {
        switch self {
        case .listen(let e): "cannot listen: \(e)"
        case .tls(let e): "TLS: \(e)"
        case .staticFiles(let e): "static files (--static-dir): \(e)"
        }
    }
}

/// The HTTP/WebSocket server: N event loops sharing one port, routes, graceful drain.
public final class Server: Sendable {
    private let context: ServerContext
    private let group: EventLoopGroup

    /// The drain switch this server answers to (`/readyz`, upgrades, keep-alive).
    public let drain: DrainCoordinator

    /// Binds the listeners (port 0 picks a free one) and loads the static folder if one is
    /// configured (blocking reads, here on the starting thread); `start` begins serving.
    public init(configuration: ServerConfiguration, routes: Routes, logger: Logger,
                drain: DrainCoordinator = DrainCoordinator()) throws(ServerStartError) {
        var tls: TLSContext?
        if let files = configuration.tls {
            do {
                tls = try TLSContext(certificatePath: files.certificatePath, keyPath: files.keyPath)
            } catch {
                throw .tls(error)
            }
        }
        var routes = routes
        if let directory = configuration.staticDirectory, routes.staticFiles == nil {
            do {
                routes.staticFiles = try StaticFiles.load(directory: directory)
            } catch {
                throw .staticFiles(error)
            }
        }
        routes.http["/healthz"] = routes.http["/healthz"] ?? Routes.HTTPRoute(methods: ["GET"]) { _ in
            HTTPResponse.text(.ok, "ok")
        }
        if routes.http["/readyz"] == nil {
            routes.http["/readyz"] = Routes.HTTPRoute(methods: ["GET"]) { _ in
                drain.isDraining ? HTTPResponse.text(.serviceUnavailable, "draining") : HTTPResponse.text(.ok, "ready")
            }
        }
        if configuration.echoEnabled {
            routes.webSocket["/echo"] = { _, _ in .accept { _ in EchoApplication.shared } }
        }
        self.drain = drain
        let context = ServerContext(configuration: configuration, routes: routes, logger: logger, drain: drain)
        self.staticFileCount = routes.staticFiles?.count ?? 0
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
    /// Files served from memory.
    public let staticFileCount: Int

    public var host: String { group.host }
    public var port: Int { group.port }
    public var loops: [EventLoop] { group.loops }

    /// Open connections across all loops (any thread).
    public var openConnections: Int { group.loops.reduce(0) { $0 + $1.openConnections } }

    public func start() {
        group.start()
    }

    /// Graceful stop: begins the drain (if nobody has), closes WebSockets with 1001 and waits
    /// for every connection to go (bounded by `drainTimeout`). Blocks: not on a loop.
    public func shutdown() {
        drain.begin()
        group.shutdown(timeout: context.configuration.drainTimeout)
    }
}

import WebSocketProtocol

/// A plain HTTP request as a route sees it.
public struct HTTPRequest: Sendable {
    public var head: HTTPRequestHead
    public var body: [UInt8]
}

/// What the router knows: plain HTTP endpoints and WebSocket endpoints, by exact path.
public struct Routes: Sendable {
    public struct HTTPRoute: Sendable {
        public var methods: [String]
        let answer: Answer

        enum Answer: Sendable {
            case now(@Sendable (HTTPRequest) -> HTTPResponse)
            case later(@Sendable (HTTPRequest, HTTPResponder) -> Void)
        }

        /// Answers at once, on the connection's loop (must not block).
        public init(methods: [String], handler: @escaping @Sendable (HTTPRequest) -> HTTPResponse) {
            self.methods = methods
            self.answer = .now(handler)
        }

        /// Answers later: `handler` runs on the connection's loop (must not block) and hands
        /// the work elsewhere; whoever finishes it calls `responder.respond(_:)` from any
        /// thread. The connection reads no further request until then (answers keep their
        /// order); without an answer within `ServerConfiguration.responseTimeout` the client
        /// gets 504.
        public init(methods: [String], deferred handler: @escaping @Sendable (HTTPRequest, HTTPResponder) -> Void) {
            self.methods = methods
            self.answer = .later(handler)
        }
    }

    /// Decides on a valid upgrade request before anything is answered: accept (with the
    /// application to run once the 101 is out) or refuse with an HTTP status (401, 403 …).
    public typealias WebSocketRoute = @Sendable (UpgradeRequest, HTTPRequestHead) -> WebSocketAdmission

    public var http: [String: HTTPRoute] = [:]
    public var webSocket: [String: WebSocketRoute] = [:]
    /// Answers GET/HEAD for paths no route claims (nil: those are 404).
    public var staticFiles: StaticFiles?

    public init() {}
}

/// A WebSocket route's answer to an upgrade request.
public enum WebSocketAdmission {
    /// Upgrade; `makeApplication` runs on the connection's loop right after the 101 is queued.
    case accept(_ makeApplication: (WebSocketConnection) -> any WebSocketApplication)
    /// Answer with this status and close (credentials, origin, …).
    case refuse(HTTPRejection)
}

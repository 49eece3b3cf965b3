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
        public var handler: @Sendable (HTTPRequest) -> HTTPResponse

        public init(methods: [String], handler: @escaping @Sendable (HTTPRequest) -> HTTPResponse) {
            self.methods = methods
            self.handler = handler
        }
    }

    /// Decides on a valid upgrade request before anything is answered: accept (with the
    /// application to run once the 101 is out) or refuse with an HTTP status (401, 403 …).
    public typealias WebSocketRoute = @Sendable (UpgradeRequest, HTTPRequestHead) -> WebSocketAdmission

    public var http: [String: HTTPRoute] = [:]
    public var webSocket: [String: WebSocketRoute] = [:]

    public init() {}
}

/// A WebSocket route's answer to an upgrade request.
public enum WebSocketAdmission {
    /// Upgrade; `makeApplication` runs on the connection's loop right after the 101 is queued.
    case accept(_ makeApplication: (WebSocketConnection) -> any WebSocketApplication)
    /// Answer with this status and close (credentials, origin, …).
    case refuse(HTTPRejection)
}

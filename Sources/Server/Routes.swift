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

    /// Makes the application object for a freshly upgraded connection.
    public typealias WebSocketRoute = @Sendable (WebSocketConnection, UpgradeRequest, HTTPRequestHead) -> any WebSocketApplication

    public var http: [String: HTTPRoute] = [:]
    public var webSocket: [String: WebSocketRoute] = [:]

    public init() {}
}

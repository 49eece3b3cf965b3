import Log
import Reactor
import WebSocketProtocol

/// A connection that has not (yet) become a WebSocket: reads one request head at a time
/// (bounded in size and time), answers plain endpoints, or performs the upgrade and hands the
/// connection to a `WebSocketConnection`. Every refusal is an HTTP response, then close.
final class HTTPConnection: ConnectionHandler {
    private unowned let connection: Connection
    private let context: ServerContext
    private var parser: HTTPRequestParser
    /// A request whose body is still arriving.
    private var pendingHead: HTTPRequestHead?
    private var body: [UInt8] = []
    /// Requests answered on this connection (keep-alive).
    private var servedRequests = 0

    init(connection: Connection, context: ServerContext) {
        self.connection = connection
        self.context = context
        self.parser = HTTPRequestParser(maxHeadBytes: context.configuration.maxHeadBytes,
                                        maxHeaders: context.configuration.maxHeaders)
        connection.setDeadline(connection.loop.now + context.configuration.headTimeout)
    }

    func connectionDidRead(_ connection: Connection, _ bytes: UnsafeMutableRawBufferPointer) {
        var input = bytes
        while !input.isEmpty && connection.isOpen && connection.handler === self {
            if let head = pendingHead {
                let need = head.contentLength - body.count
                let take = min(need, input.count)
                body.append(contentsOf: UnsafeRawBufferPointer(rebasing: input[0..<take]))
                input = UnsafeMutableRawBufferPointer(rebasing: input[take...])
                if body.count == head.contentLength {
                    pendingHead = nil
                    let request = HTTPRequest(head: head, body: body)
                    body = []
                    respond(to: request)
                }
                continue
            }
            if parser.bufferedCount == 0 {
                // A new request starts: its head gets `headTimeout`, whatever kept the
                // connection open before (keep-alive idle time).
                connection.setDeadline(connection.loop.now + context.configuration.headTimeout)
            }
            switch parser.feed(UnsafeRawBufferPointer(input)) {
            case .needMore:
                return
            case .rejected(let rejection):
                refuse(rejection)
                return
            case .complete(let head, let consumed):
                parser.reset()
                input = UnsafeMutableRawBufferPointer(rebasing: input[consumed...])
                input = handle(head, rest: input)
            }
        }
    }

    func connectionDeadlineDidPass(_ connection: Connection, now: Millis) {
        if parser.bufferedCount > 0 || pendingHead != nil {
            context.logger.info("request timed out", [("peer", connection.peerDescription)])
            refuse(HTTPRejection(.requestTimeout, "request not received in time"))
        } else {
            connection.close()   // idle keep-alive connection
        }
    }

    func connectionShouldDrain(_ connection: Connection) {
        // An idle keep-alive connection goes now. One with a request under way, or accepted a
        // moment before the drain began (its first request is on the way: a readiness probe,
        // say), is answered first — with 503 or `Connection: close` — within the head timeout.
        if servedRequests > 0 && parser.bufferedCount == 0 && pendingHead == nil {
            connection.close(afterFlush: true)
        }
    }

    // MARK: Routing

    /// Handles a complete head; returns the input left for the next request (or the WebSocket).
    private func handle(_ head: HTTPRequestHead, rest: UnsafeMutableRawBufferPointer) -> UnsafeMutableRawBufferPointer {
        let path = String(head.path)
        if let route = context.routes.webSocket[path] {
            upgrade(head, route: route, rest: rest)
            return UnsafeMutableRawBufferPointer(rebasing: rest[rest.endIndex...])
        }
        guard let route = context.routes.http[path] else {
            refuse(HTTPRejection(.notFound, "no such endpoint"))
            return rest
        }
        guard route.methods.contains(head.method) || (head.method == "HEAD" && route.methods.contains("GET")) else {
            refuse(HTTPRejection(.methodNotAllowed, "method not allowed",
                                 headers: [.init(name: "Allow", value: route.methods.joined(separator: ", "))]))
            return rest
        }
        let length = head.contentLength
        if length > context.configuration.maxBodyBytes {
            refuse(HTTPRejection(.payloadTooLarge, "request body too large"))
            return rest
        }
        if length > 0 {
            pendingHead = head
            body.reserveCapacity(length)
            return rest
        }
        respond(to: HTTPRequest(head: head, body: []))
        return rest
    }

    private func respond(to request: HTTPRequest) {
        guard let route = context.routes.http[String(request.head.path)] else { return }
        let response = route.handler(request)
        let keepAlive = request.head.versionMinor == 1 && !request.head.tokens("connection").contains("close")
            && !context.isDraining
        // HEAD: the GET response's headers, no body.
        connection.write(response.serialized(close: !keepAlive, includeBody: request.head.method != "HEAD"))
        servedRequests += 1
        if keepAlive {
            connection.setDeadline(connection.loop.now + context.configuration.keepAliveTimeout)
        } else {
            connection.close(afterFlush: true)
        }
    }

    private func upgrade(_ head: HTTPRequestHead, route: Routes.WebSocketRoute, rest: UnsafeMutableRawBufferPointer) {
        guard UpgradeHandshake.isUpgradeAttempt(head) else {
            refuse(HTTPRejection(.upgradeRequired, "this endpoint speaks WebSocket",
                                 headers: [.init(name: "Upgrade", value: "websocket"),
                                           .init(name: "Sec-WebSocket-Version", value: "13")]))
            return
        }
        let request: UpgradeRequest
        switch UpgradeHandshake.validate(head) {
        case .failure(let rejection):
            refuse(rejection)
            return
        case .success(let r):
            request = r
        }
        if context.isDraining {
            refuse(HTTPRejection(.serviceUnavailable, "server shutting down"))
            return
        }
        let makeApplication: (WebSocketConnection) -> any WebSocketApplication
        switch route(request, head) {
        case .refuse(let rejection):
            refuse(rejection)
            return
        case .accept(let make):
            makeApplication = make
        }
        let subprotocol = request.protocols.first { context.configuration.subprotocols.contains($0) }
        let deflate = DeflateNegotiation.negotiate(request.extensions, settings: context.configuration.deflate)
        connection.write(UpgradeHandshake.response(for: request, subprotocol: subprotocol,
                                                   extensions: deflate?.responseHeader).serialized(close: false))
        let ws = WebSocketConnection(connection: connection, settings: context.webSocketSettings, deflate: deflate)
        ws.application = makeApplication(ws)
        connection.handler = ws
        // Frames the client sent right behind its handshake.
        if !rest.isEmpty { ws.connectionDidRead(connection, rest) }
    }

    private func refuse(_ rejection: HTTPRejection) {
        if rejection.status.rawValue >= 500 || rejection.status == .requestTimeout {
            context.logger.info("request refused", [("status", String(rejection.status.rawValue)), ("reason", rejection.reason)])
        } else {
            context.logger.debug("request refused", [("status", String(rejection.status.rawValue)), ("reason", rejection.reason)])
        }
        let response = HTTPResponse.text(rejection.status, rejection.reason,
                                         headers: rejection.headers.map { ($0.name, $0.value) })
        connection.write(response.serialized(close: true))
        connection.close(afterFlush: true)
    }
}

import Log
import Reactor
import WebSocketProtocol

/// A connection that has not (yet) become a WebSocket: reads one request head at a time
/// (bounded in size and time), answers plain endpoints, or performs the upgrade and hands the
/// connection to a `WebSocketConnection`. Every refusal is an HTTP response, then close.
///
/// A deferred route answers later: until it does, bytes the client pipelines behind the
/// request are held (reading pauses once `maxHeldBytes` is reached) and handled after the
/// answer, so answers keep the order of the requests.
final class HTTPConnection: ConnectionHandler {
    private unowned let connection: Connection
    private let context: ServerContext
    private var parser: HTTPRequestParser
    /// A request whose body is still arriving.
    private var pendingHead: HTTPRequestHead?
    private var body: [UInt8] = []
    /// Requests answered on this connection (keep-alive).
    private var servedRequests = 0
    /// The request a deferred route is working on, and what arrived behind it.
    private var awaiting: (head: HTTPRequestHead, responder: HTTPResponder)?
    private var held: [UInt8] = []
    private var requestSequence = 0
    /// The client half-closed while an answer was outstanding: answer, then close.
    private var peerFinished = false

    /// Pipelined bytes kept while an answer is outstanding; past this the socket is not read
    /// (TCP pushes back) until the answer is out.
    static let maxHeldBytes = 64 << 10

    init(connection: Connection, context: ServerContext) {
        self.connection = connection
        self.context = context
        self.parser = HTTPRequestParser(maxHeadBytes: context.configuration.maxHeadBytes,
                                        maxHeaders: context.configuration.maxHeaders)
        connection.setDeadline(connection.loop.now + context.configuration.headTimeout)
    }

    func connectionDidRead(_ connection: Connection, _ bytes: UnsafeMutableRawBufferPointer) {
        process(bytes)
    }

    private func process(_ bytes: UnsafeMutableRawBufferPointer) {
        var input = bytes
        while !input.isEmpty && connection.isOpen && connection.handler === self {
            if awaiting != nil {
                hold(UnsafeRawBufferPointer(input))
                return
            }
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
            case .rejected(let error):
                refuse(HTTPRejection(error))
                return
            case .complete(let head, let consumed):
                parser.reset()
                input = UnsafeMutableRawBufferPointer(rebasing: input[consumed...])
                input = handle(head, rest: input)
            }
        }
    }

    private func hold(_ bytes: UnsafeRawBufferPointer) {
        held.append(contentsOf: bytes)
        if held.count >= HTTPConnection.maxHeldBytes { connection.pauseReading() }
    }

    func connectionDidReadEOF(_ connection: Connection) {
        // A client may half-close once its request is sent: the outstanding answer still goes
        // out (bounded by the response timeout). Reading stops, or EOF would be reported again.
        guard awaiting != nil else {
            connection.close()
            return
        }
        peerFinished = true
        connection.pauseReading()
    }

    func connectionDeadlineDidPass(_ connection: Connection, now: Millis) {
        if let (head, responder) = awaiting {
            guard responder.expire() else {
                // The answer is on its way to this loop (a queued task): give it a moment.
                connection.setDeadline(now + 1_000)
                return
            }
            context.logger.warning("no answer in time", metadata: [
                "path": "\(head.path)", "method": "\(head.method)", "timeout_ms": "\(context.configuration.responseTimeout)",
            ])
            awaiting = nil
            held = []
            refuse(HTTPRejection(.gatewayTimeout, "no answer in time"), includeBody: head.method != "HEAD")
            return
        }
        if parser.bufferedCount > 0 || pendingHead != nil {
            context.logger.info("request timed out", metadata: ["peer": "\(connection.peerDescription)"])
            refuse(HTTPRejection(.requestTimeout, "request not received in time"))
        } else {
            connection.close()   // idle keep-alive connection
        }
    }

    func connectionShouldDrain(_ connection: Connection) {
        // An idle keep-alive connection goes now. One with a request under way (or an answer
        // outstanding), or accepted a moment before the drain began (its first request is on
        // the way: a readiness probe, say), is answered first — with 503 or `Connection:
        // close` — within the head or response timeout.
        if servedRequests > 0 && parser.bufferedCount == 0 && pendingHead == nil && awaiting == nil {
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
            serveStatic(head)
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

    /// A path no route claims: a file from memory, or 404.
    private func serveStatic(_ head: HTTPRequestHead) {
        guard let files = context.routes.staticFiles else {
            refuse(HTTPRejection(.notFound, "no such endpoint"))
            return
        }
        guard head.method == "GET" || head.method == "HEAD" else {
            refuse(HTTPRejection(.methodNotAllowed, "method not allowed", headers: [.init(name: "Allow", value: "GET, HEAD")]))
            return
        }
        guard head.contentLength == 0 else {
            refuse(HTTPRejection(.badRequest, "a GET has no body"))
            return
        }
        send(files.response(to: head), for: head)
    }

    private func respond(to request: HTTPRequest) {
        guard let route = context.routes.http[String(request.head.path)] else { return }
        switch route.answer {
        case .now(let handler):
            send(handler(request), for: request.head)
        case .later(let handler):
            requestSequence += 1
            let responder = HTTPResponder(loop: connection.loop, connectionID: connection.id, sequence: requestSequence)
            awaiting = (request.head, responder)
            connection.setDeadline(connection.loop.now + context.configuration.responseTimeout)
            handler(request, responder)
        }
    }

    /// A deferred answer, back on this loop. Ignored unless it answers the request outstanding.
    func deliverDeferred(_ response: HTTPResponse, sequence: Int) {
        guard let (head, responder) = awaiting, responder.sequence == sequence else { return }
        awaiting = nil
        send(response, for: head)
        guard connection.isOpen, connection.handler === self else { return }
        if peerFinished {
            // What else it sent before its FIN was held: answer that too, then close.
            var pending = held
            held = []
            if !pending.isEmpty { pending.withUnsafeMutableBytes { process($0) } }
            if awaiting == nil && connection.isOpen { connection.close(afterFlush: true) }
            return
        }
        connection.resumeReading()
        if held.isEmpty { return }
        // What was pipelined behind the request, in order.
        var pending = held
        held = []
        pending.withUnsafeMutableBytes { process($0) }
    }

    private func send(_ response: HTTPResponse, for head: HTTPRequestHead) {
        let keepAlive = head.versionMinor == 1 && !head.tokens("connection").contains("close") && !context.isDraining
        // HEAD: the GET response's headers, no body.
        let includeBody = head.method != "HEAD"
        connection.write(response.serialized(close: !keepAlive, includeBody: includeBody))
        if includeBody, response.status != .notModified, let shared = response.sharedBody { connection.write(shared: shared) }
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
        case .failure(let error):
            refuse(HTTPRejection(error))
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
        connection.write(HTTPResponse.switchingProtocols(request, subprotocol: subprotocol,
                                                         extensions: deflate?.responseHeader).serialized(close: false))
        let ws = WebSocketConnection(connection: connection, settings: context.webSocketSettings, deflate: deflate)
        ws.application = makeApplication(ws)
        connection.handler = ws
        // Frames the client sent right behind its handshake.
        if !rest.isEmpty { ws.connectionDidRead(connection, rest) }
    }

    private func refuse(_ rejection: HTTPRejection, includeBody: Bool = true) {
        let level: Logger.Level = rejection.status.rawValue >= 500 || rejection.status == .requestTimeout ? .info : .debug
        context.logger.log(level: level, "request refused",
                           metadata: ["status": "\(rejection.status.rawValue)", "reason": "\(rejection.reason)"])
        connection.write(rejection.response.serialized(close: true, includeBody: includeBody))
        connection.close(afterFlush: true)
    }
}

import JSON
import Log
import Reactor
import WebSocketProtocol

/// JSON-RPC dispatch for one session: decodes a text message (one request or a batch), applies
/// the request rate limit (and the 4029 abuse close), looks the method up, checks its params and
/// runs its handler. Answers go back through the session (`ReplyCollector`); delivery of channel
/// events is not its business.
struct RPCDispatcher {
    private var bucket: TokenBucket
    private var limitedInWindow = 0
    private var windowStart: Millis

    init(role: Role, configuration c: GatewayConfiguration, now: Millis) {
        let publisher = role.isPublisher
        bucket = TokenBucket(rate: publisher ? c.publisherRequestRate : c.requestRate,
                             burst: publisher ? c.publisherRequestBurst : c.requestBurst, now: now)
        windowStart = now
    }

    /// One text message from `session`'s client.
    mutating func receive(_ payload: UnsafeRawBufferPointer, for session: GatewaySession) {
        let context = session.context
        let message: JSONValue
        do {
            message = try context.parser.parse(payload)
        } catch {
            consumeRateToken(session)   // garbage counts toward the abuse limit like anything else
            session.sendReply(RPCResponse.failure(id: .null, .parseError("invalid JSON: \(error.description)")))
            return
        }
        switch message {
        case .array(let entries):
            guard !entries.isEmpty else {
                consumeRateToken(session)
                session.sendReply(RPCResponse.failure(id: .null, .invalidRequest("empty batch", reason: "empty_batch")))
                return
            }
            let collector = ReplyCollector(session: session, entries: entries.count, isBatch: true)
            // A close (4029 halfway through) ends the batch: the rest would only be refused.
            for entry in entries where session.isActive { dispatch(entry, collector, session) }
        default:
            dispatch(message, ReplyCollector(session: session, entries: 1, isBatch: false), session)
        }
    }

    /// The order of checks is gateway.md §2.5's: envelope, rate, method, params, then the
    /// handler's own. A notification's answer, error or not, is dropped by its call.
    private mutating func dispatch(_ value: JSONValue, _ collector: ReplyCollector, _ session: GatewaySession) {
        let request: RPCRequest
        switch RPCRequest.decode(value) {
        case .failure(let f):
            consumeRateToken(session)
            collector.add(RPCResponse.failure(id: f.id, f.error))
            return
        case .success(let r):
            request = r
        }
        let call = RPCCall(request: request, session: session, collector: collector)
        guard consumeRateToken(session) else {
            call.fail(.rateLimited)
            return
        }
        guard let method = session.context.methods.method(request.method) else {
            call.fail(.methodNotFound(request.method))
            return
        }
        if method.requiresID && request.id == nil { return call.ignore() }
        if request.paramsArePositional {
            call.fail(.positionalParams)
            return
        }
        if let error = method.check(request.params) {
            call.fail(error)
            return
        }
        method.handler(call)
    }

    /// Takes a token from the request bucket; counts refusals and closes the connection (4029)
    /// when a client keeps going far past the limit.
    @discardableResult
    private mutating func consumeRateToken(_ session: GatewaySession) -> Bool {
        let t = session.now
        if bucket.take(now: t) { return true }
        let c = session.context.configuration
        if t &- windowStart >= c.abuseWindow {
            windowStart = t
            limitedInWindow = 0
        }
        limitedInWindow += 1
        if limitedInWindow > c.abuseLimit && session.isActive {
            session.logger.info("rate limit abuse: closing", [("conn", session.connectionID), ("limited", String(limitedInWindow))])
            session.close(.rateLimitAbuse, reason: "rate limit abuse")
        }
        return false
    }
}

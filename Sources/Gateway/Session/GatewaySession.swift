import JSON
import Log
import Reactor
import Server
import WebSocketProtocol

/// The JSON-RPC session on one /ws connection: decodes messages, applies the rate limit,
/// dispatches to registered methods, and receives channel events from its loop's hub, with
/// `maxRate` pacing, conflation over the outgoing bound and the slow-consumer close (4008).
/// Lives on its connection's loop thread.
public final class GatewaySession: WebSocketApplication {
    /// The connection owns the session (as its application), not the other way round. Both
    /// stay alive until `webSocketDidClose` (the loop reaps a connection only after that call),
    /// so every use below is behind `isClosed`, and the references are unretained. The
    /// per-delivery path reads them through `_withUnsafeGuaranteedRef`: no retain and release
    /// around each use.
    private let wsRef: Unmanaged<WebSocketConnection>
    private let connectionRef: Unmanaged<Connection>
    private var ws: WebSocketConnection { wsRef.takeUnretainedValue() }
    private var connection: Connection { connectionRef.takeUnretainedValue() }
    let context: GatewayContext
    let hub: LoopHub
    private unowned(unsafe) let loop: EventLoop
    public private(set) var role: Role
    public private(set) var isClosed = false

    /// Channel name → subscription.
    private(set) var subscriptions: [String: Subscription] = [:]
    private var bucket: TokenBucket
    private var limitedInWindow = 0
    private var windowStart: Millis
    /// When the outgoing queue went over its bound (nil while under it).
    private var overBoundSince: Millis?
    var inOverBoundList = false
    /// Copied out of the configuration: read per delivery, and reading a field through the
    /// struct would retain and release its arrays each time.
    private let outgoingBound: Int

    init(ws: WebSocketConnection, context: GatewayContext, hub: LoopHub, role: Role) {
        self.wsRef = Unmanaged.passUnretained(ws)
        self.connectionRef = Unmanaged.passUnretained(ws.connection)
        self.context = context
        self.hub = hub
        self.loop = ws.connection.loop
        self.role = role
        let c = context.configuration
        self.outgoingBound = c.outgoingBound
        let publisher = role.isPublisher
        self.bucket = TokenBucket(rate: publisher ? c.publisherRequestRate : c.requestRate,
                                  burst: publisher ? c.publisherRequestBurst : c.requestBurst, now: ws.connection.loop.now)
        self.windowStart = ws.connection.loop.now
    }

    var now: Millis { loop.now }
    /// The loop this session lives on (deferred answers come back through it).
    var eventLoop: EventLoop { loop }
    var logger: Logger { context.logger }
    var connectionID: String { isClosed ? "-" : connection.id.description }

    func assertInLoop() { loop.assertInLoop() }

    /// Bytes queued to this client and not yet taken by the kernel.
    var queuedBytes: Int { isClosed ? 0 : connectionRef._withUnsafeGuaranteedRef { $0.queuedBytes } }

    // MARK: Receiving

    /// Open and not closing: worth reading requests from.
    private var isActive: Bool { !isClosed && ws.isOpen }

    public func webSocket(_ ws: WebSocketConnection, didReceive opcode: Opcode, payload: UnsafeRawBufferPointer) {
        guard isActive else { return }
        guard opcode == .text else {
            ws.close(.unsupportedData, reason: "binary messages are not supported on /ws")
            return
        }
        let message: JSONValue
        do {
            message = try context.parser.parse(payload)
        } catch {
            consumeRateToken()   // garbage counts toward the abuse limit like anything else
            sendReply(RPCResponse.failure(id: .null, .parseError("invalid JSON: \(error.description)")))
            return
        }
        switch message {
        case .array(let entries):
            guard !entries.isEmpty else {
                consumeRateToken()
                sendReply(RPCResponse.failure(id: .null, .invalidRequest("empty batch", reason: "empty_batch")))
                return
            }
            let collector = ReplyCollector(session: self, entries: entries.count, isBatch: true)
            // A close (4029 halfway through) ends the batch: the rest would only be refused.
            for entry in entries where isActive { dispatch(entry, collector) }
        default:
            dispatch(message, ReplyCollector(session: self, entries: 1, isBatch: false))
        }
    }

    private func dispatch(_ value: JSONValue, _ collector: ReplyCollector) {
        let request: RPCRequest
        switch RPCRequest.decode(value) {
        case .failure(let f):
            _ = consumeRateToken()
            collector.add(RPCResponse.failure(id: f.id, f.error))
            return
        case .success(let r):
            request = r
        }
        let call = RPCCall(request: request, session: self, collector: collector)
        guard consumeRateToken() else {
            call.fail(.rateLimited)
            return
        }
        guard let method = context.methods.method(request.method) else {
            call.fail(.methodNotFound(request.method))
            return
        }
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
    private func consumeRateToken() -> Bool {
        let t = now
        if bucket.take(now: t) { return true }
        if t &- windowStart >= context.configuration.abuseWindow {
            windowStart = t
            limitedInWindow = 0
        }
        limitedInWindow += 1
        if limitedInWindow > context.configuration.abuseLimit && isActive {
            logger.info("rate limit abuse: closing", [("conn", connectionID), ("limited", String(limitedInWindow))])
            close(.rateLimitAbuse, reason: "rate limit abuse")
        }
        return false
    }

    // MARK: Sending

    /// Queues a reply (they count toward the outgoing bound like events).
    func sendReply(_ bytes: [UInt8]) {
        guard !isClosed else { return }
        bytes.withUnsafeBytes { ws.send(.text, $0) }
        noteQueued()
    }

    private func noteQueued() {
        if overBoundSince == nil && queuedBytes > outgoingBound {
            overBoundSince = now
            hub.watchOverBound(self)
        }
    }

    /// Fan-out to this session: its events of the pass are written at `endBurst`
    /// (see `Connection.beginBurst`).
    /// Fan-out is about to reach this session: start loading its socket's objects.
    @inline(__always)
    func prefetchTransport() {
        prefetch(wsRef)
        prefetch(connectionRef)
    }

    func beginBurst() {
        if !isClosed { connectionRef._withUnsafeGuaranteedRef { $0.beginBurst() } }
    }

    func endBurst() {
        if !isClosed { connectionRef._withUnsafeGuaranteedRef { $0.endBurst() } }
    }

    func close(_ code: CloseCode, reason: String) {
        guard !isClosed else { return }
        ws.close(code, reason: reason)
    }

    /// Sends an event to one subscription, now or later: `maxRate` pacing and a full outgoing
    /// queue keep only the newest event of a price/prediction channel. Portfolio events are
    /// never conflated: past twice the bound the connection is closed instead (4008), so the
    /// client reconnects and recovers rather than silently missing one.
    func deliver(_ event: Event, to s: Subscription, now: Millis) {
        guard !isClosed, event.seq > s.lastSeq else { return }
        if s.isHeld {
            if s.heldEvents.count >= Subscription.maxHeldEvents { s.heldEvents.removeFirst() }
            s.heldEvents.append(event)
            return
        }
        if s.minInterval > 0 && now < s.nextAllowed {
            s.pendingEvent = event
            hub.markPending(s)
            return
        }
        let queued = queuedBytes
        let bound = outgoingBound
        if queued > bound {
            if overBoundSince == nil {
                overBoundSince = now
                hub.watchOverBound(self)
            }
            if event.channel.kind.isConflatable {
                s.pendingEvent = event
                hub.markPending(s)
                return
            }
            if queued > 2 * bound {
                slowConsumer("outgoing queue over twice its bound with a private event to deliver")
                return
            }
        }
        send(event, to: s, now: now)
    }

    private func send(_ event: Event, to s: Subscription, now: Millis) {
        let plain = wsRef._withUnsafeGuaranteedRef { ws in
            guard ws.sharedCompressionKey == nil else { return false }
            // The common case, without the hub's cache. Borrowed: inside the hub's burst the
            // event is held by the hub's batch until the burst ends.
            ws.send(borrowedFrame: Unmanaged.passUnretained(event.frame))
            return true
        }
        if !plain {
            ws.send(sharedFrame: hub.frame(for: event, to: ws))
        }
        s.lastSeq = event.seq
        s.pendingEvent = nil
        if s.minInterval > 0 { s.nextAllowed = now + s.minInterval }
        noteQueued()
    }

    /// The hub retries a conflated event.
    func sendPending(_ s: Subscription, now: Millis) -> PendingOutcome {
        guard !isClosed, subscriptions[s.channel.name] === s, let event = s.pendingEvent, event.seq > s.lastSeq else {
            s.pendingEvent = nil
            return .done
        }
        if s.minInterval > 0 && now < s.nextAllowed { return .waitUntil(s.nextAllowed) }
        if queuedBytes > outgoingBound { return .waitForDrain }
        send(event, to: s, now: now)
        return .done
    }

    /// The hub's periodic look at a session over its bound: true while it should keep watching.
    func checkOutgoingBound(now: Millis) -> Bool {
        guard !isClosed, let since = overBoundSince else { return false }
        if queuedBytes <= outgoingBound {
            overBoundSince = nil
            return false
        }
        if now &- since >= context.configuration.slowConsumerGrace {
            slowConsumer("over its outgoing bound for \(now &- since) ms")
            return false
        }
        return true
    }

    private func slowConsumer(_ why: String) {
        logger.info("slow consumer: closing", [("conn", connectionID), ("why", why), ("queued", String(queuedBytes))])
        overBoundSince = nil
        // Its backlog goes: the client recovers what it missed with `since` after reconnecting,
        // and sees the 4008 now rather than after megabytes it was too slow to read.
        guard !isClosed else { return }
        ws.close(.slowConsumer, reason: "slow consumer", discardingQueued: true)
    }

    // MARK: Subscriptions

    func subscription(_ channel: String) -> Subscription? { subscriptions[channel] }

    var subscriptionCount: Int { subscriptions.count }

    /// Registers a subscription on the hub at once (so no live event is missed) but holds its
    /// delivery until `start`, which the subscribe call runs once its answer is queued.
    func addSubscription(_ channel: ChannelName, minInterval: Millis) -> Subscription {
        let s = Subscription(session: self, channel: channel, minInterval: minInterval)
        subscriptions[channel.name] = s
        hub.add(s)
        return s
    }

    /// The log answered: events up to the answered seq are covered by the answer (and replay).
    /// A subscription that ended while the log was asked gives its count back.
    func granted(_ s: Subscription, _ grant: ChannelGrant) {
        s.isGranted = true
        s.lastSeq = grant.seq
        s.startSeq = grant.seq
        if isClosed || subscriptions[s.channel.name] !== s {
            context.broker.unsubscribe([s.channel], hub: hub.index, now: now)
        }
    }

    /// The log refused (the fan-out join is already undone).
    func abandon(_ s: Subscription) {
        hub.remove(s)
        s.heldEvents = []
        if subscriptions[s.channel.name] === s { subscriptions[s.channel.name] = nil }
    }

    /// Sends the replay (never paced or conflated: the client asked to catch up), then the live
    /// events that arrived meanwhile, and lets live delivery flow. Does nothing when `s` was
    /// unsubscribed in the meantime (the same batch) or the connection closed.
    func start(_ s: Subscription, replay: [Event]) {
        guard !isClosed, subscriptions[s.channel.name] === s, s.isHeld else { return }
        s.isHeld = false
        let t = now
        let answered = s.lastSeq
        // Replayed events are older than the answered seq; `send` would raise lastSeq past
        // them in order, so lower it to the first one.
        if let first = replay.first, first.seq <= answered { s.lastSeq = first.seq - 1 }
        for event in replay where event.seq > s.lastSeq { send(event, to: s, now: t) }
        s.lastSeq = max(s.lastSeq, answered)
        let held = s.heldEvents
        s.heldEvents = []
        for event in held { deliver(event, to: s, now: t) }
    }

    /// Ends a subscription (started or held); false when there was none.
    func stopSubscription(_ channel: String) -> Bool {
        guard let s = subscriptions.removeValue(forKey: channel) else { return false }
        leave([s])
        return true
    }

    public func webSocketDidClose(_ ws: WebSocketConnection, code: CloseCode) {
        isClosed = true
        let subs = Array(subscriptions.values)
        subscriptions = [:]
        leave(subs)
    }

    /// Takes subscriptions off the hub and the broker (one lock for all of them). One still
    /// waiting for the log's answer gives its count back when the answer comes (`granted`).
    private func leave(_ subs: [Subscription]) {
        for s in subs {
            hub.remove(s)
            s.pendingEvent = nil
            s.heldEvents = []
        }
        context.broker.unsubscribe(subs.filter(\.isGranted).map(\.channel), hub: hub.index, now: now)
    }
}

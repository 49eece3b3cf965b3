import JSON
import Log
import Reactor
import Server
import WebSocketProtocol

/// One /ws connection of the gateway: who it is (its role), its subscriptions and the delivery
/// of their events — `maxRate` pacing, conflation over the outgoing bound and the slow-consumer
/// close (4008), decided by `DeliveryDecision`. Messages from the client go to its
/// `RPCDispatcher`. Lives on its connection's loop thread.
final class GatewaySession: WebSocketApplication {
    /// Owner: the connection, which owns this session (as its application) and keeps it until
    /// after `webSocketDidClose`; every use below is behind `isClosed`.
    private let ws: Unretained<WebSocketConnection>
    /// Owner: the loop's slab, which reaps the connection only after `webSocketDidClose`.
    private let connection: Unretained<Connection>
    /// Owner: the server, whose loops outlive every connection on them.
    private let loop: Unretained<EventLoop>
    let context: GatewayContext
    let hub: LoopHub
    private(set) var role: Role
    /// The access token's session and expiry, for a user authenticated with one.
    private(set) var grant: AccessGrant?
    /// `auth.expiring` and the 4001 close of `grant` (cancelled when it changes).
    private var expiryTimers: [LoopTimer] = []
    /// `X-Forwarded-For` of the upgrade request (login limits behind a trusted proxy).
    let forwardedFor: [String]
    private(set) var isClosed = false
    private var dispatcher: RPCDispatcher

    /// Channel name → subscription.
    private(set) var subscriptions: [String: Subscription] = [:]
    /// When the outgoing queue went over its bound (nil while under it).
    private var overBoundSince: Millis?
    var inOverBoundList = false
    /// Copied out of the configuration: read per delivery, and reading a field through the
    /// struct would retain and release its arrays each time.
    private let outgoingBound: Int

    init(ws: WebSocketConnection, context: GatewayContext, hub: LoopHub, role: Role, grant: AccessGrant? = nil,
         forwardedFor: [String] = []) {
        self.ws = Unretained(ws)
        self.connection = Unretained(ws.connection)
        self.loop = Unretained(ws.connection.loop)
        self.context = context
        self.hub = hub
        self.role = role
        self.grant = grant
        self.forwardedFor = forwardedFor
        self.outgoingBound = context.configuration.outgoingBound
        self.dispatcher = RPCDispatcher(role: role, configuration: context.configuration, now: ws.connection.loop.now)
        if case .user(let id) = role { context.sessions.enter(self, user: id, session: grant?.sessionId, loop: hub.index) }
        scheduleExpiry()
    }

    /// The TCP peer's address without the port (a syscall: asked by login, not per message).
    var peerAddress: String {
        guard !isClosed else { return "?" }
        let d = connection.with { $0.peerDescription }
        if d.hasPrefix("["), let end = d.firstIndex(of: "]") { return String(d[d.index(after: d.startIndex)..<end]) }
        if let colon = d.lastIndex(of: ":") { return String(d[..<colon]) }
        return d
    }

    var now: Millis { loop.with { $0.now } }
    /// The loop this session lives on (deferred answers come back through it).
    var eventLoop: EventLoop { loop.object }
    var logger: Logger { context.logger }
    var connectionID: String { isClosed ? "-" : connection.object.id.description }

    func assertInLoop() { loop.with { $0.assertInLoop() } }

    /// Bytes queued to this client and not yet taken by the kernel.
    var queuedBytes: Int { isClosed ? 0 : connection.with { $0.queuedBytes } }

    // MARK: Receiving

    /// Open and not closing: worth reading requests from.
    var isActive: Bool { !isClosed && ws.with { $0.isOpen } }

    func webSocket(_ ws: WebSocketConnection, didReceive opcode: Opcode, payload: UnsafeRawBufferPointer) {
        guard isActive else { return }
        guard opcode == .text else {
            ws.close(.unsupportedData, reason: "binary messages are not supported on /ws")
            return
        }
        dispatcher.receive(payload, for: self)
    }

    // MARK: Identity

    /// Log in, log out, another user: the registry follows, and subscriptions the new identity
    /// may not hold end with an `unsubscribed` notification (contract 2a): the earlier user's
    /// `portfolio:` channels, and market channels when they need a login and there is none now.
    /// A new access token of the same user (`auth.authenticate`, `auth.refresh`) only moves the
    /// grant: subscriptions stay, the expiry schedule restarts from the new `exp`.
    func changeIdentity(to newRole: Role, grant newGrant: AccessGrant? = nil) {
        guard !isClosed else { return }
        let old = role
        if case .user(let id) = old { context.sessions.leave(self, user: id, session: grant?.sessionId, loop: hub.index) }
        role = newRole
        grant = newGrant
        if case .user(let id) = newRole { context.sessions.enter(self, user: id, session: newGrant?.sessionId, loop: hub.index) }
        scheduleExpiry()
        guard newRole != old else { return }
        let reason = newRole == .anonymous ? "logged_out" : "identity_changed"
        let marketNeedsLogin = context.configuration.requireLoginForMarket && newRole == .anonymous
        let ending = subscriptions.values.filter { s in
            s.channel.kind == .portfolio ? old != .anonymous : marketNeedsLogin
        }.map(\.channel).sorted { $0.name < $1.name }
        for channel in ending { endSubscription(channel.name, reason: reason) }
    }

    /// Contract 2a: `auth.expiring` 60 s before `exp` (at once when less is left), then the
    /// close with 4001 at `exp` unless a new token came first.
    private func scheduleExpiry() {
        for t in expiryTimers { t.cancel() }
        expiryTimers = []
        guard let g = grant, !isClosed else { return }
        let left = max(0, g.expiresAt - Clock.wallMillis())
        let expiresAt = g.expiresAt
        expiryTimers = loop.with { loop in
            [loop.schedule(after: Millis(max(0, left - 60_000))) { [weak self] in
                self?.notify("auth.expiring", ["expiresAt": .number(JSONNumber(Int(expiresAt)))])
            },
             loop.schedule(after: Millis(left)) { [weak self] in
                guard let self, !self.isClosed else { return }
                self.logger.info("access token expired: closing", [("conn", self.connectionID)])
                self.close(.tokenExpired, reason: "token_expired")
            }]
        }
    }

    // MARK: Sending

    /// Queues a reply (they count toward the outgoing bound like events).
    func sendReply(_ bytes: [UInt8]) {
        guard !isClosed else { return }
        ws.with { ws in bytes.withUnsafeBytes { ws.send(.text, $0) } }
        noteQueued()
    }

    /// `{"jsonrpc":"2.0","method":M,"params":P}` to this client.
    func notify(_ method: String, _ params: JSONValue) {
        var w = JSONWriter(reservingCapacity: 96)
        w.writeRaw("{\"jsonrpc\":\"2.0\",\"method\":")
        w.writeString(method)
        w.writeRaw(",\"params\":")
        w.write(params)
        w.writeRaw("}")
        sendReply(w.bytes)
    }

    /// A derived notification (a valuation): dropped while the connection is over its
    /// outgoing bound, where the next one will carry the newer state anyway.
    func sendDerived(_ frame: [UInt8]) {
        guard !isClosed, overBoundSince == nil, queuedBytes <= outgoingBound else { return }
        sendReply(frame)
    }

    private func noteQueued() {
        if overBoundSince == nil && queuedBytes > outgoingBound { startOverBoundClock(now) }
    }

    private func startOverBoundClock(_ now: Millis) {
        overBoundSince = now
        hub.watchOverBound(self)
    }

    /// Fan-out is about to reach this session: start loading its socket's objects.
    @inline(__always)
    func prefetchTransport() {
        ws.prefetch()
        connection.prefetch()
    }

    /// Fan-out to this session: its events of the pass are written at `endBurst`
    /// (see `Connection.beginBurst`).
    func beginBurst() {
        if !isClosed { connection.with { $0.beginBurst() } }
    }

    func endBurst() {
        if !isClosed { connection.with { $0.endBurst() } }
    }

    func close(_ code: CloseCode, reason: String) {
        guard !isClosed else { return }
        ws.with { $0.close(code, reason: reason) }
    }

    /// Sends an event to one subscription, now or later, as `DeliveryDecision` says.
    @inline(__always)
    func deliver(_ event: Event, to s: Subscription, now: Millis) {
        let action = DeliveryDecision.decide(
            seq: event.seq, lastSeq: s.lastSeq, closed: isClosed, held: s.isHeld,
            minInterval: s.minInterval, nextAllowed: s.nextAllowed, now: now,
            queued: isClosed ? 0 : connection.with { $0.queuedBytes }, bound: outgoingBound,
            conflatable: event.channel.kind.isConflatable)
        if action.overBound && overBoundSince == nil { startOverBoundClock(now) }
        switch action {
        case .send, .sendOverBound:
            send(event, to: s, now: now)
        case .pace, .conflate:
            s.pendingEvent = event
            hub.markPending(s)
        case .hold:
            if s.heldEvents.count >= Subscription.maxHeldEvents { s.heldEvents.removeFirst() }
            s.heldEvents.append(event)
        case .closeSlowConsumer:
            slowConsumer("outgoing queue over twice its bound with a private event to deliver")
        case .drop:
            break
        }
    }

    private func send(_ event: Event, to s: Subscription, now: Millis) {
        let plain = ws.with { ws in
            guard ws.sharedCompressionKey == nil else { return false }
            // The common case, without the hub's cache. Borrowed: inside the hub's burst the
            // event is held by the hub's batch until the burst ends.
            ws.send(borrowedFrame: Unretained(event.frame))
            return true
        }
        if !plain {
            ws.with { $0.send(sharedFrame: hub.frame(for: event, to: $0)) }
        }
        s.lastSeq = event.seq
        s.pendingEvent = nil
        if s.minInterval > 0 { s.nextAllowed = now + s.minInterval }
        noteQueued()
    }

    /// The hub retries a conflated event: the same decision, for an event already kept.
    func sendPending(_ s: Subscription, now: Millis) -> PendingOutcome {
        guard subscriptions[s.channel.name] === s, let event = s.pendingEvent else {
            s.pendingEvent = nil
            return .done
        }
        let action = DeliveryDecision.decide(
            seq: event.seq, lastSeq: s.lastSeq, closed: isClosed, held: false,
            minInterval: s.minInterval, nextAllowed: s.nextAllowed, now: now,
            queued: queuedBytes, bound: outgoingBound, conflatable: true)
        switch action {
        case .pace: return .waitUntil(s.nextAllowed)
        case .conflate: return .waitForDrain
        case .send, .sendOverBound:
            send(event, to: s, now: now)
            return .done
        case .drop, .hold, .closeSlowConsumer:
            s.pendingEvent = nil
            return .done
        }
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
        ws.with { $0.close(.slowConsumer, reason: "slow consumer", discardingQueued: true) }
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
        s.epoch = grant.epoch
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
        for event in held {
            // Held across an epoch change the answer already reflects: only the new epoch's
            // events (and resyncs past the answer) count.
            if event.isResync {
                resync(event, to: s, now: t)
            } else if event.position.epoch == s.epoch {
                deliver(event, to: s, now: t)
            }
        }
    }

    /// A `resync` (contract 2d): the subscription goes on after its position; one the answer
    /// already covers is dropped. Held subscriptions keep it, in order, for `start`.
    func resync(_ event: Event, to s: Subscription, now: Millis) {
        guard !isClosed else { return }
        if s.isHeld {
            if s.heldEvents.count >= Subscription.maxHeldEvents { s.heldEvents.removeFirst() }
            s.heldEvents.append(event)
            return
        }
        if event.position.epoch == s.epoch && event.seq <= s.lastSeq { return }
        s.epoch = event.position.epoch
        s.lastSeq = event.seq
        s.pendingEvent = nil
        ws.with { $0.send(sharedFrame: event.frame) }
        noteQueued()
    }

    /// Ends a subscription (started or held); false when there was none.
    /// The server ends a subscription (`unsubscribed` with `reason`).
    func endSubscription(_ channel: String, reason: String) {
        guard stopSubscription(channel) else { return }
        notify("unsubscribed", .object(JSONObject([("channel", .string(channel)), ("reason", .string(reason))])))
    }

    func stopSubscription(_ channel: String) -> Bool {
        guard let s = subscriptions.removeValue(forKey: channel) else { return false }
        leave([s])
        return true
    }

    func webSocketDidClose(_ ws: WebSocketConnection, code: CloseCode) {
        isClosed = true
        for t in expiryTimers { t.cancel() }
        expiryTimers = []
        if case .user(let id) = role { context.sessions.leave(self, user: id, session: grant?.sessionId, loop: hub.index) }
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

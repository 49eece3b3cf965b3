import Reactor
import Server
import WebSocketProtocol
import Synchronization

/// One event loop's side of the broker: which of its sessions subscribe to what, and the
/// events other threads handed it. Everything but the inbox is touched only on the loop's
/// thread. Once per loop pass (before output is flushed) the hub delivers the inbox, sends
/// conflated events that are due, and watches sessions over their outgoing bound; so every
/// subscriber's events of one pass leave in one `sendmsg`.
// @unchecked: only `inbox` (a Mutex) is touched off the loop's thread; `loop` is set before it starts.
final class LoopHub: @unchecked Sendable {
    let index: Int
    /// Set by `Gateway.attach` before the loop's thread starts; read-only afterwards.
    private(set) var loop: EventLoop?
    private let inbox = Mutex<Inbox>(Inbox())

    private struct Inbox {
        var events: [Event] = []
        var wakeScheduled = false
    }

    /// Channel name → its subscriptions on this loop (unordered; removal swaps with the last).
    private var subscribers: [String: [Subscription]] = [:]
    /// Subscriptions holding a conflated event (maxRate pacing or a full outgoing queue).
    /// Each with its session held strongly: a pending entry may outlive the session's close
    /// by a pass (see `Subscription.session`).
    private var pending: [(subscription: Subscription, session: GatewaySession)] = []
    /// Sessions over their outgoing bound: closed with 4008 if they stay over too long.
    private var overBound: [GatewaySession] = []
    /// Scratch array reused each pass, so delivery allocates nothing.
    private var batch: [Event] = []
    /// Compressed copies made this pass: (event, window bits) → frame, or nil when compressing
    /// did not pay. One deflate per event per window size per loop, not per subscriber.
    private var compressed: [(event: Event, key: Int, frame: ByteChunk?)] = []
    /// Hub 0 trims the log's expired history and quiet channels every `trimInterval`.
    private weak var log: (any ChannelLog)?
    private var nextTrim: Millis = 0

    init(index: Int) {
        self.index = index
    }

    /// The log this hub trims now and then (hub 0 only).
    func trims(_ log: any ChannelLog) {
        self.log = log
    }

    func bind(_ loop: EventLoop) {
        self.loop = loop
        loop.addBeforeFlushHook { [unowned self] in self.runPass() }
    }

    // MARK: Any thread

    /// Hands an event to this loop (called by the fan-out, in seq order per channel).
    func enqueue(_ event: Event) {
        let wake = inbox.withLock { box -> Bool in
            box.events.append(event)
            if box.wakeScheduled { return false }
            box.wakeScheduled = true
            return true
        }
        // From its own thread the pass's hook picks it up; from elsewhere the loop must wake.
        if wake, let loop, !loop.inLoopThread {
            loop.execute { [unowned self] in self.deliverInbox() }
        }
    }

    /// Ends every subscription to `channel` on this loop, after the events already handed to
    /// it (a deleted portfolio: its last event, then `unsubscribed`). Any thread.
    func endSubscriptions(_ channel: ChannelName, reason: String) {
        loop?.execute { [unowned self] in
            deliverInbox()
            for s in subscribers[channel.name] ?? [] { s.session.object.endSubscription(channel.name, reason: reason) }
        }
    }

    /// Sends a derived notification (not a channel event: no seq, no history) to every
    /// subscriber of `channel` on this loop; a session over its outgoing bound skips it. Any thread.
    func notifySubscribers(_ channel: ChannelName, frame: [UInt8]) {
        loop?.execute { [unowned self] in
            for s in subscribers[channel.name] ?? [] { s.session.object.sendDerived(frame) }
        }
    }

    /// Seqs waiting in the inbox (tests).
    var inboxSeqs: [UInt64] { inbox.withLock { $0.events.map(\.seq) } }

    // MARK: Loop thread

    func add(_ s: Subscription) {
        s.indexInChannel = subscribers[s.channel.name, default: []].count
        subscribers[s.channel.name, default: []].append(s)
    }

    func remove(_ s: Subscription) {
        // -1: removed already (a second removal, e.g. a subscribe refused after an unsubscribe).
        guard s.indexInChannel >= 0, var list = subscribers[s.channel.name], s.indexInChannel < list.count,
              list[s.indexInChannel] === s else { return }
        let i = s.indexInChannel
        let last = list.removeLast()
        if i < list.count {
            list[i] = last
            last.indexInChannel = i
        }
        subscribers[s.channel.name] = list.isEmpty ? nil : list
        s.indexInChannel = -1
    }

    func markPending(_ s: Subscription) {
        guard !s.inPendingList else { return }
        s.inPendingList = true
        pending.append((s, s.session.object))
    }

    func watchOverBound(_ session: GatewaySession) {
        guard !session.inOverBoundList else { return }
        session.inOverBoundList = true
        overBound.append(session)
    }

    /// The frame to send `event` to `ws`: compressed once per loop pass for every connection
    /// that agreed to no server context takeover with the same window, else the plain frame.
    func frame(for event: Event, to ws: WebSocketConnection) -> ByteChunk {
        guard let key = ws.sharedCompressionKey, event.payload.count >= ws.compressionMinSize else { return event.frame }
        if let hit = compressed.first(where: { $0.event === event && $0.key == key }) { return hit.frame ?? event.frame }
        let made = ws.makeSharedCompressedFrame(.text, event.payload)
        if compressed.count >= 64 { compressed.removeFirst(32) }
        compressed.append((event, key, made))
        return made ?? event.frame
    }

    private func runPass() {
        defer { if !compressed.isEmpty { compressed.removeAll(keepingCapacity: true) } }
        if let log, let now = loop?.now, now >= nextTrim {
            nextTrim = now + log.trimInterval
            log.trim(now: now)
        }
        deliverInbox()
        if !pending.isEmpty { sendDuePending() }
        if !overBound.isEmpty { checkOverBound() }
    }

    /// Subscriber-major, like uWS's cork/uncork: each subscriber gets all of this pass's
    /// events of a channel queued and written in one go, while its connection is in cache.
    private func deliverInbox() {
        inbox.withLock { box in
            swap(&batch, &box.events)
            box.wakeScheduled = false
        }
        guard !batch.isEmpty, let now = loop?.now else { return }
        if batch.count == 1 || batch.allSatisfy({ $0.channel.name == batch[0].channel.name }) {
            deliver(batch[...], now: now)
        } else {
            // Several channels: group by channel in one pass (each keeps its order), then
            // deliver channel by channel.
            var index: [String: Int] = [:]
            var groups: [[Event]] = []
            for e in batch {
                if let i = index[e.channel.name] {
                    groups[i].append(e)
                } else {
                    index[e.channel.name] = groups.count
                    groups.append([e])
                }
            }
            for g in groups { deliver(g[...], now: now) }
        }
        batch.removeAll(keepingCapacity: true)
    }

    /// Events of one channel, in seq order.
    private func deliver(_ events: ArraySlice<Event>, now: Millis) {
        guard let first = events.first, let subs = subscribers[first.channel.name] else { return }
        // A resync among them (rare: replicas repairing a hole): one at a time, in order.
        if events.contains(where: \.isResync) {
            for e in events {
                if e.isResync {
                    for s in subscribers[first.channel.name] ?? [] { s.session.object.resync(e, to: s, now: now) }
                } else {
                    deliver([e][...], now: now)
                }
            }
            return
        }
        // `subs` and `events` keep every element alive for the loop, and every event's frame
        // until each burst ends (the sessions borrow it): read them without counting.
        // `Unretained.with` keeps the compiler from retaining and releasing each reference
        // around every call: about a sixth of the CPU at 1M deliveries/s (perf).
        subs.withUnsafeBufferPointer { list in
            events.withUnsafeBufferPointer { evs in
                let n = list.count
                for i in 0..<n {
                    // Many channels means cold subscribers: load the next ones while this one's
                    // socket write runs (subscription 3 ahead, its session 2 ahead, the
                    // session's connection 1 ahead; each was prefetched the step before).
                    // Owners: `subs` (the subscriptions) and `events` (the events), for the loop.
                    if i + 3 < n { Unretained(list[i + 3]).prefetch() }
                    if i + 2 < n { list[i + 2].session.prefetch() }
                    if i + 1 < n { list[i + 1].session.with { $0.prefetchTransport() } }
                    Unretained(list[i]).with { s in
                        s.session.with { session in
                            session.beginBurst()
                            for j in evs.indices {
                                Unretained(evs[j]).with { e in session.deliver(e, to: s, now: now) }
                            }
                            session.endBurst()
                        }
                    }
                }
            }
        }
    }

    private func sendDuePending() {
        guard let loop else { return }
        let now = loop.now
        var keep: [(subscription: Subscription, session: GatewaySession)] = []
        for entry in pending {
            let s = entry.subscription
            switch entry.session.sendPending(s, now: now) {
            case .done:
                s.inPendingList = false
            case .waitUntil(let t):
                loop.wake(at: t)
                keep.append(entry)
            case .waitForDrain:
                keep.append(entry)
            }
        }
        pending = keep
    }

    private func checkOverBound() {
        guard let now = loop?.now else { return }
        overBound.removeAll { session in
            if session.checkOutgoingBound(now: now) { return false }
            session.inOverBoundList = false
            return true
        }
    }
}

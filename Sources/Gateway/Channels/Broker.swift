import JSON
import Log
import Reactor
import Synchronization

/// A consumer of every event published through this gateway (price bars, valuations), called on
/// the publisher's thread right after the log positioned the events, in their order.
public typealias EventTap = @Sendable ([Event]) -> Void

/// The gateway's channels as methods and HTTP see them: the one publish path (socket and HTTP
/// both call `publish`), subscribing (join the fan-out, then ask the log), latest events, and
/// taps on published events. Which log holds positions and history is behind `ChannelLog`.
public final class Broker: Sendable {
    public let log: any ChannelLog
    let fanOut: FanOut
    private let taps = Mutex<[EventTap]>([])
    /// Read on every publish without the lock: nothing is done when no tap is registered.
    private let hasTaps = Atomic<Bool>(false)

    init(log: any ChannelLog, fanOut: FanOut) {
        self.log = log
        self.fanOut = fanOut
        fanOut.hubs.first?.trims(log)
    }

    /// The in-process log over these hubs.
    convenience init(settings: ChannelLogSettings, hubs: [LoopHub], logger: Logger? = nil) {
        let fanOut = FanOut(hubs: hubs)
        self.init(log: LocalChannelLog(settings: settings, fanOut: fanOut, logger: logger), fanOut: fanOut)
    }

    // MARK: Publishing

    /// Publishes every item (already validated), in order, all or none (see `PublishOutcome`
    /// for a shared log losing its server mid-batch), and completes on `loop` (inline with the
    /// in-process log). Taps see only the events made (not repeats of an idempotency key).
    public func publish(_ items: [PublishItem], now: Millis, on loop: EventLoop?,
                        _ done: @escaping (Result<PublishOutcome, ChannelLogError>) -> Void) {
        log.publish(items, now: now, on: loop) { [self] result in
            if case .success(let outcome) = result, !outcome.events.isEmpty, hasTaps.load(ordering: .acquiring) {
                for tap in taps.withLock({ $0 }) { tap(outcome.events) }
            }
            done(result)
        }
    }

    /// Registers a consumer of every published event (modules do, at start-up).
    public func addTap(_ tap: @escaping EventTap) {
        taps.withLock { $0.append(tap) }
        hasTaps.store(true, ordering: .releasing)
    }

    // MARK: Subscribing

    /// Joins the fan-out for `hub`, then asks the log for the position and replay; on a refusal
    /// the join is undone. The caller's subscription must be on the hub before this is called
    /// (events may reach the hub before the log answers).
    func subscribe(_ channel: ChannelName, hub: Int, since: StreamPosition?, snapshot: Bool, now: Millis, on loop: EventLoop?,
                   _ done: @escaping (Result<ChannelGrant, ChannelLogError>) -> Void) {
        fanOut.join(channel, hub: hub)
        log.subscribe(channel, since: since, snapshot: snapshot, now: now, on: loop) { [fanOut] result in
            if case .failure = result { fanOut.leave([channel], hub: hub) }
            done(result)
        }
    }

    /// Undoes `subscribe` for each channel. The log first: once the fan-out counts no
    /// subscriber, the log has counted the departure too.
    func unsubscribe(_ channels: [ChannelName], hub: Int, now: Millis) {
        guard !channels.isEmpty else { return }
        log.unsubscribe(channels, now: now)
        fanOut.leave(channels, hub: hub)
    }

    /// The channel's current position (a re-subscribe's answer).
    func position(_ channel: ChannelName, on loop: EventLoop?, _ done: @escaping (Result<StreamPosition?, ChannelLogError>) -> Void) {
        log.position(channel, on: loop, done)
    }

    /// The newest event of each channel (whatever its age), for `*.latest`.
    public func latest(_ channels: [ChannelName], on loop: EventLoop?, _ done: @escaping (Result<[Event?], ChannelLogError>) -> Void) {
        log.latest(channels, on: loop, done)
    }

    /// Ends every subscription to `channel` in this process, after the events published to it
    /// so far: each subscriber gets `unsubscribed` with `reason` (a deleted portfolio).
    public func endSubscriptions(_ channel: ChannelName, reason: String) {
        for hub in fanOut.hubs { hub.endSubscriptions(channel, reason: reason) }
    }

    /// `{"jsonrpc":"2.0","method":M,"params":P}` to every subscriber of `channel` in this
    /// process, outside the channel's stream (derived state such as valuations).
    public func notifySubscribers(_ channel: ChannelName, method: String, params: JSONValue) {
        var w = JSONWriter(reservingCapacity: 256)
        w.writeRaw("{\"jsonrpc\":\"2.0\",\"method\":")
        w.writeString(method)
        w.writeRaw(",\"params\":")
        w.write(params)
        w.writeRaw("}")
        let frame = w.bytes
        for hub in fanOut.hubs where fanOut.hasSubscribers(channel, hub: hub.index) { hub.notifySubscribers(channel, frame: frame) }
    }

    // MARK: Signals between replicas

    /// Tells every replica (through each reachable Redis server) that something of `topic`
    /// happened (revocations: look at the store now rather than at the next poll). Nothing
    /// without Redis: a single node knows already.
    public func signal(_ topic: String) {
        (log as? RedisChannelLog)?.signal(topic)
    }

    /// Runs `handler` (on a thread of the log's) whenever a replica signals `topic`, this one
    /// included. Register at start-up.
    public func onSignal(_ topic: String, _ handler: @escaping @Sendable () -> Void) {
        (log as? RedisChannelLog)?.onSignal(topic, handler)
    }

    // MARK: Metrics, tests

    /// Channels the log holds.
    public var channelCount: Int { log.channelCount }

    /// Subscribers of a channel on this process's loops.
    public func subscriberCount(_ channel: ChannelName) -> Int { fanOut.subscriberCount(channel) }
}

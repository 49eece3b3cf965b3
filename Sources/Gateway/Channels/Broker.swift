import JSON
import Reactor
import Synchronization

/// The in-process broker: every channel's stream position, bounded history and latest event,
/// shared by all event loops. A publish assigns the next seq, frames the event once and hands it
/// to the hub of each loop that has subscribers of the channel; the hubs deliver it.
///
/// One lock guards all channels: the work under it is an append and a few pointer pushes, and
/// fan-out (the expensive part, one queue append per subscriber) happens on the loops outside it.
/// Lock order: broker, then a hub's inbox; never the other way.
public final class Broker: Sendable {
    public struct Settings: Sendable {
        /// Events kept per channel for `since` recovery.
        public var historySize = 1_000
        /// Events older than this (ms) are not replayed.
        public var historyTTL: Millis = 300_000
        /// Channels the broker holds at most (a publisher cannot grow memory without bound).
        public var maxChannels = 50_000

        public init() {}
    }

    public enum PublishError: Error, Equatable, Sendable {
        case tooManyChannels
    }

    let settings: Settings
    /// One per event loop, by loop index.
    let hubs: [LoopHub]
    private let state = Mutex<[String: ChannelRecord]>([:])

    init(settings: Settings, hubs: [LoopHub]) {
        self.settings = settings
        self.hubs = hubs
        hubs.first?.trims(self)
    }

    // MARK: Publishing

    /// Publishes every item, in order, all or none (none only when the channel limit would be
    /// passed). Returns each event's position.
    public func publish(_ items: [(channel: ChannelName, data: JSONValue)], now: Millis) throws(PublishError) -> [StreamPosition] {
        // Serialise outside the lock; under it only the envelope around these bytes is written.
        let encoded = items.map { $0.data.jsonBytes }
        return try state.withLock { channels throws(PublishError) -> [StreamPosition] in
            var newNames = Set<String>()
            for item in items where channels[item.channel.name] == nil { newNames.insert(item.channel.name) }
            let newChannels = newNames.count
            guard channels.count + newChannels <= settings.maxChannels else { throw .tooManyChannels }
            var positions: [StreamPosition] = []
            positions.reserveCapacity(items.count)
            for (i, item) in items.enumerated() {
                let record = channels[item.channel.name] ?? makeRecord(item.channel, in: &channels)
                record.seq += 1
                let event = Event(channel: item.channel, position: StreamPosition(epoch: record.epoch, seq: record.seq),
                                  data: item.data, dataJSON: encoded[i], publishedAt: now)
                record.append(event, settings: settings)
                for (h, count) in record.subscribersPerHub.enumerated() where count > 0 {
                    hubs[h].enqueue(event)
                }
                positions.append(event.position)
            }
            return positions
        }
    }

    private func makeRecord(_ channel: ChannelName, in channels: inout [String: ChannelRecord]) -> ChannelRecord {
        let r = ChannelRecord(epoch: Broker.newEpoch(), hubs: hubs.count)
        channels[channel.name] = r
        return r
    }

    // MARK: Subscribing

    /// What a subscriber learns before it is registered: the position to answer and whether
    /// `since` can be honoured.
    public struct Position: Sendable {
        public let epoch: String
        public let seq: UInt64
        /// nil when no `since` was given.
        public let recovered: Bool?
    }

    /// The channel's position now, and whether the events after `since` are all still held.
    /// Registers nothing (that happens once the answer is queued, in `attach`).
    public func position(_ channel: ChannelName, since: StreamPosition?, now: Millis) -> Position {
        state.withLock { channels in
            guard let r = channels[channel.name] else {
                // Never published: the channel's epoch starts now, with the first subscriber.
                let r = makeRecord(channel, in: &channels)
                return Position(epoch: r.epoch, seq: 0, recovered: since.map { _ in false })
            }
            return Position(epoch: r.epoch, seq: r.seq, recovered: since.map { r.canReplay(after: $0, now: now, ttl: settings.historyTTL) })
        }
    }

    /// Registers a subscriber on hub `hub` and returns the events it must be sent before live
    /// ones: every held event after `after` (the answered seq, or `since`). The returned
    /// `lastSeq` is the newest seq covered; live events at or below it are skipped.
    func attach(_ channel: ChannelName, hub: Int, after: UInt64, now: Millis) -> (replay: [Event], lastSeq: UInt64) {
        state.withLock { channels in
            let r = channels[channel.name] ?? makeRecord(channel, in: &channels)
            r.subscribersPerHub[hub] += 1
            return (r.events(after: after, now: now, ttl: settings.historyTTL), r.seq)
        }
    }

    /// Undoes `attach`. A channel nobody subscribes to and that never had an event is forgotten.
    func detach(_ channels: [ChannelName], hub: Int) {
        guard !channels.isEmpty else { return }
        state.withLock { table in
            for channel in channels {
                guard let r = table[channel.name] else { continue }
                r.subscribersPerHub[hub] -= 1
                if r.seq == 0 && r.subscribersPerHub.allSatisfy({ $0 == 0 }) { table[channel.name] = nil }
            }
        }
    }

    /// The newest event of a channel (whatever its age), for `prices.latest` and snapshots.
    public func latest(_ channel: ChannelName) -> Event? {
        state.withLock { $0[channel.name]?.latest }
    }

    public func latest(_ channels: [ChannelName]) -> [Event?] {
        state.withLock { table in channels.map { table[$0.name]?.latest } }
    }

    /// Drops expired history from every channel, so a channel that stopped publishing does not
    /// hold its last `historySize` events forever (its latest event stays, for `*.latest`).
    /// Called every few seconds by one loop's hub; O(channels) under the lock.
    public func trimExpiredHistory(now: Millis) {
        state.withLock { channels in
            for r in channels.values { r.trimExpired(now: now, ttl: settings.historyTTL) }
        }
    }

    /// Channels held (metrics, tests).
    public var channelCount: Int { state.withLock { $0.count } }

    /// 16 lowercase hex digits from the system's CSPRNG (getrandom): a new epoch never repeats
    /// an old one, so a client holding a position from before a restart is told to reload.
    static func newEpoch() -> String {
        var generator = SystemRandomNumberGenerator()
        let r = generator.next()
        let bytes = (0..<8).map { UInt8(truncatingIfNeeded: r >> ($0 * 8)) }
        let hex: [UInt8] = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(16)
        for b in bytes {
            out.append(hex[Int(b >> 4)])
            out.append(hex[Int(b & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// One channel's state. Only touched under the broker's lock.
final class ChannelRecord {
    let epoch: String
    var seq: UInt64 = 0
    var latest: Event?
    /// Subscribers on each loop's hub: a publish wakes only loops that have some.
    var subscribersPerHub: [Int]
    /// History ring: `history[start...]` are the held events, oldest first, seqs contiguous.
    private var history: [Event] = []
    private var start = 0

    init(epoch: String, hubs: Int) {
        self.epoch = epoch
        self.subscribersPerHub = Array(repeating: 0, count: hubs)
    }

    var heldCount: Int { history.count - start }

    func append(_ event: Event, settings: Broker.Settings) {
        latest = event
        guard settings.historySize > 0 else { return }
        history.append(event)
        if heldCount > settings.historySize { start += 1 }
        trimExpired(now: event.publishedAt, ttl: settings.historyTTL)
        // Compact now and then, so the array does not grow with the total ever published.
        if start >= 64 && start * 2 >= history.count {
            history.removeFirst(start)
            start = 0
        }
    }

    func trimExpired(now: Millis, ttl: Millis) {
        while start < history.count, now &- history[start].publishedAt > ttl { start += 1 }
        if start == history.count {
            history = []
            start = 0
        }
    }

    /// Whether every event after `since` is still held (and young enough to replay).
    func canReplay(after since: StreamPosition, now: Millis, ttl: Millis) -> Bool {
        guard since.epoch == epoch, since.seq <= seq else { return false }
        if since.seq == seq { return true }
        guard let oldest = oldestHeld(now: now, ttl: ttl) else { return false }
        return oldest.seq <= since.seq + 1
    }

    private func oldestHeld(now: Millis, ttl: Millis) -> Event? {
        var i = start
        while i < history.count, now &- history[i].publishedAt > ttl { i += 1 }
        return i < history.count ? history[i] : nil
    }

    /// Held, unexpired events with seq > `after`, oldest first.
    func events(after: UInt64, now: Millis, ttl: Millis) -> [Event] {
        guard after < seq, let oldest = oldestHeld(now: now, ttl: ttl) else { return [] }
        let from = max(after + 1, oldest.seq)
        let offset = history.count - Int(seq - from) - 1
        return Array(history[offset...])
    }
}

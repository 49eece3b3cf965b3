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
        /// Events older than this (ms) are not replayed. A channel that never had an event is
        /// kept this long after its last subscriber left, so the epoch it answered stays valid.
        public var historyTTL: Millis = 300_000
        /// The same for `portfolio:` channels: a phone away for hours still recovers.
        public var portfolioHistoryTTL: Millis = 86_400_000
        /// Channels the broker holds at most (a publisher cannot grow memory without bound).
        public var maxChannels = 50_000
        /// Memory all histories together may hold (estimated, see `Event.footprint`): count
        /// and age alone allow 50,000 channels × 1,000 events, tens of GB. Over it, every
        /// channel gives up the older half of its history until the total fits.
        public var historyBytes = 256 << 20

        public init() {}
    }

    public enum PublishError: Error, Equatable, Sendable {
        case tooManyChannels
    }

    let settings: Settings
    /// One per event loop, by loop index.
    let hubs: [LoopHub]
    private let state = Mutex<Table>(Table())

    struct Table {
        var channels: [String: ChannelRecord] = [:]
        /// Sum of every record's `heldBytes`.
        var historyBytes = 0
    }

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
        return try state.withLock { table throws(PublishError) -> [StreamPosition] in
            var newNames = Set<String>()
            for item in items where table.channels[item.channel.name] == nil { newNames.insert(item.channel.name) }
            let newChannels = newNames.count
            guard table.channels.count + newChannels <= settings.maxChannels else { throw .tooManyChannels }
            var positions: [StreamPosition] = []
            positions.reserveCapacity(items.count)
            for (i, item) in items.enumerated() {
                let record = table.channels[item.channel.name] ?? makeRecord(item.channel, in: &table.channels)
                record.seq += 1
                record.quietSince = nil
                // Callers read the clock at different moments (each loop caches its own): keep a
                // channel's publication times in order, so age checks never see one go backwards.
                record.lastPublishedAt = max(record.lastPublishedAt, now)
                let event = Event(channel: item.channel, position: StreamPosition(epoch: record.epoch, seq: record.seq),
                                  data: item.data, dataJSON: encoded[i], publishedAt: record.lastPublishedAt)
                table.historyBytes += record.append(event, settings: settings)
                for (h, count) in record.subscribersPerHub.enumerated() where count > 0 {
                    hubs[h].enqueue(event)
                }
                positions.append(event.position)
            }
            if table.historyBytes > settings.historyBytes { Broker.fitHistories(&table, budget: settings.historyBytes) }
            return positions
        }
    }

    /// Halves every channel's history (by count, oldest events first) until all of them fit
    /// `budget`. O(channels) a round; every round takes at least one event from each non-empty
    /// channel, so there are at most log2(historySize) + 1. A publish triggers it only once the
    /// total has grown back past the budget.
    static func fitHistories(_ table: inout Table, budget: Int) {
        while table.historyBytes > budget {
            var freed = 0
            for r in table.channels.values where r.heldCount > 0 {
                freed += r.dropOldest((r.heldCount + 1) / 2)
            }
            table.historyBytes -= freed
            if freed == 0 { break }
        }
    }

    private func makeRecord(_ channel: ChannelName, in channels: inout [String: ChannelRecord]) -> ChannelRecord {
        let ttl = channel.kind == .portfolio ? settings.portfolioHistoryTTL : settings.historyTTL
        let r = ChannelRecord(epoch: Broker.newEpoch(), hubs: hubs.count, ttl: ttl)
        channels[channel.name] = r
        return r
    }

    // MARK: Subscribing

    /// A subscription as the broker grants it, decided under one lock: the position to answer,
    /// whether `since` was honoured, and the held events the subscriber must get before live ones.
    public struct Grant: Sendable {
        public let epoch: String
        public let seq: UInt64
        /// nil when no `since` was given.
        public let recovered: Bool?
        /// Events to send right after the answer, oldest first: those after `since` when
        /// recovered, else the latest one when a snapshot was asked for.
        public let replay: [Event]
    }

    public enum SubscribeError: Error, Equatable, Sendable {
        case tooManyChannels
    }

    /// Registers a subscriber of `channel` on hub `hub` (the hub delivers live events from now
    /// on) and returns what to answer and replay. Deciding `recovered` and reading the replay
    /// under the same lock is what makes "recovered, then no gap" true.
    func subscribe(_ channel: ChannelName, hub: Int, since: StreamPosition?, snapshot: Bool,
                   now: Millis) throws(SubscribeError) -> Grant {
        try state.withLock { table throws(SubscribeError) -> Grant in
            let record: ChannelRecord
            if let r = table.channels[channel.name] {
                record = r
            } else {
                // Never published: the channel's epoch starts now, with its first subscriber.
                guard table.channels.count < settings.maxChannels else { throw .tooManyChannels }
                record = makeRecord(channel, in: &table.channels)
            }
            record.subscribersPerHub[hub] += 1
            record.quietSince = nil
            let ttl = record.ttl
            var recovered: Bool?
            var replay: [Event] = []
            if let since {
                let ok = record.canReplay(after: since, now: now, ttl: ttl)
                recovered = ok
                if ok { replay = record.events(after: since.seq, now: now, ttl: ttl) }
            }
            if snapshot && recovered != true, let latest = record.latest {
                replay = [latest]
            }
            return Grant(epoch: record.epoch, seq: record.seq, recovered: recovered, replay: replay)
        }
    }

    /// The channel's current position (a re-subscribe's answer); nil for an unknown channel.
    func position(_ channel: ChannelName) -> StreamPosition? {
        state.withLock { table in table.channels[channel.name].map { StreamPosition(epoch: $0.epoch, seq: $0.seq) } }
    }

    /// Undoes `subscribe`. A channel nobody subscribes to and that never had an event starts
    /// its quiet time: `trimExpiredHistory` forgets it after its retention (the epoch handed out
    /// must stay valid that long, contract §2), until then it counts toward `maxChannels`.
    func detach(_ channels: [ChannelName], hub: Int, now: Millis) {
        guard !channels.isEmpty else { return }
        state.withLock { table in
            for channel in channels {
                guard let r = table.channels[channel.name] else { continue }
                r.subscribersPerHub[hub] -= 1
                if r.seq == 0 && r.subscriberCount == 0 { r.quietSince = now }
            }
        }
    }

    /// Subscribers of a channel on all loops (metrics, tests).
    public func subscriberCount(_ channel: ChannelName) -> Int {
        state.withLock { $0.channels[channel.name]?.subscriberCount ?? 0 }
    }

    /// The newest event of a channel (whatever its age), for `prices.latest` and snapshots.
    public func latest(_ channel: ChannelName) -> Event? {
        state.withLock { $0.channels[channel.name]?.latest }
    }

    public func latest(_ channels: [ChannelName]) -> [Event?] {
        state.withLock { table in channels.map { table.channels[$0.name]?.latest } }
    }

    /// Drops expired history from every channel, so a channel that stopped publishing does not
    /// hold its last `historySize` events forever (its latest event stays, for `*.latest`), and
    /// forgets channels that never had an event once they have been quiet for their retention.
    /// Called every few seconds by one loop's hub; O(channels) under the lock.
    public func trimExpiredHistory(now: Millis) {
        state.withLock { table in
            var freed = 0
            var forget: [String] = []
            for (name, r) in table.channels {
                freed += r.trimExpired(now: now, ttl: r.ttl)
                if let quiet = r.quietSince, now &- quiet > r.ttl { forget.append(name) }
            }
            for name in forget { table.channels[name] = nil }
            table.historyBytes -= freed
        }
    }

    /// How often the hub calls `trimExpiredHistory`: a short history age (tests) trims sooner.
    var trimInterval: Millis { min(10_000, max(50, settings.historyTTL / 2)) }

    /// Channels held (metrics, tests).
    public var channelCount: Int { state.withLock { $0.channels.count } }

    /// Estimated bytes held by all histories (metrics, tests).
    public var historyBytes: Int { state.withLock { $0.historyBytes } }

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
    /// History age, and how long the channel is kept quiet (never published, no subscriber).
    let ttl: Millis
    var seq: UInt64 = 0
    var latest: Event?
    /// When its last subscriber left while it had no event (nil otherwise).
    var quietSince: Millis?
    var lastPublishedAt: Millis = 0
    /// Subscribers on each loop's hub: a publish wakes only loops that have some.
    var subscribersPerHub: [Int]
    /// History ring: `history[start...]` are the held events, oldest first, seqs contiguous.
    /// Dropped slots are set to nil at once (the budget counts only what is really held), and
    /// the array is compacted now and then.
    private var history: [Event?] = []
    private var start = 0
    /// Sum of the held events' `footprint`.
    private(set) var heldBytes = 0

    init(epoch: String, hubs: Int, ttl: Millis) {
        self.epoch = epoch
        self.ttl = ttl
        self.subscribersPerHub = Array(repeating: 0, count: hubs)
    }

    var subscriberCount: Int { subscribersPerHub.reduce(0, +) }

    var heldCount: Int { history.count - start }

    /// Adds `event` to the history; returns the change in `heldBytes` (the event in, whatever
    /// count and age pushed out).
    func append(_ event: Event, settings: Broker.Settings) -> Int {
        latest = event
        guard settings.historySize > 0 else { return 0 }
        // An event worth more than an eighth of the whole budget would wipe every channel's
        // history: it is kept only as `latest`, and the history before it cannot be replayed
        // past it (seqs in the history stay contiguous), so it goes too.
        guard event.footprint <= settings.historyBytes / 8 else { return -dropOldest(heldCount) }
        history.append(event)
        heldBytes += event.footprint
        var delta = event.footprint
        if heldCount > settings.historySize { delta -= dropOldest(1) }
        delta -= trimExpired(now: event.publishedAt, ttl: ttl)
        return delta
    }

    /// Drops expired events; returns the bytes freed.
    func trimExpired(now: Millis, ttl: Millis) -> Int {
        var n = 0
        while start + n < history.count, let e = history[start + n], e.publishedAt &+ ttl < now { n += 1 }
        return dropOldest(n)
    }

    /// Drops the `n` oldest held events; returns the bytes freed.
    func dropOldest(_ n: Int) -> Int {
        var freed = 0
        for _ in 0..<min(n, heldCount) {
            freed += history[start]?.footprint ?? 0
            history[start] = nil
            start += 1
        }
        heldBytes -= freed
        if start == history.count {
            history = []
            start = 0
        } else if start >= 64 && start * 2 >= history.count {
            // Amortised O(1) a drop; the nil slots cost 8 bytes each meanwhile.
            history.removeFirst(start)
            start = 0
        }
        return freed
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
        while i < history.count, let e = history[i], e.publishedAt &+ ttl < now { i += 1 }
        return i < history.count ? history[i] : nil
    }

    /// Held, unexpired events with seq > `after`, oldest first.
    func events(after: UInt64, now: Millis, ttl: Millis) -> [Event] {
        guard after < seq, let oldest = oldestHeld(now: now, ttl: ttl) else { return [] }
        let from = max(after + 1, oldest.seq)
        let offset = history.count - Int(seq - from) - 1
        return history[offset...].compactMap { $0 }   // held slots are never nil
    }
}

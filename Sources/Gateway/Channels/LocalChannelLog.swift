import JSON
import Log
import Reactor
import Synchronization

/// The in-process channel log: every channel's stream position, bounded history and latest
/// event, shared by all event loops. Every call completes inline, before it returns.
///
/// One lock guards all channels: the work under it is an append and the hand-off to the fan-out
/// (a few pointer pushes); the expensive part, one queue append per subscriber, happens on the
/// loops outside it. Lock order: this log, then the fan-out, then a hub's inbox.
public final class LocalChannelLog: ChannelLog {
    let settings: ChannelLogSettings
    private let fanOut: FanOut
    private let logger: Logger?
    private let state = Mutex<Table>(Table())

    struct Table {
        var channels: [String: ChannelRecord] = [:]
        /// Sum of every record's `heldBytes`.
        var historyBytes = 0
        /// Channels that went quiet, oldest first: at the channel limit the oldest give way to a
        /// new channel (see `makeRoom`). An entry goes stale when its channel is used again;
        /// stale entries are skipped when reached and swept out by `trim`.
        var quiet: [(name: String, since: Millis)] = []
        var quietHead = 0
        /// Quiet channels given up at the limit since the last `trim` (logged there).
        var evicted = 0

        /// Whether the entry still describes a quiet channel.
        func isQuiet(_ entry: (name: String, since: Millis)) -> Bool {
            guard let r = channels[entry.name], let since = r.quietSince else { return false }
            return since == entry.since
        }
    }

    /// Makes room for `newChannels` more channels, giving up the channels that have been quiet
    /// longest (never published, no subscriber) when the table is full. Without it, a client
    /// subscribing to and leaving made-up names (each kept for the history age) would fill the
    /// table and lock everyone out of new channels; a client holding an evicted epoch gets
    /// `recovered:false` and reloads, as after any lost history. False: no room even then.
    /// `keeping`: channels the caller is about to use (a publish batch's own quiet channels must
    /// not make room for the batch: they would be made again, one over the bound each).
    private static func makeRoom(for newChannels: Int, in table: inout Table, max: Int, keeping: Set<String> = []) -> Bool {
        var kept: [(name: String, since: Millis)] = []
        while table.channels.count + newChannels > max && table.quietHead < table.quiet.count {
            let entry = table.quiet[table.quietHead]
            table.quietHead += 1
            if keeping.contains(entry.name) {
                kept.append(entry)
            } else if table.isQuiet(entry) {
                table.channels[entry.name] = nil
                table.evicted += 1
            }
        }
        table.quiet += kept   // still quiet if the caller fails: evictable later
        if table.quietHead == table.quiet.count {
            table.quiet.removeAll(keepingCapacity: true)
            table.quietHead = 0
        }
        return table.channels.count + newChannels <= max
    }

    init(settings: ChannelLogSettings, fanOut: FanOut, logger: Logger? = nil) {
        self.settings = settings
        self.fanOut = fanOut
        self.logger = logger
    }

    // MARK: ChannelLog

    public func publish(_ items: [PublishItem], now: Millis, on loop: EventLoop?,
                        _ done: @escaping (Result<PublishOutcome, ChannelLogError>) -> Void) {
        done(Result { () throws(ChannelLogError) in try publish(items, now: now) })
    }

    public func subscribe(_ channel: ChannelName, since: StreamPosition?, snapshot: Bool, now: Millis, on loop: EventLoop?,
                          _ done: @escaping (Result<ChannelGrant, ChannelLogError>) -> Void) {
        done(Result { () throws(ChannelLogError) in try subscribe(channel, since: since, snapshot: snapshot, now: now) })
    }

    public func position(_ channel: ChannelName, on loop: EventLoop?,
                         _ done: @escaping (Result<StreamPosition?, ChannelLogError>) -> Void) {
        done(.success(position(channel)))
    }

    public func latest(_ channels: [ChannelName], on loop: EventLoop?, _ done: @escaping (Result<[Event?], ChannelLogError>) -> Void) {
        done(.success(latest(channels)))
    }

    public func history(_ channel: ChannelName, after since: StreamPosition, now: Millis, on loop: EventLoop?,
                        _ done: @escaping (Result<[Event]?, ChannelLogError>) -> Void) {
        let events = state.withLock { table -> [Event]? in
            guard let r = table.channels[channel.name], r.canReplay(after: since, now: now, ttl: r.ttl) else { return nil }
            return r.events(after: since.seq, now: now, ttl: r.ttl)
        }
        done(.success(events))
    }

    // MARK: Synchronous forms (what the callbacks above are given; tests use them directly)

    /// Publishes every item, in order, all or none (none only when the channel limit would be
    /// passed), and hands the events to the fan-out under the lock (so each hub gets a
    /// channel's events in seq order). An item repeating an idempotency key gets the first
    /// position and makes no event.
    func publish(_ items: [PublishItem], now: Millis) throws(ChannelLogError) -> PublishOutcome {
        // Serialise outside the lock; under it only the envelope around these bytes is written.
        let encoded = items.map { $0.data.jsonBytes }
        let window = settings.idempotencyWindow
        return try state.withLock { table throws(ChannelLogError) -> PublishOutcome in
            var newNames = Set<String>()
            for item in items where table.channels[item.channel.name] == nil { newNames.insert(item.channel.name) }
            guard newNames.isEmpty || LocalChannelLog.makeRoom(for: newNames.count, in: &table, max: settings.maxChannels,
                                                               keeping: Set(items.map(\.channel.name))) else { throw .tooManyChannels }
            var events: [Event] = []
            var positions: [StreamPosition?] = []
            events.reserveCapacity(items.count)
            positions.reserveCapacity(items.count)
            for (i, item) in items.enumerated() {
                let record = table.channels[item.channel.name] ?? makeRecord(item.channel, in: &table.channels)
                if let key = item.idempotencyKey, let seq = record.keys.seq(for: key, now: now, window: window) {
                    positions.append(StreamPosition(epoch: record.epoch, seq: seq))
                    continue
                }
                record.seq += 1
                record.quietSince = nil
                // Callers read the clock at different moments (each loop caches its own): keep a
                // channel's publication times in order, so age checks never see one go backwards.
                record.lastPublishedAt = max(record.lastPublishedAt, now)
                let event = Event(channel: item.channel, position: StreamPosition(epoch: record.epoch, seq: record.seq),
                                  data: item.data, dataJSON: encoded[i], publishedAt: record.lastPublishedAt)
                if let key = item.idempotencyKey { record.keys.record(key, seq: record.seq, now: now, window: window) }
                table.historyBytes += record.append(event, settings: settings)
                events.append(event)
                positions.append(event.position)
            }
            fanOut.deliver(events)
            if table.historyBytes > settings.historyBytes { LocalChannelLog.fitHistories(&table, budget: settings.historyBytes) }
            return PublishOutcome(positions: positions, events: events)
        }
    }

    /// Deciding `recovered` and reading the replay under the same lock as publishes is what
    /// makes "recovered, then no gap" true.
    func subscribe(_ channel: ChannelName, since: StreamPosition?, snapshot: Bool, now: Millis) throws(ChannelLogError) -> ChannelGrant {
        try state.withLock { table throws(ChannelLogError) -> ChannelGrant in
            let record: ChannelRecord
            if let r = table.channels[channel.name] {
                record = r
            } else {
                // Never published: the channel's epoch starts now, with its first subscriber.
                guard LocalChannelLog.makeRoom(for: 1, in: &table, max: settings.maxChannels) else { throw .tooManyChannels }
                record = makeRecord(channel, in: &table.channels)
            }
            record.subscribers += 1
            record.quietSince = nil
            var recovered: Bool?
            var replay: [Event] = []
            if let since {
                let ok = record.canReplay(after: since, now: now, ttl: record.ttl)
                recovered = ok
                if ok { replay = record.events(after: since.seq, now: now, ttl: record.ttl) }
            }
            if snapshot && recovered != true, let latest = record.latest {
                replay = [latest]
            }
            return ChannelGrant(epoch: record.epoch, seq: record.seq, recovered: recovered, replay: replay)
        }
    }

    /// One event as recorded before a restart, for `restore`.
    public struct RecordedEvent: Sendable {
        public let seq: UInt64
        public let data: JSONValue
        /// How long ago it was published (ms): the history's age limit keeps counting from then.
        public let age: Millis

        public init(seq: UInt64, data: JSONValue, age: Millis) {
            self.seq = seq
            self.data = data
            self.age = age
        }
    }

    /// Takes a channel back at the positions recorded before a restart (the portfolio outbox):
    /// the same epoch, seq at the last event, the events replayable for `since`. Only a channel
    /// this log does not hold yet, with contiguous seqs ending at its last; false otherwise (the
    /// channel then starts afresh, as any channel after a restart, and clients reload).
    /// Not handed to the fan-out: these events were delivered before.
    @discardableResult
    public func restore(_ channel: ChannelName, epoch: String, events: [RecordedEvent], now: Millis) -> Bool {
        guard let last = events.last, !epoch.isEmpty,
              zip(events, events.dropFirst()).allSatisfy({ $0.seq + 1 == $1.seq }) else { return false }
        let encoded = events.map { $0.data.jsonBytes }
        return state.withLock { table -> Bool in
            guard table.channels[channel.name] == nil,
                  LocalChannelLog.makeRoom(for: 1, in: &table, max: settings.maxChannels) else { return false }
            let record = ChannelRecord(epoch: epoch, ttl: settings.ttl(channel.kind))
            table.channels[channel.name] = record
            for (i, e) in events.enumerated() {
                let at = now > e.age ? now - e.age : 0
                record.lastPublishedAt = max(record.lastPublishedAt, at)
                let event = Event(channel: channel, position: StreamPosition(epoch: epoch, seq: e.seq), data: e.data,
                                  dataJSON: encoded[i], publishedAt: record.lastPublishedAt)
                table.historyBytes += record.append(event, settings: settings)
            }
            record.seq = last.seq
            if table.historyBytes > settings.historyBytes { LocalChannelLog.fitHistories(&table, budget: settings.historyBytes) }
            return true
        }
    }

    /// A channel nobody subscribes to and that never had an event starts its quiet time: `trim`
    /// forgets it after its retention (the epoch handed out must stay valid that long, contract
    /// §2); until then it counts toward `maxChannels`.
    public func unsubscribe(_ channels: [ChannelName], now: Millis) {
        guard !channels.isEmpty else { return }
        state.withLock { table in
            for channel in channels {
                guard let r = table.channels[channel.name], r.subscribers > 0 else { continue }
                r.subscribers -= 1
                if r.seq == 0 && r.subscribers == 0 {
                    r.quietSince = now
                    table.quiet.append((channel.name, now))
                }
            }
            // Entries of channels used again since pile up only as fast as subscriptions
            // churn; sweep them once they outnumber the table, so the queue stays bounded.
            if table.quiet.count - table.quietHead > 2 * table.channels.count + 1024 { LocalChannelLog.sweepQuiet(&table) }
        }
    }

    func position(_ channel: ChannelName) -> StreamPosition? {
        state.withLock { table in table.channels[channel.name].map { StreamPosition(epoch: $0.epoch, seq: $0.seq) } }
    }

    /// The channel's position, the channel made (a new epoch, seq 0) when this log does not hold
    /// it; nil only when the channel table is full. For a single writer that records positions
    /// before publishing (the portfolio outbox): its next event gets (epoch, seq + 1).
    public func positionMakingChannel(_ channel: ChannelName) -> StreamPosition? {
        state.withLock { table -> StreamPosition? in
            if let r = table.channels[channel.name] { return StreamPosition(epoch: r.epoch, seq: r.seq) }
            guard LocalChannelLog.makeRoom(for: 1, in: &table, max: settings.maxChannels) else { return nil }
            let r = makeRecord(channel, in: &table.channels)
            // Not quiet: its events follow at once.
            return StreamPosition(epoch: r.epoch, seq: r.seq)
        }
    }

    func latest(_ channels: [ChannelName]) -> [Event?] {
        state.withLock { table in channels.map { table.channels[$0.name]?.latest } }
    }

    /// Drops expired history from every channel, so a channel that stopped publishing does not
    /// hold its last `historySize` events forever (its latest event stays, for `*.latest`), and
    /// forgets channels that never had an event once they have been quiet for their retention.
    /// O(channels) under the lock.
    public func trim(now: Millis) {
        let evicted = state.withLock { table -> Int in
            var freed = 0
            var forget: [String] = []
            for (name, r) in table.channels {
                freed += r.trimExpired(now: now, ttl: r.ttl)
                // Loops cache their clocks: `quietSince` may come from one a few ms ahead of ours.
                if let quiet = r.quietSince, now > quiet, now - quiet > r.ttl { forget.append(name) }
            }
            for name in forget { table.channels[name] = nil }
            table.historyBytes -= freed
            LocalChannelLog.sweepQuiet(&table)
            defer { table.evicted = 0 }
            return table.evicted
        }
        if evicted > 0, let logger {
            logger.warning("channel limit reached: quiet channels given up early", [("evicted", String(evicted)),
                                                                                   ("max_channels", String(settings.maxChannels))])
        }
    }

    /// Drops the quiet queue's stale entries (O(queue)).
    private static func sweepQuiet(_ table: inout Table) {
        let live = table.quiet[table.quietHead...].filter { table.isQuiet($0) }
        table.quiet = Array(live)
        table.quietHead = 0
    }

    /// A short history age (tests) trims sooner than every 10 s.
    public var trimInterval: Millis { min(10_000, max(50, settings.historyTTL / 2)) }

    public var channelCount: Int { state.withLock { $0.channels.count } }

    /// Entries in the quiet queue, stale ones included (tests: it stays bounded).
    var quietQueueLength: Int { state.withLock { $0.quiet.count - $0.quietHead } }

    /// Estimated bytes held by all histories (metrics, tests).
    public var historyBytes: Int { state.withLock { $0.historyBytes } }

    // MARK: Inside the lock

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
        let r = ChannelRecord(epoch: LocalChannelLog.newEpoch(), ttl: settings.ttl(channel.kind))
        channels[channel.name] = r
        return r
    }

    /// 16 lowercase hex digits from the system's CSPRNG (getrandom): a new epoch never repeats
    /// an old one, so a client holding a position from before a restart is told to reload.
    static func newEpoch() -> String {
        var generator = SystemRandomNumberGenerator()
        let r = generator.next()
        let hex: [UInt8] = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(16)
        for i in 0..<8 {
            let b = UInt8(truncatingIfNeeded: r >> (i * 8))
            out.append(hex[Int(b >> 4)])
            out.append(hex[Int(b & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

import Reactor

/// One channel's state in the in-process log. Only touched under the log's lock.
final class ChannelRecord {
    let epoch: String
    /// History age, and how long the channel is kept quiet (never published, no subscriber).
    let ttl: Millis
    var seq: UInt64 = 0
    var latest: Event?
    /// When its last subscriber left while it had no event (nil otherwise).
    var quietSince: Millis?
    var lastPublishedAt: Millis = 0
    /// Idempotency keys of publishes to this channel (lost with the channel, as 2d says).
    var keys = IdempotencyKeys()
    /// Subscribers on every loop (the fan-out knows which loops; this is for `quietSince`).
    var subscribers = 0
    /// History ring: `history[start...]` are the held events, oldest first, seqs contiguous.
    /// Dropped slots are set to nil at once (the budget counts only what is really held), and
    /// the array is compacted now and then.
    private var history: [Event?] = []
    private var start = 0
    /// Sum of the held events' `footprint`.
    private(set) var heldBytes = 0

    init(epoch: String, ttl: Millis) {
        self.epoch = epoch
        self.ttl = ttl
    }

    var heldCount: Int { history.count - start }

    /// Adds `event` to the history; returns the change in `heldBytes` (the event in, whatever
    /// count and age pushed out).
    func append(_ event: Event, settings: ChannelLogSettings) -> Int {
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

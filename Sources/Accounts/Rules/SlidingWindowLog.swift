/// Recent event times per key, for limits of the form "`limit` events within the last
/// `windowMs`". Not thread-safe: the limiters hold one inside a Mutex.
///
/// Memory is bounded twice: each key keeps at most `2 * limit` events (only the newest `limit`
/// matter; the slack absorbs logins that all passed the check before any of them failed), and
/// at most `maxKeys` keys are tracked. Expired keys are swept once per window; when the table
/// is still full, the eighth of the keys with the oldest newest event is dropped at once
/// (one sort per `maxKeys / 8` new keys, so insertion stays amortised O(log n)).
struct SlidingWindowLog<Key: Hashable> {
    struct Event {
        var time: Int64
        /// Lets a caller forget some of a key's events (see `remove(_:tagged:)`).
        var tag: Int
    }

    let limit: Int
    let windowMs: Int64
    let maxKeys: Int
    private var events: [Key: [Event]] = [:]
    private var lastSweep: Int64 = .min

    init(limit: Int, windowMs: Int64, maxKeys: Int) {
        precondition(limit >= 1 && windowMs >= 1 && maxKeys >= 1)
        self.limit = limit
        self.windowMs = windowMs
        self.maxKeys = maxKeys
    }

    var keyCount: Int { events.count }

    /// How long until fewer than `limit` events of `key` are in the window, or nil if fewer are
    /// already. An event at `t` is in the window while `now - t < windowMs`.
    func retryAfter(_ key: Key, now: Int64) -> Int64? {
        guard let list = events[key] else { return nil }
        let live = list.filter { now - $0.time < windowMs }
        guard live.count >= limit else { return nil }
        // The event whose leaving brings the count below the limit (the oldest, at exactly `limit`).
        return live[live.count - limit].time + windowMs - now
    }

    mutating func record(_ key: Key, tag: Int = 0, now: Int64) {
        sweepIfDue(now)
        if events[key] == nil, events.count >= maxKeys { makeRoom(now) }
        var list = events.removeValue(forKey: key) ?? []
        // Kept in time order even if the caller's clock steps back.
        let at = list.lastIndex { $0.time <= now }.map { $0 + 1 } ?? 0
        list.insert(Event(time: now, tag: tag), at: at)
        if list.count > 2 * limit { list.removeFirst(list.count - 2 * limit) }
        events[key] = list
    }

    mutating func remove(_ key: Key) {
        events[key] = nil
    }

    mutating func remove(_ key: Key, tagged tag: Int) {
        guard var list = events[key] else { return }
        list.removeAll { $0.tag == tag }
        events[key] = list.isEmpty ? nil : list
    }

    /// Drops every key whose newest event has left the window.
    mutating func sweep(now: Int64) {
        lastSweep = now
        events = events.filter { _, list in list.last.map { now - $0.time < windowMs } ?? false }
    }

    private mutating func sweepIfDue(_ now: Int64) {
        if lastSweep == .min || now - lastSweep >= windowMs || now < lastSweep { sweep(now: now) }
    }

    private mutating func makeRoom(_ now: Int64) {
        sweep(now: now)
        guard events.count >= maxKeys else { return }
        let drop = max(1, maxKeys / 8)
        let oldest = events.map { ($0.key, $0.value.last?.time ?? .min) }.sorted { $0.1 < $1.1 }.prefix(drop)
        for (key, _) in oldest { events[key] = nil }
    }
}

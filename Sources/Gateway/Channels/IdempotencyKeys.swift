import Reactor

/// One channel's idempotency keys in the in-process log (contract 2d): key → the seq it was
/// first published at, for `window` ms. Bounded: at most `limit` keys per channel; past it the
/// oldest are forgotten early (a publisher making more than `limit` keyed publishes to one
/// channel per window retries within far less than the window anyway). Not thread-safe: the
/// log's lock guards it.
struct IdempotencyKeys {
    private var seqs: [String: UInt64] = [:]
    /// Keys in publication order with their time, for expiry.
    private var order = FIFO<(key: String, at: Millis)>()
    static let limit = 100_000

    var count: Int { seqs.count }

    /// The seq first published with `key`, when still within the window.
    mutating func seq(for key: String, now: Millis, window: Millis) -> UInt64? {
        expire(now: now, window: window)
        return seqs[key]
    }

    mutating func record(_ key: String, seq: UInt64, now: Millis, window: Millis) {
        expire(now: now, window: window)
        seqs[key] = seq
        order.append((key, now))
        if seqs.count > Self.limit { dropOldest() }
    }

    private mutating func expire(now: Millis, window: Millis) {
        while let oldest = order.first, oldest.at &+ window <= now { dropOldest() }
    }

    private mutating func dropOldest() {
        if let oldest = order.popFirst() { seqs[oldest.key] = nil }
    }
}

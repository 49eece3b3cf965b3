import Synchronization

/// At most 10 registrations from one peer within a minute (contract 2a): the 11th is refused
/// with a retry time. Thread-safe; same memory bounds as `LoginLimiter`.
public final class RegistrationLimiter: Sendable {
    private let log: Mutex<SlidingWindowLog<String>>

    public init(limit: Int = 10, windowMs: Int64 = 60_000, maxKeys: Int = 100_000) {
        log = Mutex(SlidingWindowLog(limit: limit, windowMs: windowMs, maxKeys: maxKeys))
    }

    /// nil when `peer` may register now; otherwise ms until the oldest counted registration leaves the window.
    public func check(peer: String, now: Int64) -> Int64? {
        log.withLock { $0.retryAfter(peer, now: now) }
    }

    public func record(peer: String, now: Int64) {
        log.withLock { $0.record(peer, now: now) }
    }

    /// `check` and `record` under one lock: nil means admitted (and counted).
    public func admit(peer: String, now: Int64) -> Int64? {
        log.withLock { log in
            if let wait = log.retryAfter(peer, now: now) { return wait }
            log.record(peer, now: now)
            return nil
        }
    }
}

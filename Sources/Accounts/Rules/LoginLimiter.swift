import Synchronization

/// Failed-login limits (contract 2a): refusal once, within the window, 5 logins for one email
/// from one peer, or 50 for one email from all peers (15 minutes), or 30 from one peer (1
/// minute) have failed. Only failures are counted; refused attempts are not recorded by the
/// caller. Thread-safe; times are milliseconds on any clock the caller keeps consistent.
///
/// Check and record are separate calls around the password hash, so logins in flight together
/// all pass `check` before any failure is recorded: the counts can overshoot by the number in
/// flight (bounded by the hash queue), and each key keeps `2 * limit` events to count them.
///
/// Memory: at most `maxKeys` keys per table (100,000 by default: three tables of a few hundred
/// bytes per key). Expired keys are swept once per window; a full table drops its eighth of
/// least recently failed keys, which can forget an attacker's failures only when an attacker
/// fills the table, and then the per-peer table still limits each peer.
public final class LoginLimiter: Sendable {
    public struct Limits: Sendable, Equatable {
        public var perEmailAndPeer = 5
        public var perEmail = 50
        public var emailWindowMs: Int64 = 15 * 60_000
        public var perPeer = 30
        public var peerWindowMs: Int64 = 60_000
        /// Keys tracked per table at most.
        public var maxKeys = 100_000

        public init() {}
    }

    private struct EmailAndPeer: Hashable {
        let email: String
        let peer: String
    }

    private struct Tables {
        var emailAndPeer: SlidingWindowLog<EmailAndPeer>
        /// Events tagged with the peer's hash, so a success can remove that peer's failures.
        var email: SlidingWindowLog<String>
        /// Events tagged with the email's hash, likewise.
        var peer: SlidingWindowLog<String>
    }

    private let tables: Mutex<Tables>

    public init(limits: Limits = Limits()) {
        tables = Mutex(Tables(
            emailAndPeer: SlidingWindowLog(limit: limits.perEmailAndPeer, windowMs: limits.emailWindowMs, maxKeys: limits.maxKeys),
            email: SlidingWindowLog(limit: limits.perEmail, windowMs: limits.emailWindowMs, maxKeys: limits.maxKeys),
            peer: SlidingWindowLog(limit: limits.perPeer, windowMs: limits.peerWindowMs, maxKeys: limits.maxKeys)))
    }

    /// nil when a login for `email` from `peer` may check its password; otherwise the
    /// `retryAfterMs` to answer: until the binding limit's oldest counted failure leaves its
    /// window (the largest, when several limits bind).
    public func check(email: String, peer: String, now: Int64) -> Int64? {
        tables.withLock { t in
            [t.emailAndPeer.retryAfter(EmailAndPeer(email: email, peer: peer), now: now),
             t.email.retryAfter(email, now: now),
             t.peer.retryAfter(peer, now: now)].compactMap { $0 }.max()
        }
    }

    /// A login answered `invalid_credentials`.
    public func recordFailure(email: String, peer: String, now: Int64) {
        tables.withLock { t in
            t.emailAndPeer.record(EmailAndPeer(email: email, peer: peer), now: now)
            t.email.record(email, tag: peer.hashValue, now: now)
            t.peer.record(peer, tag: email.hashValue, now: now)
        }
    }

    /// A login succeeded: this email's failures from this peer stop counting, in all three
    /// limits (other peers' failures for the email, and this peer's for other emails, stay).
    public func recordSuccess(email: String, peer: String) {
        tables.withLock { t in
            t.emailAndPeer.remove(EmailAndPeer(email: email, peer: peer))
            t.email.remove(email, tagged: peer.hashValue)
            t.peer.remove(peer, tagged: email.hashValue)
        }
    }
}

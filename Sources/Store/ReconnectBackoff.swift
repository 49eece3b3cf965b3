import Reactor
import Synchronization

/// When the store's PostgreSQL workers may try to connect, shared by all of them: after a
/// failed attempt the next one waits 100 ms, doubling to 5 s (jittered), and while waiting
/// operations fail at once with `.unavailable` instead of each sitting through a connect. Only
/// one worker makes each attempt; a success opens the gate for all. Any thread.
final class ReconnectBackoff: Sendable {
    private struct State {
        var failing = false
        var delay: Millis = ReconnectBackoff.first
        var nextAttempt: Millis = 0
    }

    static let first: Millis = 100
    static let most: Millis = 5_000
    private let state = Mutex(State())

    /// Whether this worker may try now (claims the attempt while failing).
    func mayAttempt(now: Millis = Clock.monotonicMillis()) -> Bool {
        state.withLock { s in
            guard s.failing else { return true }
            guard now >= s.nextAttempt else { return false }
            s.nextAttempt = now + Self.jittered(s.delay)   // the others keep failing fast meanwhile
            return true
        }
    }

    /// Returns whether this is the first failure since a success (the one worth logging).
    @discardableResult
    func failed(now: Millis = Clock.monotonicMillis()) -> Bool {
        state.withLock { s in
            let first = !s.failing
            s.delay = s.failing ? min(s.delay * 2, Self.most) : Self.first
            s.failing = true
            s.nextAttempt = now + Self.jittered(s.delay)
            return first
        }
    }

    func succeeded() {
        state.withLock { s in
            s.failing = false
            s.delay = Self.first
        }
    }

    /// Between half and all of `delay`, so gateways restarted together do not retry in step.
    private static func jittered(_ delay: Millis) -> Millis { delay / 2 + Millis.random(in: 0...(delay / 2)) }
}

import Reactor

/// What to do with one event for one subscription (protocol/gateway.md §7).
enum DeliveryAction: Equatable {
    /// Write it now.
    case send
    /// Write it now; the queue is over its bound (a private event under twice the bound):
    /// the slow-consumer clock must be running.
    case sendOverBound
    /// `maxRate` pacing: keep it as the subscription's pending event (a newer one replaces
    /// it) until `nextAllowed`.
    case pace
    /// Over the outgoing bound and conflatable: keep only the newest, sent when the queue drains.
    case conflate
    /// The subscription is answered but not started: keep it, in order, for `start`.
    case hold
    /// A private event would take the queue past twice its bound: close 4008 at once.
    case closeSlowConsumer
    /// At or below what was already sent or answered (or the session is closed): nothing.
    case drop

    /// Whether the queue is over its bound (the session starts its 4008 clock).
    var overBound: Bool { self == .sendOverBound || self == .conflate || self == .closeSlowConsumer }
}

/// The delivery rule as a pure function of its inputs, so every branch is tested without
/// sockets. It runs per (event × subscriber): plain values in, an enum out, inlined into the
/// session's delivery (no allocation, no reference counting).
enum DeliveryDecision {
    @inline(__always)
    static func decide(seq: UInt64, lastSeq: UInt64, closed: Bool, held: Bool,
                       minInterval: Millis, nextAllowed: Millis, now: Millis,
                       queued: @autoclosure () -> Int, bound: Int, conflatable: Bool) -> DeliveryAction {
        if closed || seq <= lastSeq { return .drop }
        if held { return .hold }
        if minInterval > 0 && now < nextAllowed { return .pace }
        // Read only when needed (an autoclosure, gone once inlined): the same loads as before.
        let queued = queued()
        guard queued > bound else { return .send }
        if conflatable { return .conflate }
        // Portfolio events are never conflated: past twice the bound the connection is closed
        // instead, so the client reconnects and recovers rather than silently missing one.
        return queued - bound > bound ? .closeSlowConsumer : .sendOverBound
    }
}

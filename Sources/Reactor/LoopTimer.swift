/// A timer on one event loop (`EventLoop.schedule(after:_:)`, `schedule(every:_:)`). A handle:
/// copying it is cheap and dropping it does not cancel the timer. Loop thread only.
public struct LoopTimer: Sendable {
    let loop: EventLoop
    let handle: TimerQueue.Handle

    /// Stops the timer: it never fires again (not even later in the current pass). Cancelling
    /// a fired one-shot or a cancelled timer does nothing. O(1).
    public func cancel() {
        loop.assertInLoop()
        loop.timers.cancel(handle)
    }

    /// Whether the timer may still fire (a one-shot is inactive once its body started).
    public var isActive: Bool {
        loop.assertInLoop()
        return loop.timers.isActive(handle)
    }
}

extension EventLoop {
    /// Runs `body` once, on this loop, `delay` ms from `now` (millisecond resolution on the
    /// loop's coarse clock; never early, possibly a few ms late). Loop thread only.
    @discardableResult
    public func schedule(after delay: Millis, _ body: @escaping () -> Void) -> LoopTimer {
        assertInLoop()
        let h = timers.schedule(at: TimerQueue.adding(delay, to: now), interval: 0) { _ in body() }
        return LoopTimer(loop: self, handle: h)
    }

    /// Runs `body` every `interval` ms (at least 1) from `now` until the timer is cancelled
    /// (`body` gets the timer, so it may cancel itself). A loop that fell behind skips the
    /// missed runs instead of bursting them. Loop thread only.
    @discardableResult
    public func schedule(every interval: Millis, _ body: @escaping (LoopTimer) -> Void) -> LoopTimer {
        assertInLoop()
        let step = max(interval, 1)
        let h = timers.schedule(at: TimerQueue.adding(step, to: now), interval: step, body)
        return LoopTimer(loop: self, handle: h)
    }

    /// Fires every timer due now, in deadline order. Bodies may schedule and cancel timers
    /// (their own included); ones they schedule run in a later pass at the earliest.
    func runTimers() {
        let bound = timers.sequence
        while let (handle, record) = timers.popDue(now: now, bound: bound) {
            record.body(LoopTimer(loop: self, handle: handle))
        }
    }
}

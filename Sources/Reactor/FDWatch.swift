import CSystem
import Log

/// What happened on a watched fd, as one set per event.
public struct FDEvents: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let readable = FDEvents(rawValue: 1)
    public static let writable = FDEvents(rawValue: 2)
    /// The peer hung up (`EPOLLHUP`/`EPOLLRDHUP`); reported whatever the interest.
    public static let hangup = FDEvents(rawValue: 4)
    /// An error is pending on the fd (`EPOLLERR`); reported whatever the interest.
    public static let error = FDEvents(rawValue: 8)

    init(epoll e: UInt32) {
        var s: FDEvents = []
        if e & CGW_EPOLLIN != 0 { s.insert(.readable) }
        if e & CGW_EPOLLOUT != 0 { s.insert(.writable) }
        if e & (CGW_EPOLLHUP | CGW_EPOLLRDHUP) != 0 { s.insert(.hangup) }
        if e & CGW_EPOLLERR != 0 { s.insert(.error) }
        self = s
    }
}

/// What the loop keeps per watched fd.
struct WatchRecord {
    let fd: Int32
    let onEvent: (FDEvents) -> Void
}

/// A foreign fd (a hiredis or libpq socket) watched by one event loop: its owner reads and
/// writes it when told, and closes it — the watch never does. Level-triggered: an owner that
/// ignores a readable fd hears about it again next pass, so it should drop `.read` (or
/// cancel) rather than leave it pending; hang-ups and errors come whatever the interest.
/// Loop thread only.
public final class FDWatch {
    public let fd: Int32
    public let loop: EventLoop
    public private(set) var interest: IOInterest
    let handle: GenerationalSlab<WatchRecord>.Handle

    init(fd: Int32, loop: EventLoop, interest: IOInterest, handle: GenerationalSlab<WatchRecord>.Handle) {
        self.fd = fd
        self.loop = loop
        self.interest = interest
        self.handle = handle
    }

    private var cancelled = false

    /// Dropping the last reference to an active watch stops it (on the loop thread; it does
    /// not close the fd). A cancelled watch may be dropped anywhere.
    deinit { if !cancelled { cancel() } }

    /// Whether events are still delivered (false after `cancel`).
    public var isActive: Bool { !cancelled }

    /// Changes what the callback hears about from the next wait on.
    public func setInterest(_ new: IOInterest) throws(SystemError) {
        loop.assertInLoop()
        precondition(isActive, "setInterest on a cancelled watch")
        guard new != interest else { return }
        try loop.epoll.modify(fd, new, token: token.raw)
        interest = new
    }

    /// Stops watching at once: no event reaches the callback after this, even one already
    /// collected in the current pass; the callback is released. Call it before the owner
    /// closes the fd. Idempotent.
    public func cancel() {
        guard !cancelled else { return }
        loop.assertInLoop()
        cancelled = true
        loop.watches.remove(handle)
        do {
            try loop.epoll.remove(fd)
        } catch {
            // Closed before its watch was cancelled: the kernel dropped it already (unless the
            // fd was dup'ed, in which case events for it are now stale and ignored).
            loop.logger.warning("watched fd gone before its watch was cancelled",
                                [("fd", String(fd)), ("error", error.description)])
        }
    }

    var token: EventToken { EventToken(.watch, slot: handle.slot, generation: handle.generation) }
}

extension EventLoop {
    /// Starts watching `fd` (which stays its owner's to read, write and close) for `interest`;
    /// `onEvent` runs on this loop's thread with what the fd is ready for. Keep the returned
    /// watch: dropping it, or `cancel()`, stops the watch. Loop thread only.
    public func watch(fd: Int32, interest: IOInterest,
                      onEvent: @escaping (FDEvents) -> Void) throws(SystemError) -> FDWatch {
        assertInLoop()
        let handle = watches.insert(WatchRecord(fd: fd, onEvent: onEvent))
        let w = FDWatch(fd: fd, loop: self, interest: interest, handle: handle)
        do {
            try epoll.add(fd, interest, token: w.token.raw)
        } catch {
            watches.remove(handle)
            throw error
        }
        return w
    }

    func dispatchWatch(events: UInt32, token: EventToken) {
        let handle = GenerationalSlab<WatchRecord>.Handle(slot: token.slot, generation: token.generation)
        // Stale: cancelled earlier in this pass (its slot maybe reused by a newer watch).
        guard let record = watches[handle] else { return }
        record.onEvent(FDEvents(epoll: events))
    }
}

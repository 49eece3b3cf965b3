import CSystem
import Log

/// One accepted TCP socket on one event loop, for its whole life. Owns the fd and the
/// outbound queue; the protocol lives in `handler`. Only its loop's thread touches it.
public final class Connection {
    public let fd: Int32
    public let id: ConnectionID
    /// Owner: the loop, which holds every connection in its slab and outlives it. Hot paths
    /// read it through `withLoop`, so no reference counting.
    private let loopRef: Unretained<EventLoop>
    public var loop: EventLoop { loopRef.object }
    /// Set once by the listener's factory right after accept.
    public var handler: (any ConnectionHandler)?

    enum State: UInt8 {
        case open
        /// Our FIN is sent; reading and discarding until the peer's EOF or the linger timeout,
        /// so that unread input does not turn our close into an RST that eats our last bytes.
        case lingering
        case closed
    }

    var state: State = .open
    var outbound = OutboundQueue()
    var closeAfterFlush = false
    var inFlushList = false
    /// Between `beginBurst` and `endBurst`; the loop's `burst` gather is this connection's then.
    private(set) var inBurst = false
    var writeArmed = false
    /// Reading stops while either holds: the handler asked, or too much output is queued.
    var readPausedByHandler = false
    var readPausedByOutbound = false
    var readPaused: Bool { readPausedByHandler || readPausedByOutbound }
    var closeError: SystemError?
    private var writingInPlace = false
    /// Set for connections accepted on a TLS listener.
    var tls: TLSSession?

    init(fd: Int32, id: ConnectionID, loop: EventLoop) {
        self.fd = fd
        self.id = id
        self.loopRef = Unretained(loop)
    }

    deinit { assert(state == .closed, "leaked fd \(fd)") }

    // MARK: State

    public var isOpen: Bool { state == .open && !closeAfterFlush }
    public var isClosed: Bool { state == .closed }
    /// Whether this connection came in on a TLS listener.
    public var isTLS: Bool { tls != nil }
    /// Bytes queued and not yet accepted by the kernel (borrowed ones of a burst included).
    public var queuedBytes: Int {
        inBurst ? outbound.byteCount + withLoop { $0.burst.byteCount } : outbound.byteCount
    }

    @inline(__always)
    func withLoop<R>(_ body: (EventLoop) -> R) -> R { loopRef.with(body) }

    /// The peer's "ip:port" (a syscall: for logs on rare paths, not per message).
    public var peerDescription: String {
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: 64) { buf -> String in
            guard let base = buf.baseAddress, cgw_peer_name(fd, base, 64) == 0 else { return "?" }
            return String(cString: base)
        }
    }

    // MARK: Writing (queued; flushed once per loop pass)

    public func write(_ bytes: UnsafeRawBufferPointer) {
        guard state == .open, !closeAfterFlush, admits(bytes.count) else { return }
        spillBurst()
        outbound.append(bytes)
        didQueue()
    }

    public func write(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { write($0) }
    }

    /// Queues a sealed chunk by reference: the way one event reaches many subscribers.
    public func write(shared chunk: ByteChunk) {
        guard state == .open, !closeAfterFlush, admits(chunk.count) else { return }
        spillBurst()
        outbound.append(shared: chunk)
        didQueue()
    }

    /// Like `write(shared:)`, but inside a burst the chunk is only borrowed: the caller keeps
    /// it alive until `endBurst`, which writes it straight from there (nothing retained
    /// unless the kernel leaves part of it). Outside a burst, the same as `write(shared:)`.
    @inline(__always)
    public func write(borrowed chunk: Unretained<ByteChunk>) {
        guard inBurst, outbound.byteCount == 0, !writeArmed, tls == nil, !withLoop({ $0.burst.isFull }) else {
            write(shared: chunk.object)
            return
        }
        let count = chunk.with { c in
            precondition(c.isSealed, "only sealed chunks are shared")
            return c.count
        }
        guard state == .open, !closeAfterFlush, count > 0, admits(count) else { return }
        withLoop { $0.burst.append(chunk) }
    }

    /// Lets `body` encode straight into the outbound tail: at most `maxBytes`, returns the count.
    /// `body` must not write to this connection itself (the tail could move under it).
    @inline(__always)
    public func write(reserving maxBytes: Int, _ body: (UnsafeMutableRawBufferPointer) -> Int) {
        guard state == .open, !closeAfterFlush, admits(maxBytes) else { return }
        precondition(!writingInPlace, "re-entrant write(reserving:) on one connection")
        spillBurst()
        writingInPlace = true
        defer { writingInPlace = false }
        var written = 0
        outbound.tail(reserving: maxBytes).withUnsafeTail(reserving: maxBytes) { buf in
            written = body(buf)
            return written
        }
        outbound.didAppend(written)
        didQueue()
    }

    /// Between `beginBurst` and `endBurst` writes are not put on the loop's flush list;
    /// `endBurst` writes them at once (unless the kernel buffer is full) and lists the
    /// connection only if something is left. For fan-out, where one pass touches thousands of
    /// connections: each is written while it is in cache (and its subscriber served sooner),
    /// as uWS corks and uncorks, instead of in a second sweep.
    public func beginBurst() {
        precondition(loop.burst.isEmpty, "another connection's burst is still open")
        inBurst = true
    }

    public func endBurst() {
        let socketFull = !withLoop({ $0.burst.isEmpty }) && writeBorrowed()
        inBurst = false
        guard state == .open, outbound.byteCount > 0 else { return }
        if socketFull && !writeArmed {
            // The kernel just refused the rest: wait for EPOLLOUT rather than try again now.
            writeArmed = true
            loop.updateInterest(self)
        } else if !writeArmed {
            loop.flush(self)
        }
        if state == .open && outbound.byteCount > 0 && !inFlushList {
            inFlushList = true
            loop.pendingFlush.append(self)
        }
    }

    /// The burst's borrowed chunks in one write; what the kernel leaves is queued (retained).
    /// True when the socket took only part of them.
    private func writeBorrowed() -> Bool {
        var written = 0
        if state == .open {
            do {
                let fd = self.fd
                if case .processed(let n) = try loop.burst.send({ iov, count throws(SystemError) in try Posix.sendmsg(fd, iov, count) }) {
                    written = n
                }
            } catch {
                closeError = error
                loop.finishClose(self)   // resets the gather
                return false
            }
        }
        if written < loop.burst.byteCount {
            loop.burst.spill(into: &outbound, skipping: written)
            didQueue()
            return state == .open
        }
        loop.burst.reset()
        return false
    }

    /// Any other write while a burst holds borrowed chunks: those go into the queue first
    /// (retained, in order), then the write.
    @inline(__always)
    private func spillBurst() {
        if inBurst && !loop.burst.isEmpty { loop.burst.spill(into: &outbound, skipping: 0) }
    }

    /// False (and the connection closed) when `n` more bytes would pass the hard limit.
    @inline(__always)
    private func admits(_ n: Int) -> Bool {
        if queuedBytes + n <= loop.configuration.outboundHardLimit { return true }
        loop.logger.warning("outbound buffer over its hard limit: closing",
                            [("conn", id.description), ("queued", String(queuedBytes)), ("write", String(n))])
        loop.finishClose(self)
        return false
    }

    @inline(__always)
    private func didQueue() {
        loop.assertInLoop()
        if !inFlushList && !inBurst {
            inFlushList = true
            loop.pendingFlush.append(self)
        }
        if !readPausedByOutbound && outbound.byteCount > loop.configuration.outboundHighWater {
            readPausedByOutbound = true
            loop.updateInterest(self)
        }
    }

    /// Drops queued output that has not started to go out (whole chunks after the first), e.g.
    /// a slow consumer's backlog before its close frame: the peer sees the close now instead of
    /// after everything it was too slow to read. Returns the bytes dropped.
    @discardableResult
    public func discardQueuedOutput() -> Int {
        guard state == .open else { return 0 }
        var dropped = 0
        if inBurst {
            dropped += withLoop { $0.burst.byteCount }
            withLoop { $0.burst.reset() }
        }
        dropped += outbound.discardAfterHead()
        if dropped > 0 { loop.resumeIfDrained(self) }
        return dropped
    }

    // MARK: Reading control

    /// Stops reading from the socket (TCP pushes back on the peer) until `resumeReading`.
    public func pauseReading() {
        guard !readPausedByHandler, state == .open else { return }
        readPausedByHandler = true
        loop.updateInterest(self)
    }

    public func resumeReading() {
        guard readPausedByHandler, state == .open else { return }
        readPausedByHandler = false
        loop.updateInterest(self)
    }

    // MARK: Timers

    /// One deadline per connection (checked by the loop's periodic sweep, so it costs nothing
    /// per read). `nil` clears it.
    public func setDeadline(_ deadline: Millis?) {
        // Closed: the slot may belong to another connection now. Closing: the reactor's own
        // flush deadline rules.
        guard state == .open, !closeAfterFlush else { return }
        loop.deadlines[Int(id.slot)] = deadline ?? .max
    }

    public var deadline: Millis? {
        guard state != .closed else { return nil }
        let d = loop.deadlines[Int(id.slot)]
        return d == .max ? nil : d
    }

    // MARK: Closing

    /// Closes the connection. With `afterFlush`, queued bytes are sent first, then our side is
    /// shut down and the socket lingers until the peer closes (bounded by the linger timeout).
    public func close(afterFlush: Bool = false) {
        loop.assertInLoop()
        switch state {
        case .closed:
            return
        case .lingering:
            if !afterFlush { loop.finishClose(self) }
        case .open:
            // Nothing can be flushed before the TLS handshake is done: close right away.
            if afterFlush, let tls, !tls.isHandshakeComplete {
                loop.finishClose(self)
                return
            }
            if afterFlush {
                guard !closeAfterFlush else { return }
                closeAfterFlush = true
                loop.deadlines[Int(id.slot)] = loop.now + loop.configuration.closeFlushTimeout
                if !inFlushList {
                    inFlushList = true
                    loop.pendingFlush.append(self)
                }
            } else {
                loop.finishClose(self)
            }
        }
    }
}

import CSystem
import Log
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// One epoll instance driven by one thread. Every connection accepted here lives here until it
/// closes; nothing about it is shared with other loops. Other threads reach a loop only through
/// `execute` (a locked queue plus an eventfd wake-up).
///
/// A loop pass: wait for events (the wait ends by the earliest timer) → reads and writes, and
/// watched foreign fds' callbacks → cross-thread tasks → timers due → deadline sweep (every
/// `sweepInterval`) → before-flush hooks → flush every connection with queued output (one
/// `sendmsg` each; `EPOLLOUT` is armed only after a short write) → reap closed connections.
// @unchecked: everything mutable is confined to the loop's thread (asserted by `assertInLoop`);
// other threads only use `execute`, `beginDrain` and the atomics.
public final class EventLoop: @unchecked Sendable {
    public let index: Int
    public let configuration: LoopConfiguration
    public let logger: Logger

    let epoll: Epoll
    private let wakeFD: Int32

    // The connection slab: O(1) lookup by id, no dictionary on the event path.
    private var slab: [Connection?] = []
    private var generations: [UInt32] = []
    /// Per-slot deadline (`.max` = none), read by the sweep.
    var deadlines: [Millis] = []
    private var freeSlots: [UInt32] = []

    var pendingFlush: [Connection] = []
    /// The borrowed chunks of the connection bursting now (at most one at a time).
    var burst = BurstGather()
    /// TLS connections with decrypted bytes still inside OpenSSL: epoll will not wake for those.
    private var tlsPendingRead: [Connection] = []
    private var closedThisPass: [Connection] = []
    private var listeners: [ListenerState] = []
    private var beforeFlushHooks: [() -> Void] = []
    /// One-shot and repeating timers (see `schedule(after:)`); empty costs one compare a pass.
    var timers = TimerQueue()
    /// Watched foreign fds (see `watch(fd:interest:onEvent:)`).
    var watches = GenerationalSlab<WatchRecord>()

    public private(set) var now: Millis
    private var nextSweep: Millis
    /// Earliest wake-up asked for by the layer above (`wake(at:)`); reset every pass.
    private var nextWake: Millis = .max
    private(set) var connectionCount = 0 {
        didSet { openConnectionsGauge.store(connectionCount, ordering: .relaxed) }
    }
    private let openConnectionsGauge = Atomic<Int>(0)
    /// Open connections, readable from any thread (metrics, tests).
    public var openConnections: Int { openConnectionsGauge.load(ordering: .relaxed) }

    private let receiveBuffer: UnsafeMutableRawBufferPointer
    private let tasks = Mutex<[@Sendable () -> Void]>([])
    private let wakePending = Atomic<Bool>(false)

    private var running = true
    /// The thread running this loop (0 before `run`): for `inLoopThread`, which other threads
    /// call (a publisher asking whether the hub must be woken), so it is atomic. glibc's
    /// `pthread_t` is the thread's address, never 0.
    private let loopThread = Atomic<UInt>(0)

    /// Debug builds trap when called off this loop's thread (once it runs).
    @inline(__always)
    public func assertInLoop(_ file: StaticString = #fileID, _ line: UInt = #line) {
        assert(loopThread.load(ordering: .relaxed) == 0 || inLoopThread, "off-loop call", file: file, line: line)
    }
    /// Whether the caller runs on this loop's thread (false before the loop runs).
    public var inLoopThread: Bool {
        let t = loopThread.load(ordering: .relaxed)
        return t != 0 && pthread_equal(pthread_t(t), pthread_self()) != 0
    }

    /// Makes the loop pass no later than `deadline` (e.g. the next conflated event a
    /// `maxRate` subscription may send), finer than the deadline sweep. Loop thread only;
    /// valid for the coming wait, so ask again each pass while still needed.
    public func wake(at deadline: Millis) {
        if deadline < nextWake { nextWake = deadline }
    }

    private var drainDeadline: Millis?
    private var drainPeers: DrainPeers?
    private var drainIdleReported = false
    private var lastAcceptErrorLog: Millis = 0

    private static let wakeToken = EventToken(.loop, slot: 0, generation: 0)
    private static func listenerToken(_ i: Int) -> EventToken { EventToken(.loop, slot: UInt32(i + 1), generation: 0) }

    public init(index: Int, configuration: LoopConfiguration = LoopConfiguration(), logger: Logger) throws(SystemError) {
        self.index = index
        self.configuration = configuration
        self.logger = logger.with("loop", String(index))
        let ep = try Epoll()
        let wake = cgw_eventfd()
        guard wake >= 0 else {
            let e = cgw_errno()
            ep.close()
            throw SystemError(errno: e, call: "eventfd")
        }
        do {
            try ep.add(wake, .read, token: EventLoop.wakeToken.raw)
        } catch {
            ep.close()
            Posix.close(wake)
            throw error
        }
        self.epoll = ep
        self.wakeFD = wake
        self.receiveBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: configuration.receiveBufferSize, alignment: 64)
        self.now = Clock.monotonicMillis()
        self.nextSweep = now + configuration.sweepInterval
    }

    deinit {
        closeListeners()
        receiveBuffer.deallocate()
        burst.deallocate()
        epoll.close()
        Posix.close(wakeFD)
    }

    // MARK: Cross-thread entry

    /// Runs `task` on this loop's thread during its next pass. Callable from any thread.
    public func execute(_ task: @escaping @Sendable () -> Void) {
        tasks.withLock { $0.append(task) }
        if !wakePending.exchange(true, ordering: .acquiringAndReleasing), cgw_eventfd_signal(wakeFD) != 0 {
            // Cannot happen with a valid eventfd (a full counter counts as signalled); the task
            // then waits for the loop's next pass.
            logger.error("cannot wake the event loop", [("error", SystemError(errno: cgw_errno(), call: "eventfd write").description)])
        }
    }

    private func runTasks() {
        // -1 only when the counter was already drained (EAGAIN): nothing to do either way.
        _ = cgw_eventfd_drain(wakeFD)
        wakePending.store(false, ordering: .releasing)
        let batch = tasks.withLock { t -> [@Sendable () -> Void] in
            let b = t
            t.removeAll(keepingCapacity: true)
            return b
        }
        for task in batch { task() }
    }

    // MARK: Listeners

    struct ListenerState {
        let fd: Int32
        let tls: TLSContext?
        let factory: @Sendable (Connection) -> any ConnectionHandler
        var pausedUntil: Millis?
    }

    /// Starts accepting on a listening socket (this loop owns it from now on); with `tls`,
    /// every connection speaks TLS. Call before `run`, or from a task on this loop.
    public func addListener(fd: Int32, tls: TLSContext? = nil,
                            factory: @escaping @Sendable (Connection) -> any ConnectionHandler) throws(SystemError) {
        try epoll.add(fd, .read, token: EventLoop.listenerToken(listeners.count).raw)
        listeners.append(ListenerState(fd: fd, tls: tls, factory: factory, pausedUntil: nil))
    }

    private func accept(listener i: Int) {
        let l = listeners[i]
        guard l.pausedUntil == nil else { return }
        for _ in 0..<configuration.acceptBatch {
            do {
                switch try Posix.accept(l.fd) {
                case .wouldBlock:
                    return
                case .processed(let fd):
                    register(fd: fd, tls: l.tls, factory: l.factory)
                }
            } catch {
                switch error.errno {
                case ECONNABORTED, EPROTO, EPERM:
                    continue
                case EMFILE, ENFILE, ENOBUFS, ENOMEM:
                    // Out of descriptors: stop listening briefly instead of spinning on a
                    // readable listener we cannot accept from. Level-triggered epoll keeps the
                    // backlog for us.
                    do {
                        try epoll.remove(l.fd)
                    } catch {
                        // Still registered: the pause would spin on the readable listener, so
                        // keep accepting (and failing) at the batch's pace instead.
                        logger.error("cannot pause the listener", [("error", error.description)])
                        return
                    }
                    listeners[i].pausedUntil = now + 200
                    if now - lastAcceptErrorLog > 5_000 {
                        lastAcceptErrorLog = now
                        logger.warning("accept paused: out of file descriptors or memory",
                                       [("error", error.description), ("connections", String(connectionCount))])
                    }
                    return
                default:
                    logger.error("accept failed", [("error", error.description)])
                    return
                }
            }
        }
    }

    private func resumePausedListeners() {
        for i in listeners.indices {
            if let until = listeners[i].pausedUntil, until <= now {
                do {
                    try epoll.add(listeners[i].fd, .read, token: EventLoop.listenerToken(i).raw)
                    listeners[i].pausedUntil = nil
                } catch {
                    // Stays paused; the next sweep tries again.
                    logger.error("cannot resume the listener", [("error", error.description)])
                    listeners[i].pausedUntil = now + 200
                }
            }
        }
    }

    private func closeListeners() {
        for l in listeners { Posix.close(l.fd) }
        listeners.removeAll()
    }

    // MARK: Connections

    private func register(fd: Int32, tls: TLSContext?, factory: @Sendable (Connection) -> any ConnectionHandler) {
        var session: TLSSession?
        if let tls {
            guard let s = TLSSession(context: tls, fd: fd) else {
                logger.error("cannot create a TLS session", [("error", TLSContext.lastError())])
                Posix.close(fd)
                return
            }
            session = s
        }
        let slot: UInt32
        if let free = freeSlots.popLast() {
            slot = free
        } else {
            slot = UInt32(slab.count)
            slab.append(nil)
            generations.append(0)
            deadlines.append(.max)
        }
        let id = ConnectionID(slot: slot, generation: generations[Int(slot)])
        do {
            try epoll.add(fd, .read, token: id.packed)
        } catch {
            logger.error("cannot watch the accepted socket", [("error", error.description)])
            Posix.close(fd)
            freeSlots.append(slot)
            return
        }
        let c = Connection(fd: fd, id: id, loop: self)
        c.tls = session
        slab[Int(slot)] = c
        deadlines[Int(slot)] = .max
        connectionCount += 1
        c.handler = factory(c)
    }

    /// The open connection with this id, if it is still on this loop. Loop thread only.
    public func connection(_ id: ConnectionID) -> Connection? {
        assertInLoop()
        let slot = Int(id.slot)
        guard slot < slab.count, generations[slot] == id.generation, let c = slab[slot], c.state != .closed else { return nil }
        return c
    }

    func updateInterest(_ c: Connection) {
        guard c.state != .closed else { return }
        var interest: IOInterest = []
        // A TLS write that needs a read first must hear about readability even while paused.
        if !c.readPaused || c.state == .lingering || c.tls?.writeWantsRead == true { interest.insert(.read) }
        if c.writeArmed { interest.insert(.write) }
        do {
            try epoll.modify(c.fd, interest, token: c.id.packed)
        } catch {
            // The kernel's interest no longer matches ours: the connection would stall or spin.
            logger.error("cannot change a connection's interest: closing", [("conn", c.id.description), ("error", error.description)])
            c.closeError = error
            finishClose(c)
        }
    }

    /// Test hook: the next connection accepted takes slot `slot` with generation `generation`.
    /// Loop thread, with no connection in `slot`.
    func setGeneration(_ generation: UInt32, forNextConnectionIn slot: UInt32) {
        assertInLoop()
        while slab.count <= Int(slot) {
            slab.append(nil)
            generations.append(0)
            deadlines.append(.max)
        }
        precondition(slab[Int(slot)] == nil, "slot in use")
        freeSlots.removeAll { $0 == slot }
        freeSlots.append(slot)
        generations[Int(slot)] = generation & EventToken.generationMask
    }

    func finishClose(_ c: Connection) {
        guard c.state != .closed else { return }
        c.state = .closed
        if c.inBurst { burst.reset() }   // borrowed bytes go nowhere now
        // close() also removes the fd from the epoll set (we never dup sockets).
        Posix.close(c.fd)
        c.outbound.removeAll()
        deadlines[Int(c.id.slot)] = .max
        connectionCount -= 1
        closedThisPass.append(c)
    }

    private func reapClosed() {
        while !closedThisPass.isEmpty {
            let batch = closedThisPass
            closedThisPass.removeAll(keepingCapacity: true)
            for c in batch {
                let handler = c.handler
                c.handler = nil   // break the connection ⇄ handler cycle
                handler?.connectionDidClose(c, error: c.closeError)
                let slot = Int(c.id.slot)
                slab[slot] = nil
                generations[slot] = EventToken.next(generations[slot])
                freeSlots.append(c.id.slot)
            }
        }
    }

    // MARK: Reading and writing

    private func handle(connectionEvent events: UInt32, token: UInt64) {
        let id = ConnectionID(packed: token)
        let slot = Int(id.slot)
        guard slot < slab.count, generations[slot] == id.generation, let c = slab[slot], c.state != .closed else {
            return   // stale: closed earlier in this pass
        }
        if events & CGW_EPOLLOUT != 0 {
            flush(c)
            if c.tls?.readWantsWrite == true { read(c) }
        }
        if events & (CGW_EPOLLIN | CGW_EPOLLERR | CGW_EPOLLHUP) != 0 {
            read(c)
            if c.tls?.writeWantsRead == true { flush(c) }
        }
    }

    /// Listeners and watched fds: off the connection path.
    private func handle(otherEvent events: UInt32, token: EventToken) {
        switch token.kind {
        case .loop:
            let li = Int(token.slot) - 1
            if li >= 0 && li < listeners.count { accept(listener: li) }
        case .watch:
            dispatchWatch(events: events, token: token)
        case .connection, nil:
            break
        }
    }

    private func read(_ c: Connection) {
        guard c.state != .closed else { return }
        if c.state == .open, let tls = c.tls {
            readTLS(c, tls)
            return
        }
        do {
            switch try Posix.recv(c.fd, into: receiveBuffer) {
            case .wouldBlock:
                return
            case .processed(0):
                if c.state == .lingering {
                    finishClose(c)
                } else if let h = c.handler {
                    h.connectionDidReadEOF(c)
                } else {
                    finishClose(c)
                }
            case .processed(let n):
                if c.state == .lingering { return }   // discarded: we are only waiting for EOF
                c.handler?.connectionDidRead(c, UnsafeMutableRawBufferPointer(rebasing: receiveBuffer[0..<n]))
            }
        } catch {
            c.closeError = error
            finishClose(c)
        }
    }

    private func readTLS(_ c: Connection, _ tls: TLSSession) {
        do {
            switch try tls.read(into: receiveBuffer) {
            case .wouldBlock:
                break
            case .closed:
                if let h = c.handler { h.connectionDidReadEOF(c) } else { finishClose(c) }
                return
            case .bytes(let n):
                c.handler?.connectionDidRead(c, UnsafeMutableRawBufferPointer(rebasing: receiveBuffer[0..<n]))
                if c.state == .open && tls.hasPendingPlaintext { tlsPendingRead.append(c) }
            }
            if tls.readWantsWrite && !c.writeArmed && c.state == .open {
                c.writeArmed = true
                updateInterest(c)
            }
        } catch {
            // Garbage, a failed handshake, a protocol alert: the peer's problem, one line at debug.
            logger.debug("TLS error: closing", [("conn", c.id.description), ("error", error.description)])
            c.closeError = SystemError(errno: EPROTO, call: "SSL_read")
            finishClose(c)
        }
    }

    func flush(_ c: Connection) {
        guard c.state == .open else { return }
        do {
            let fd = c.fd
            let tls = c.tls
            let result = try c.outbound.flush { iov, n throws(SystemError) in
                guard let tls else { return try Posix.sendmsg(fd, iov, n) }
                return try tlsWrite(c, tls, iov, n)
            }
            switch result {
            case .partial:
                // A TLS write waiting for a read is woken by EPOLLIN (see updateInterest), not OUT.
                if tls?.writeWantsRead == true {
                    updateInterest(c)
                } else if !c.writeArmed {
                    c.writeArmed = true
                    updateInterest(c)
                }
                resumeIfDrained(c)
            case .drained:
                if c.writeArmed && c.tls?.readWantsWrite != true {
                    c.writeArmed = false
                    updateInterest(c)
                }
                if c.closeAfterFlush {
                    beginLinger(c)
                } else {
                    resumeIfDrained(c)
                }
            }
        } catch {
            c.closeError = error
            finishClose(c)
        }
    }

    private func tlsWrite(_ c: Connection, _ tls: TLSSession, _ iov: UnsafePointer<iovec>, _ n: Int) throws(SystemError) -> IOResult<Int> {
        do {
            return try tls.write(iov, n)
        } catch {
            logger.debug("TLS error: closing", [("conn", c.id.description), ("error", error.description)])
            throw SystemError(errno: EPROTO, call: "SSL_write")
        }
    }

    func resumeIfDrained(_ c: Connection) {
        if c.readPausedByOutbound && c.outbound.byteCount <= configuration.outboundLowWater {
            c.readPausedByOutbound = false
            updateInterest(c)
            c.handler?.connectionDidDrain(c)
        }
    }

    private func beginLinger(_ c: Connection) {
        c.tls?.shutdown()
        Posix.shutdownWrite(c.fd)
        c.state = .lingering
        deadlines[Int(c.id.slot)] = now + configuration.lingerTimeout
        updateInterest(c)
    }

    private func flushPending() {
        while !pendingFlush.isEmpty {
            let batch = pendingFlush
            pendingFlush.removeAll(keepingCapacity: true)
            for c in batch {
                c.inFlushList = false
                // With EPOLLOUT armed the kernel buffer is full: wait for writability. Already
                // written this pass and not closing: nothing to do.
                if c.state == .open && !c.writeArmed && (c.outbound.byteCount > 0 || c.closeAfterFlush) { flush(c) }
            }
        }
    }

    // MARK: Deadlines

    private func sweep() {
        nextSweep = now + configuration.sweepInterval
        resumePausedListeners()
        var slot = 0
        let count = deadlines.count
        while slot < count {
            if deadlines[slot] <= now, let c = slab[slot] {
                deadlines[slot] = .max
                switch c.state {
                case .lingering: finishClose(c)
                case .open where c.closeAfterFlush:
                    // The peer did not take our last bytes in time: drop it (and its queue).
                    finishClose(c)
                case .open: c.handler?.connectionDeadlineDidPass(c, now: now)
                case .closed: break
                }
            }
            slot += 1
        }
    }

    // MARK: Hooks

    /// Runs once per loop pass, right before queued output is flushed (e.g. to drain a pub/sub
    /// batch so every subscriber's events go out in one write).
    public func addBeforeFlushHook(_ hook: @escaping () -> Void) {
        beforeFlushHooks.append(hook)
    }

    // MARK: Running

    /// Runs the loop on the calling thread until it has stopped and drained.
    public func run() {
        loopThread.store(UInt(pthread_self()), ordering: .relaxed)
        let maxEvents = 1024
        let events = UnsafeMutablePointer<cgw_event>.allocate(capacity: maxEvents)
        defer { events.deallocate() }
        while running {
            now = Clock.monotonicMillis()
            let until = min(nextSweep, nextWake, timers.earliest)
            nextWake = .max
            let wait = until > now ? until - now : 0
            let busy = !pendingFlush.isEmpty || !tlsPendingRead.isEmpty
            let n = epoll.wait(into: events, capacity: Int32(maxEvents), timeout: busy ? 0 : Int32(clamping: wait))
            now = Clock.monotonicMillis()
            var wake = false
            for i in 0..<n {
                let ev = events[i]
                let token = EventToken(raw: ev.data)
                if token.isConnection {
                    handle(connectionEvent: ev.events, token: ev.data)
                } else if token == EventLoop.wakeToken {
                    wake = true
                } else {
                    handle(otherEvent: ev.events, token: token)
                }
            }
            if wake { runTasks() }
            if timers.earliest <= now { runTimers() }
            if !tlsPendingRead.isEmpty {
                let pending = tlsPendingRead
                tlsPendingRead.removeAll(keepingCapacity: true)
                for c in pending where c.state == .open { read(c) }
            }
            if now >= nextSweep { sweep() }
            for hook in beforeFlushHooks { hook() }
            flushPending()
            reapClosed()
            if let deadline = drainDeadline {
                if connectionCount == 0 && !drainIdleReported {
                    drainIdleReported = true
                    drainPeers?.loopBecameIdle()
                }
                // Listeners stay open until every loop of the group is idle: a loop that quit
                // alone would reset connections the kernel had already queued on its listener.
                if connectionCount == 0 && (drainPeers?.allIdle ?? true) {
                    running = false
                } else if now >= deadline {
                    logger.warning("drain timeout: closing remaining connections", [("connections", String(connectionCount))])
                    for c in slab { if let c { finishClose(c) } }
                    reapClosed()
                    running = false
                }
            }
        }
        closeListeners()
        // A stopped loop fires nothing more; dropping the bodies breaks loop ⇄ closure cycles.
        timers.removeAll()
    }

    /// Asks every connection to say goodbye and ends `run` once none is left or `timeout` ms
    /// have passed. Listeners stay open meanwhile, so readiness probes can still be answered
    /// (503) while clients move away; the layer above refuses new work. Any thread.
    public func beginDrain(timeout: Millis, peers: DrainPeers? = nil) {
        execute { [self] in
            drainPeers = peers
            guard drainDeadline == nil else { return }
            drainDeadline = now + timeout
            for c in slab {
                if let c, c.state == .open { c.handler?.connectionShouldDrain(c) }
            }
        }
    }
}

/// The loops of one group draining together: each reports once when it has no connection left,
/// and none stops before all have (or its deadline passes).
public final class DrainPeers: Sendable {
    private let busy: Atomic<Int>

    public init(loops: Int) { busy = Atomic(loops) }

    func loopBecameIdle() { busy.subtract(1, ordering: .releasing) }

    var allIdle: Bool { busy.load(ordering: .acquiring) <= 0 }
}

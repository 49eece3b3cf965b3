import CHiredis
import Log
import Reactor

/// One connection to one Redis server, on one event loop, through hiredis's asynchronous API:
/// hiredis formats commands and parses replies; its adapter hooks (`ev.addRead` …) turn read and
/// write interest on and off on our epoll through an `FDWatch`, and the watch's events call
/// `redisAsyncHandleRead/Write`. No thread of hiredis's, no blocking call: the host is an IP
/// literal (resolved before the loops start), so hiredis's connect does no DNS.
///
/// hiredis 0.14 has no timeouts of its own: a connect and every command get a deadline here; a
/// command past it drops the connection (its caller learns the outcome is unknown). Commands
/// waiting for replies are bounded. Loop thread only; `close()` before letting go of it.
///
/// Unsafe code lives here only: the context pointer, the C callbacks (which find this object
/// through hiredis's `data`/privdata fields, unretained: the context never outlives it).
public final class RedisConnection {
    public let loop: EventLoop
    public let url: RedisURL
    /// Host and port for logs (never the password).
    public let label: String
    private let logger: Logger

    public enum State: Equatable { case idle, connecting, ready, closed }
    public private(set) var state: State = .idle

    /// Pub/sub messages (and subscribe confirmations) on a subscriber connection.
    public var onMessage: ((RedisReply) -> Void)?
    /// The connection ended after it was ready (not on a failed connect, which `connect` reports).
    public var onClose: ((RedisError) -> Void)?

    /// ms a command may wait for its reply.
    public var commandTimeout: Millis
    /// Commands waiting for replies at most; more answer `.overloaded` unsent.
    public var maxPending: Int

    private var context: UnsafeMutablePointer<redisAsyncContext>?
    private var watch: FDWatch?
    private var interest: IOInterest = []
    private var pending = FIFO<(deadline: Millis, done: (Result<RedisReply, RedisError>) -> Void)>()
    private var deadlineTimer: LoopTimer?
    private var connectDone: ((Result<Void, RedisError>) -> Void)?
    /// Why the connection is going away (what pending callbacks are told).
    private var closeReason: RedisError = .connectionLost("closed")

    public init(url: RedisURL, loop: EventLoop, logger: Logger, commandTimeout: Millis = 1_000, maxPending: Int = 100_000) {
        self.url = url
        self.loop = loop
        self.logger = logger
        self.commandTimeout = commandTimeout
        self.maxPending = maxPending
        self.label = url.description
    }

    deinit {
        // Owners close first; a context left here would call back into a dead object.
        if let context {
            context.pointee.ev.data = nil
            context.pointee.data = nil
            redisAsyncFree(context)
        }
    }

    public var pendingCount: Int { pending.count }

    // MARK: Connecting

    /// Connects, authenticates and selects the database, within `timeout` ms.
    public func connect(timeout: Millis, _ done: @escaping (Result<Void, RedisError>) -> Void) {
        loop.assertInLoop()
        guard state == .idle else { return done(.failure(.notConnected)) }
        state = .connecting
        guard let ac = redisAsyncConnect(url.host, Int32(url.port)) else {
            state = .closed
            return done(.failure(.connectionLost("out of memory")))
        }
        if ac.pointee.err != 0 {
            let why = Self.errorText(ac)
            redisAsyncFree(ac)
            state = .closed
            return done(.failure(.connectionLost(why)))
        }
        context = ac
        connectDone = done
        let me = Unmanaged.passUnretained(self).toOpaque()
        ac.pointee.data = me
        ac.pointee.ev.data = me
        ac.pointee.ev.addRead = { p in RedisConnection.from(p)?.changeInterest(add: .read) }
        ac.pointee.ev.delRead = { p in RedisConnection.from(p)?.changeInterest(remove: .read) }
        ac.pointee.ev.addWrite = { p in RedisConnection.from(p)?.changeInterest(add: .write) }
        ac.pointee.ev.delWrite = { p in RedisConnection.from(p)?.changeInterest(remove: .write) }
        ac.pointee.ev.cleanup = { p in RedisConnection.from(p)?.contextGone() }
        redisAsyncSetConnectCallback(ac) { ac, status in
            guard let ac, let c = RedisConnection.from(ac.pointee.data) else { return }
            c.connected(ok: status == REDIS_OK, why: status == REDIS_OK ? "" : RedisConnection.errorText(ac))
        }
        redisAsyncSetDisconnectCallback(ac) { ac, status in
            guard let ac, let c = RedisConnection.from(ac.pointee.data) else { return }
            c.disconnected(why: status == REDIS_OK ? "closed" : RedisConnection.errorText(ac))
        }
        // The connect completes on the first writable event; hiredis 0.14 asks for write
        // interest only with the first command, so ask here.
        changeInterest(add: .write)
        loop.schedule(after: timeout) { [weak self] in
            guard let self, self.state == .connecting else { return }
            self.fail(.timeout)
        }
    }

    private func connected(ok: Bool, why: String) {
        guard ok else {
            // hiredis frees the context after this callback.
            context = nil
            watch?.cancel()
            watch = nil
            state = .closed
            finishConnect(.failure(.connectionLost(why)))
            return
        }
        var handshake: [[String]] = []
        if let password = url.password { handshake.append(url.user.map { ["AUTH", $0, password] } ?? ["AUTH", password]) }
        if url.db != 0 { handshake.append(["SELECT", String(url.db)]) }
        guard !handshake.isEmpty else { return ready() }
        var left = handshake.count
        var failed = false
        for (i, args) in handshake.enumerated() {
            sendNow(args.map { Array($0.utf8) }) { [weak self] result in
                guard let self, !failed else { return }
                switch result {
                case .success(.error(let e)):
                    failed = true
                    // The server's words only (they never hold the password).
                    self.fail(.server(i == 0 && self.url.password != nil ? "AUTH refused: \(e)" : "SELECT refused: \(e)"))
                case .failure(let e):
                    failed = true
                    self.fail(e)
                case .success:
                    left -= 1
                    if left == 0 { self.ready() }
                }
            }
        }
    }

    private func ready() {
        guard state == .connecting else { return }
        state = .ready
        finishConnect(.success(()))
    }

    private func finishConnect(_ result: Result<Void, RedisError>) {
        let done = connectDone
        connectDone = nil
        done?(result)
    }

    // MARK: Commands

    /// Sends one command; `done` gets its reply (a Redis error reply is `.success(.error)`), or
    /// why there is none. Never called back inline for a sent command.
    public func send(_ args: [[UInt8]], _ done: @escaping (Result<RedisReply, RedisError>) -> Void) {
        loop.assertInLoop()
        guard state == .ready else { return done(.failure(.notConnected)) }
        sendNow(args, done)
    }

    public func send(_ args: String..., done: @escaping (Result<RedisReply, RedisError>) -> Void) {
        send(args.map { Array($0.utf8) }, done)
    }

    private func sendNow(_ args: [[UInt8]], _ done: @escaping (Result<RedisReply, RedisError>) -> Void) {
        guard let ac = context else { return done(.failure(.notConnected)) }
        guard pendingCount < maxPending else { return done(.failure(.overloaded)) }
        let me = Unmanaged.passUnretained(self).toOpaque()
        let queued = Self.withArgv(args) { argc, argv, lens in
            redisAsyncCommandArgv(ac, { _, reply, p in RedisConnection.from(p)?.replied(reply) }, me, argc, argv, lens)
        }
        guard queued == REDIS_OK else { return done(.failure(.notConnected)) }
        pending.append((loop.now &+ commandTimeout, done))
        armDeadline()
    }

    /// SUBSCRIBE / UNSUBSCRIBE on a subscriber connection: their confirmations and the channels'
    /// messages come to `onMessage` (hiredis routes them by channel, not by command order).
    public func subscribe(_ channels: [[UInt8]]) { pubsub("SUBSCRIBE", channels) }
    public func unsubscribe(_ channels: [[UInt8]]) { pubsub("UNSUBSCRIBE", channels) }

    private func pubsub(_ verb: String, _ channels: [[UInt8]]) {
        loop.assertInLoop()
        guard state == .ready, let ac = context, !channels.isEmpty else { return }
        let me = Unmanaged.passUnretained(self).toOpaque()
        _ = Self.withArgv([Array(verb.utf8)] + channels) { argc, argv, lens in
            redisAsyncCommandArgv(ac, { _, reply, p in RedisConnection.from(p)?.pushed(reply) }, me, argc, argv, lens)
        }
    }

    private func replied(_ reply: UnsafeMutableRawPointer?) {
        guard let entry = pending.popFirst() else { return }
        guard let reply else { return entry.done(.failure(closeReason)) }
        guard let value = RedisReply(reply.assumingMemoryBound(to: redisReply.self)) else {
            return entry.done(.failure(.unexpectedReply("a reply hiredis could not describe")))
        }
        entry.done(.success(value))
    }

    private func pushed(_ reply: UnsafeMutableRawPointer?) {
        // nil: the connection is going away (hiredis tells every channel callback).
        guard let reply, let value = RedisReply(reply.assumingMemoryBound(to: redisReply.self)) else { return }
        onMessage?(value)
    }

    /// One timer at the oldest deadline: a command unanswered past it drops the connection.
    private func armDeadline() {
        guard deadlineTimer == nil, let oldest = pending.first else { return }
        let wait = oldest.deadline > loop.now ? oldest.deadline - loop.now : 0
        deadlineTimer = loop.schedule(after: wait) { [weak self] in
            guard let self else { return }
            self.deadlineTimer = nil
            guard let oldest = self.pending.first else { return }
            if oldest.deadline <= self.loop.now {
                self.logger.warning("Redis did not answer in time: dropping the connection",
                                    [("redis", self.label), ("waiting", String(self.pendingCount))])
                self.fail(.timeout)
            } else {
                self.armDeadline()
            }
        }
    }

    // MARK: Closing

    /// Drops the connection now: waiting commands fail with `connectionLost` (their outcome is
    /// unknown). `onClose` is not called for a close asked for here.
    public func close() {
        loop.assertInLoop()
        onClose = nil
        fail(.connectionLost("closed by the gateway"))
    }

    private func fail(_ error: RedisError) {
        guard state != .closed else { return }
        let wasReady = state == .ready
        state = .closed
        closeReason = error == .timeout ? .timeout : error
        deadlineTimer?.cancel()
        deadlineTimer = nil
        if let ac = context {
            context = nil
            // Calls every waiting callback with no reply (→ `closeReason`), then `cleanup`.
            redisAsyncFree(ac)
        }
        watch?.cancel()
        watch = nil
        finishConnect(.failure(error))
        if wasReady { onClose?(error) }
    }

    private func disconnected(why: String) {
        // hiredis is freeing the context: its callbacks got their nil replies already.
        context = nil
        guard state != .closed else { return }
        fail(.connectionLost(why))
    }

    private func contextGone() {
        context = nil
        watch?.cancel()
        watch = nil
    }

    // MARK: The adapter

    private func changeInterest(add: IOInterest = [], remove: IOInterest = []) {
        guard let ac = context else { return }
        let next = interest.union(add).subtracting(remove)
        guard next != interest || watch == nil else { return }
        interest = next
        do {
            if let watch {
                try watch.setInterest(next)
            } else {
                watch = try loop.watch(fd: ac.pointee.c.fd, interest: next) { [unowned self] events in self.ready(events) }
            }
        } catch {
            logger.error("cannot watch the Redis socket", [("redis", label), ("error", error.description)])
            loop.schedule(after: 0) { [weak self] in self?.fail(.connectionLost("cannot watch the socket")) }
        }
    }

    private func ready(_ events: FDEvents) {
        if let ac = context, !events.isDisjoint(with: [.readable, .hangup, .error]) { redisAsyncHandleRead(ac) }
        // The read may have ended the connection (the context is gone then).
        if let ac = context, events.contains(.writable) { redisAsyncHandleWrite(ac) }
    }

    // MARK: Unsafe helpers

    private static func from(_ p: UnsafeMutableRawPointer?) -> RedisConnection? {
        guard let p else { return nil }
        return Unmanaged<RedisConnection>.fromOpaque(p).takeUnretainedValue()
    }

    private static func errorText(_ ac: UnsafePointer<redisAsyncContext>) -> String {
        guard let s = ac.pointee.errstr else { return "error \(ac.pointee.err)" }
        return String(cString: s)
    }

    /// hiredis copies the arguments while formatting: the pointers need to live only for the call.
    private static func withArgv(_ args: [[UInt8]],
                                 _ body: (Int32, UnsafeMutablePointer<UnsafePointer<CChar>?>, UnsafePointer<Int>) -> Int32) -> Int32 {
        var flat: [UInt8] = []
        flat.reserveCapacity(args.reduce(0) { $0 + $1.count } + 1)
        var offsets: [Int] = []
        for a in args {
            offsets.append(flat.count)
            flat += a
        }
        flat.append(0)
        let lens = args.map(\.count)
        return flat.withUnsafeBufferPointer { buf -> Int32 in
            guard let raw = buf.baseAddress, !args.isEmpty else { return REDIS_ERR }
            let base = UnsafeRawPointer(raw).assumingMemoryBound(to: CChar.self)
            var argv: [UnsafePointer<CChar>?] = offsets.map { base + $0 }
            return argv.withUnsafeMutableBufferPointer { av -> Int32 in
                lens.withUnsafeBufferPointer { lp -> Int32 in
                    guard let a = av.baseAddress, let l = lp.baseAddress else { return REDIS_ERR }
                    return body(Int32(args.count), a, l)
                }
            }
        }
    }
}

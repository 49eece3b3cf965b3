import CSystem
import Log

/// N event loops on N threads, each with its own `SO_REUSEPORT` listener on the same port: the
/// kernel spreads new connections across loops, and a connection never changes loop.
// @unchecked: `threads` is written only by `start` and `shutdown`, which the owner calls from
// one (non-loop) thread; everything else is immutable.
public final class EventLoopGroup: @unchecked Sendable {
    public let loops: [EventLoop]
    public let host: String
    /// The port actually bound (useful with port 0 in tests).
    public let port: Int
    private var threads: [LoopThread] = []

    public init(host: String, port: Int, threads: Int, configuration: LoopConfiguration = LoopConfiguration(),
                tls: TLSContext? = nil, logger: Logger,
                factory: @escaping @Sendable (Connection) -> any ConnectionHandler) throws(SystemError) {
        precondition(threads >= 1)
        // Every listener uses SO_REUSEPORT, which would let us share a port another gateway is
        // already serving (the kernel would split its traffic with us): refuse that first.
        if port != 0 {
            guard host.withCString({ cgw_port_is_free($0, Int32(port)) }) == 0 else {
                throw SystemError(errno: cgw_errno(), call: "bind")
            }
        }
        var loops: [EventLoop] = []
        var bound = port
        var fds: [Int32] = []
        for i in 0..<threads {
            var actual: Int32 = 0
            let fd = host.withCString { cgw_listen_tcp($0, Int32(bound), configuration.listenBacklog, 1, &actual) }
            guard fd >= 0 else {
                let e = cgw_errno()
                for f in fds { Posix.close(f) }
                throw SystemError(errno: e, call: "listen")
            }
            fds.append(fd)
            if i == 0 { bound = Int(actual) }
            do {
                let loop = try EventLoop(index: i, configuration: configuration, logger: logger)
                try loop.addListener(fd: fd, tls: tls, factory: factory)
                loops.append(loop)
            } catch {
                // Loops made so far close their own listeners on deinit; the last fd is ours.
                if loops.count < fds.count { Posix.close(fd) }
                throw error
            }
        }
        self.loops = loops
        self.host = host
        self.port = bound
    }

    /// Starts one thread per loop.
    public func start() {
        for loop in loops {
            if let t = LoopThread.start(name: "qv-loop-\(loop.index)", { loop.run() }) {
                threads.append(t)
            } else {
                preconditionFailure("could not start event loop thread \(loop.index)")
            }
        }
    }

    /// Graceful stop: every loop stops accepting and drains (bounded by `timeout` ms); returns
    /// when all loop threads have ended.
    public func shutdown(timeout: Millis) {
        let peers = DrainPeers(loops: loops.count)
        for loop in loops { loop.beginDrain(timeout: timeout, peers: peers) }
        for t in threads { t.join() }
        threads.removeAll()
    }
}

import Log
import Synchronization

/// An event loop with a thread of its own, serving no listener: for foreign sockets (Redis)
/// that must not wait behind client traffic, nor make clients wait behind them.
public final class DedicatedLoop: Sendable {
    public let loop: EventLoop
    private let thread = Mutex<LoopThread?>(nil)

    public init(index: Int, name: String, logger: Logger) throws(SystemError) {
        loop = try EventLoop(index: index, logger: logger)
        let loop = self.loop
        guard let t = LoopThread.start(name: name, { loop.run() }) else {
            throw SystemError(errno: 11, call: "pthread_create")
        }
        thread.withLock { $0 = t }
    }

    /// Stops the loop (after the tasks already queued) and waits for its thread. Idempotent.
    public func stop() {
        guard let t = thread.withLock({ t -> LoopThread? in defer { t = nil }; return t }) else { return }
        loop.beginDrain(timeout: 0)
        t.join()
    }
}

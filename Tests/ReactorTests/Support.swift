// A real event loop on its own thread, driven from the test through `execute`, and bounded
// waits: a test checks state only after it has waited (at most `timeout`) for it.

#if canImport(Glibc)
import Glibc
#endif
import Log
@testable import Reactor
import Synchronization

let testLogger = Logger(level: .warning)

/// Polls `condition` every millisecond for at most `timeout` ms; true once it holds.
func waitUntil(timeout: Int = 5_000, _ condition: () -> Bool) -> Bool {
    let end = Clock.monotonicNanos() + UInt64(timeout) * 1_000_000
    while !condition() {
        if Clock.monotonicNanos() > end { return false }
        usleep(1_000)
    }
    return true
}

/// Values recorded from any thread (usually the loop's), read by the test.
final class Recorder<T: Sendable>: Sendable {
    private let items = Mutex<[T]>([])
    func append(_ t: T) { items.withLock { $0.append(t) } }
    var all: [T] { items.withLock { $0 } }
    var count: Int { items.withLock { $0.count } }
}

/// State created on the loop and used only there (watches, counters of passes), carried
/// through `@Sendable` closures.
// @unchecked: touched only on the loop's thread.
final class LoopLocal<T>: @unchecked Sendable {
    var value: T
    init(_ value: T) { self.value = value }
}

/// One started loop. `stop()` ends it and joins its thread.
final class RunningLoop: Sendable {
    let loop: EventLoop
    private let thread: LoopThread

    init(index: Int = 0, _ adjust: (inout LoopConfiguration) -> Void = { _ in }) throws {
        var cfg = LoopConfiguration()
        adjust(&cfg)
        let loop = try EventLoop(index: index, configuration: cfg, logger: testLogger)
        self.loop = loop
        guard let t = LoopThread.start(name: "test-loop-\(index)", { loop.run() }) else {
            throw SystemError(errno: EAGAIN, call: "pthread_create")
        }
        thread = t
    }

    /// Runs `body` on the loop and waits (bounded) for its result.
    func onLoop<T: Sendable>(_ body: @escaping @Sendable () -> T) -> T? {
        let result = Mutex<T?>(nil)
        loop.execute { result.withLock { $0 = body() } }
        var out: T?
        _ = waitUntil { out = result.withLock { $0 }; return out != nil }
        return out
    }

    func stop() {
        loop.beginDrain(timeout: 0)
        thread.join()
    }
}

/// A pipe whose both ends are non-blocking.
struct Pipe {
    let read: Int32
    let write: Int32

    init() throws {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw SystemError(errno: errno, call: "pipe") }
        for fd in fds { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
        read = fds[0]
        write = fds[1]
    }

    func put(_ byte: UInt8 = 1) {
        var b = byte
        _ = Glibc.write(write, &b, 1)
    }

    /// Reads what is there (non-blocking); returns the count.
    func drain() -> Int {
        var buf = [UInt8](repeating: 0, count: 256)
        var total = 0
        while true {
            let n = Glibc.read(read, &buf, buf.count)
            if n <= 0 { return total }
            total += n
        }
    }

    func close() {
        _ = Glibc.close(read)
        _ = Glibc.close(write)
    }
}

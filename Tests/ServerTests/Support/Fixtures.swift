// An in-process server per test (port 0, its own loops), a real thread for calls that block
// (Server.shutdown), and a child process for the `quantumvest` binary.

#if canImport(Glibc)
import Glibc
#endif
import Log
import Reactor
import Server
import Synchronization

/// One logger for every in-process server (each Logger owns a writer thread).
let testLogger = Logger(level: .warning)

/// A started server with short, test-friendly timeouts. `stop()` drains it.
final class TestServer: Sendable {
    let server: Server
    let configuration: ServerConfiguration

    init(routes: Routes = Routes(), _ adjust: (inout ServerConfiguration) -> Void = { _ in }) throws {
        var cfg = ServerConfiguration()
        cfg.port = 0
        cfg.threads = 2
        cfg.echoEnabled = true
        cfg.headTimeout = 1000
        cfg.keepAliveTimeout = 5000
        cfg.pingInterval = 10_000
        cfg.idleTimeout = 20_000
        cfg.closeTimeout = 500
        cfg.drainTimeout = 1000
        adjust(&cfg)
        configuration = cfg
        server = try Server(configuration: cfg, routes: routes, logger: testLogger)
        server.start()
    }

    var port: Int { server.port }
    var openConnections: Int { server.openConnections }

    func stop() { server.shutdown() }
}

/// A plain pthread (not a cooperative-pool task) for work that blocks.
final class BackgroundThread: Sendable {
    private final class Box {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }

    private let handle: Mutex<pthread_t?> = Mutex(nil)
    private let finishedAt: Mutex<ContinuousClock.Instant?> = Mutex(nil)

    init(_ body: @escaping @Sendable () -> Void) {
        let box = Box { [self] in
            body()
            finishedAt.withLock { $0 = ContinuousClock.now }
        }
        var t = pthread_t()
        let rc = pthread_create(&t, nil, { arg in
            Unmanaged<Box>.fromOpaque(arg!).takeRetainedValue().body()
            return nil
        }, Unmanaged.passRetained(box).toOpaque())
        precondition(rc == 0, "pthread_create failed: \(rc)")
        handle.withLock { $0 = t }
    }

    /// When the body returned, if it has.
    var finished: ContinuousClock.Instant? { finishedAt.withLock { $0 } }

    func join() {
        guard let t = handle.withLock({ h -> pthread_t? in
            let t = h
            h = nil
            return t
        }) else { return }
        pthread_join(t, nil)
    }
}

/// The `quantumvest` executable, built next to the test bundle.
func quantumvestExecutable() -> String? {
    var candidates: [String] = []
    var buf = [CChar](repeating: 0, count: 4096)
    let n = readlink("/proc/self/exe", &buf, 4095)
    if n > 0 {
        let exe = String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        candidates.append(exe)
    }
    if let arg0 = CommandLine.arguments.first { candidates.append(arg0) }
    for exe in candidates {
        var dir = exe
        // Walk up a few levels (a .xctest bundle directory on some platforms).
        for _ in 0..<4 {
            guard let slash = dir.lastIndex(of: "/") else { break }
            dir = String(dir[..<slash])
            let candidate = dir + "/quantumvest"
            if access(candidate, X_OK) == 0 { return candidate }
        }
    }
    return nil
}

/// Serialises spawns (see ChildProcess.init).
private let spawnLock = SpawnLock()

private final class SpawnLock: Sendable {
    private let held = Atomic<Bool>(false)
    func lock() {
        while held.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged == false { sched_yield() }
    }
    func unlock() { held.store(false, ordering: .releasing) }
}

/// A child process with stdout and stderr on pipes. Killed and reaped on deinit if still running.
final class ChildProcess {
    let pid: pid_t
    private let outFD: Int32
    private let errFD: Int32
    private var out = ByteQueue()
    private var err: [UInt8] = []
    private var status: Int32?

    /// Starts `executable` with `arguments`; the environment is the test's, minus every `QV_`
    /// variable, plus `environment`.
    init(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) throws {
        // One spawn at a time: the pipes exist without close-on-exec for a moment, and a
        // concurrent spawn must not inherit them (it would hold our pipes open).
        spawnLock.lock()
        defer { spawnLock.unlock() }
        var outPipe: [Int32] = [-1, -1]
        var errPipe: [Int32] = [-1, -1]
        guard pipe(&outPipe) == 0, pipe(&errPipe) == 0 else { throw ClientError("pipe: errno \(errno)") }
        for fd in outPipe + errPipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var env: [String] = []
        var p = environ
        while let entry = p.pointee {
            let s = String(cString: entry)
            if !s.hasPrefix("QV_") { env.append(s) }
            p += 1
        }
        for (k, v) in environment { env.append("\(k)=\(v)") }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attr, &noSignals)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGTERM)
        sigaddset(&defaults, SIGINT)
        sigaddset(&defaults, SIGPIPE)
        posix_spawnattr_setsigdefault(&attr, &defaults)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = env.map { strdup($0) } + [nil]
        defer {
            for a in argv { free(a) }
            for e in envp { free(e) }
        }
        var child = pid_t()
        let rc = posix_spawn(&child, executable, &actions, &attr, argv, envp)
        Glibc.close(outPipe[1])
        Glibc.close(errPipe[1])
        guard rc == 0 else {
            Glibc.close(outPipe[0])
            Glibc.close(errPipe[0])
            throw ClientError("posix_spawn \(executable): \(rc)")
        }
        pid = child
        outFD = outPipe[0]
        errFD = errPipe[0]
    }

    deinit {
        if status == nil {
            kill(pid, SIGKILL)
            var s: Int32 = 0
            waitpid(pid, &s, 0)
        }
        Glibc.close(outFD)
        Glibc.close(errFD)
    }

    /// Reads what is available on `fd` within `timeoutMs`; false at EOF or timeout.
    private func readSome(_ fd: Int32, timeoutMs: Int, into sink: (UnsafeRawBufferPointer) -> Void) -> Bool {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&p, 1, Int32(max(0, timeoutMs))) > 0 else { return false }
        var buf = [UInt8](repeating: 0, count: 4096)
        let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
        guard n > 0 else { return false }
        buf.withUnsafeBytes { sink(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
        return true
    }

    /// The next line on stdout (without the newline), or nil on timeout/EOF.
    func readLine(timeoutMs: Int) -> String? {
        let start = ContinuousClock.now
        while true {
            if let nl = out.firstIndex(of: [10]) {
                let line = out.take(nl + 1).dropLast()
                return String(decoding: line, as: UTF8.self)
            }
            let left = timeoutMs - millis(since: start)
            guard left > 0, readSome(outFD, timeoutMs: left, into: { out.append($0) }) else { return nil }
        }
    }

    /// Everything on stdout and stderr until both reach EOF (bounded by `timeoutMs`).
    func readAll(timeoutMs: Int) -> (stdout: String, stderr: String) {
        let start = ContinuousClock.now
        var outOpen = true
        var errOpen = true
        var buf = [UInt8](repeating: 0, count: 4096)
        while outOpen || errOpen {
            let left = timeoutMs - millis(since: start)
            if left <= 0 { break }
            var fds: [pollfd] = []
            if outOpen { fds.append(pollfd(fd: outFD, events: Int16(POLLIN), revents: 0)) }
            if errOpen { fds.append(pollfd(fd: errFD, events: Int16(POLLIN), revents: 0)) }
            guard poll(&fds, nfds_t(fds.count), Int32(left)) > 0 else { continue }
            for p in fds where p.revents != 0 {
                let n = buf.withUnsafeMutableBytes { read(p.fd, $0.baseAddress!, $0.count) }
                if n <= 0 {
                    if p.fd == outFD { outOpen = false } else { errOpen = false }
                } else if p.fd == outFD {
                    buf.withUnsafeBytes { out.append(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
                } else {
                    err.append(contentsOf: buf[0..<n])
                }
            }
        }
        return (String(decoding: out.takeAll(), as: UTF8.self), String(decoding: err, as: UTF8.self))
    }

    func signal(_ sig: Int32) { kill(pid, sig) }

    enum Exit: Equatable, CustomStringConvertible {
        case exited(Int32)
        case signaled(Int32)
        var description: String {
            switch self {
            case .exited(let c): "exit status \(c)"
            case .signaled(let s): "killed by signal \(s)"
            }
        }
    }

    /// Waits for the process to end; nil if it is still running after `timeoutMs` (then killed).
    func waitForExit(timeoutMs: Int) -> Exit? {
        let start = ContinuousClock.now
        var s: Int32 = 0
        while true {
            let r = waitpid(pid, &s, WNOHANG)
            if r == pid {
                status = s
                break
            }
            if millis(since: start) >= timeoutMs {
                kill(pid, SIGKILL)
                waitpid(pid, &s, 0)
                status = s
                return nil
            }
            sleepMillis(10)
        }
        let sig = s & 0x7F
        return sig == 0 ? .exited((s >> 8) & 0xFF) : .signaled(sig)
    }
}

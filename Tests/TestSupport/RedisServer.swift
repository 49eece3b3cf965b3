import Foundation

/// A throwaway `redis-server` on 127.0.0.1 for tests: its own port and folder, daemonized with a
/// pid file, so a test can stop, kill, restart, freeze and thaw it, and talk to it through
/// `redis-cli`. Every server started here is killed and its folder removed at exit.
public final class RedisServer: @unchecked Sendable {
    public enum Persistence: Sendable {
        /// No RDB, no AOF: a restart comes back empty.
        case none
        /// AOF; `fsyncAlways`: every write on disk before its reply (a restart loses nothing).
        case appendOnly(fsyncAlways: Bool)
    }

    public let port: Int
    public var url: String { "redis://127.0.0.1:\(port)" }
    private let directory: String
    private let persistence: Persistence
    private let extraConfig: [String]
    // @unchecked: `running` only with `lock` held.
    private let lock = NSLock()
    private var running = false

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    private nonisolated(unsafe) static var owned: [RedisServer] = []
    private static let registry = NSLock()

    /// `extraConfig`: more `--name value` pairs, e.g. ["--client-output-buffer-limit", "pubsub 64kb 32kb 1"].
    public static func start(persistence: Persistence = .none, extraConfig: [String] = []) throws -> RedisServer {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("qv-redis-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let s = RedisServer(port: try freeLoopbackPort(), directory: dir, persistence: persistence, extraConfig: extraConfig)
        registry.lock()
        if owned.isEmpty { atexit { RedisServer.destroyOwned() } }
        owned.append(s)
        registry.unlock()
        try s.start()
        return s
    }

    private init(port: Int, directory: String, persistence: Persistence, extraConfig: [String]) {
        self.port = port
        self.directory = directory
        self.persistence = persistence
        self.extraConfig = extraConfig
    }

    private static func destroyOwned() {
        registry.lock()
        let all = owned
        owned = []
        registry.unlock()
        for s in all { s.destroy() }
    }

    /// Starts (again: same port, same folder and so the same AOF) and waits until it answers PING.
    public func start() throws {
        lock.lock()
        defer { lock.unlock() }
        guard !running else { return }
        var args = ["--port", String(port), "--bind", "127.0.0.1", "--protected-mode", "no", "--daemonize", "yes",
                    "--pidfile", directory + "/redis.pid", "--dir", directory, "--logfile", directory + "/redis.log",
                    "--enable-debug-command", "yes", "--save", ""]
        switch persistence {
        case .none: args += ["--appendonly", "no"]
        case .appendOnly(let always): args += ["--appendonly", "yes", "--appendfsync", always ? "always" : "everysec"]
        }
        args += extraConfig
        let (status, out) = try Self.run(Self.tool("redis-server"), args)
        guard status == 0 else { throw Failure("redis-server did not start: \(out)") }
        let end = Date().addingTimeInterval(10)
        while (try? cliLocked(["PING"])) != "PONG" {
            guard Date() < end else { throw Failure("redis-server did not answer within 10 s: \(logTail())") }
            usleep(20_000)
        }
        running = true
    }

    /// SHUTDOWN (with the AOF written when there is one): a clean stop.
    public func stop() throws {
        lock.lock()
        defer { lock.unlock() }
        guard running else { return }
        _ = try? cliLocked(["SHUTDOWN"])
        try waitGone()
        running = false
    }

    /// SIGKILL: a crash; only what reached the AOF survives.
    public func kill() throws {
        lock.lock()
        defer { lock.unlock() }
        guard running, let pid = pid() else { return }
        Foundation.kill(pid, SIGCONT)
        Foundation.kill(pid, SIGKILL)
        try waitGone()
        running = false
    }

    /// SIGSTOP: the server stops answering and keeps every connection open (a hung host).
    public func suspend() throws {
        guard let pid = pid() else { throw Failure("no running redis-server") }
        Foundation.kill(pid, SIGSTOP)
    }

    public func resume() throws {
        guard let pid = pid() else { throw Failure("no running redis-server") }
        Foundation.kill(pid, SIGCONT)
    }

    /// `redis-cli -p PORT args…`, its output trimmed (CONFIG SET, CLIENT KILL, FLUSHALL, DEBUG SLEEP…).
    @discardableResult
    public func cli(_ args: String...) throws -> String {
        lock.lock()
        defer { lock.unlock() }
        return try cliLocked(args)
    }

    public func destroy() {
        try? kill()
        try? FileManager.default.removeItem(atPath: directory)
    }

    // MARK: Inside

    private func cliLocked(_ args: [String]) throws -> String {
        let (status, out) = try Self.run(Self.tool("redis-cli"), ["-p", String(port)] + args)
        guard status == 0 else { throw Failure("redis-cli \(args.first ?? "") failed: \(out)") }
        return out.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private func pid() -> Int32? {
        guard let text = try? String(contentsOfFile: directory + "/redis.pid", encoding: .utf8) else { return nil }
        return Int32(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    private func waitGone() throws {
        let end = Date().addingTimeInterval(10)
        while let p = pid(), Foundation.kill(p, 0) == 0 {
            // A zombie of a daemon is reaped by init; /proc tells a dead one from a live one.
            if let stat = try? String(contentsOfFile: "/proc/\(p)/stat", encoding: .utf8), stat.contains(") Z ") { break }
            guard Date() < end else { throw Failure("redis-server did not exit within 10 s") }
            usleep(20_000)
        }
        try? FileManager.default.removeItem(atPath: directory + "/redis.pid")
    }

    /// The server's log (what it says of clients it closed, restarts, …).
    public func logText() -> String {
        (try? String(contentsOfFile: directory + "/redis.log", encoding: .utf8)) ?? ""
    }

    private func logTail() -> String {
        let text = (try? String(contentsOfFile: directory + "/redis.log", encoding: .utf8)) ?? ""
        return String(text.suffix(2000))
    }

    private static func tool(_ name: String) -> String {
        for dir in ["/usr/bin", "/usr/local/bin"] where FileManager.default.isExecutableFile(atPath: "\(dir)/\(name)") {
            return "\(dir)/\(name)"
        }
        return "/usr/bin/\(name)"
    }

    private static func run(_ tool: String, _ args: [String]) throws -> (Int32, String) {
        do { return try runTool(tool, args) } catch { throw Failure(error.description) }
    }
}

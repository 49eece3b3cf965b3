import Foundation

/// A throwaway PostgreSQL server on loopback for tests (Foundation only: it drives initdb,
/// pg_ctl and psql). `shared()` is one per test process (or the server `QV_TEST_POSTGRES_URL`
/// names, as scripts/test starts one); `startPrivate()` is one a test owns and may stop and
/// start (outages). PostgreSQL refuses to run as root, so as root (CI) the server runs as the
/// `postgres` system user.
public final class PostgresServer: @unchecked Sendable {
    /// The server's maintenance database (`postgres`), as a libpq URL.
    public let url: String
    public let port: Int
    /// nil for a server this process did not start.
    private let directory: String?
    private let bin: String
    // @unchecked: `running` is only touched with `lock` held.
    private let lock = NSLock()
    private var running: Bool

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    // Only touched with `registry` held.
    private nonisolated(unsafe) static var sharedServer: PostgresServer?
    private nonisolated(unsafe) static var owned: [PostgresServer] = []
    private static let registry = NSLock()

    /// The process's server: started on first use, stopped at exit.
    public static func shared() throws -> PostgresServer {
        registry.lock()
        defer { registry.unlock() }
        if let s = sharedServer { return s }
        let s: PostgresServer
        if let env = ProcessInfo.processInfo.environment["QV_TEST_POSTGRES_URL"], !env.isEmpty {
            s = PostgresServer(url: env)
        } else {
            s = try startNew()
        }
        sharedServer = s
        return s
    }

    /// A server of the caller's own: `stop()`, `start()` (same port and data) and `destroy()`.
    public static func startPrivate() throws -> PostgresServer {
        registry.lock()
        defer { registry.unlock() }
        return try startNew()
    }

    /// With `registry` held.
    private static func startNew() throws -> PostgresServer {
        let bin = try binDirectory()
        let dir = try makeTemporaryDirectory()
        let s = PostgresServer(directory: dir, port: try freeLoopbackPort(), bin: bin)
        if owned.isEmpty { atexit { PostgresServer.destroyOwned() } }
        owned.append(s)
        try s.initialize()
        try s.start()
        return s
    }

    private init(url: String) {
        self.url = url
        port = URLComponents(string: url)?.port ?? 5432
        directory = nil
        bin = (try? Self.binDirectory()) ?? "/usr/bin"
        running = true
    }

    private init(directory: String, port: Int, bin: String) {
        self.directory = directory
        self.port = port
        self.bin = bin
        url = "postgresql://postgres@127.0.0.1:\(port)/postgres"
        running = false
    }

    /// `CREATE DATABASE qv_<random>` and its URL: an empty database per test.
    public func freshDatabase() throws -> String {
        let name = "qv_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(16)
        let psql = FileManager.default.isExecutableFile(atPath: bin + "/psql") ? bin + "/psql" : "/usr/bin/psql"
        let (status, output) = try Self.run(psql, ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", "CREATE DATABASE \(name)"])
        guard status == 0 else { throw Failure("CREATE DATABASE failed: \(output)") }
        var c = URLComponents(string: url)
        c?.path = "/" + name
        guard let fresh = c?.string else { throw Failure("cannot build a URL from \(url)") }
        return fresh
    }

    /// Starts (again) on the same port and data; waits until it accepts connections (≤ 20 s).
    public func start() throws {
        guard let directory else { return }
        lock.lock()
        defer { lock.unlock() }
        guard !running else { return }
        let options = "-p \(port) -c listen_addresses=127.0.0.1 -c unix_socket_directories=\(directory) -c fsync=off " +
            "-c full_page_writes=off -c synchronous_commit=off -c max_connections=200"
        let (status, output) = try runAsServerUser(bin + "/pg_ctl", ["-D", directory + "/data", "-l", directory + "/server.log",
                                                                   "-o", options, "-w", "-t", "20", "start"])
        guard status == 0 else { throw Failure("pg_ctl start failed: \(output)\n\(logTail())") }
        let end = Date().addingTimeInterval(20)
        while true {
            let (ready, _) = try Self.run(bin + "/pg_isready", ["-q", "-h", "127.0.0.1", "-p", String(port)])
            if ready == 0 { break }
            guard Date() < end else { throw Failure("PostgreSQL did not accept connections within 20 s\n\(logTail())") }
            usleep(100_000)
        }
        running = true
    }

    /// `pg_ctl stop -m fast`: connections are cut, as in a server restart.
    public func stop() throws {
        guard let directory else { return }
        lock.lock()
        defer { lock.unlock() }
        guard running else { return }
        let (status, output) = try runAsServerUser(bin + "/pg_ctl", ["-D", directory + "/data", "-m", "fast", "-w", "-t", "20", "stop"])
        guard status == 0 else { throw Failure("pg_ctl stop failed: \(output)") }
        running = false
    }

    /// Freezes the server (SIGSTOP to the postmaster and its children): it stops answering
    /// without closing anything, like a hung host. `resume()` thaws it.
    public func suspend() throws { try signalServer(SIGSTOP) }
    public func resume() throws { try signalServer(SIGCONT) }

    private func signalServer(_ signal: Int32) throws {
        guard let directory,
              let pidFile = try? String(contentsOfFile: directory + "/data/postmaster.pid", encoding: .utf8),
              let first = pidFile.split(separator: "\n").first, let postmaster = Int32(first) else {
            throw Failure("no running server to signal")
        }
        // The postmaster's children, from /proc (ppid is the 4th field of stat, after "(comm)").
        var pids = [postmaster]
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(entry), let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { continue }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 1, Int32(fields[1]) == postmaster { pids.append(pid) }
        }
        if signal == SIGCONT { pids.reverse() }
        for pid in pids { kill(pid, signal) }
    }

    /// Stops the server and deletes its files.
    public func destroy() {
        guard let directory else { return }
        try? resume()
        try? stop()
        try? FileManager.default.removeItem(atPath: directory)
    }

    private static func destroyOwned() {
        for s in owned { s.destroy() }
        owned = []
    }

    private func initialize() throws {
        guard let directory else { return }
        let (status, output) = try runAsServerUser(bin + "/initdb", ["-D", directory + "/data", "-U", "postgres", "-A", "trust",
                                                                   "-E", "UTF8", "--locale=C", "--no-sync"])
        guard status == 0 else { throw Failure("initdb failed: \(output)") }
    }

    private func logTail() -> String {
        guard let directory, let log = try? String(contentsOfFile: directory + "/server.log", encoding: .utf8) else { return "(no server log)" }
        return "server log (tail):\n" + log.split(separator: "\n").suffix(20).joined(separator: "\n")
    }

    // MARK: processes and files

    private func runAsServerUser(_ tool: String, _ args: [String]) throws -> (Int32, String) {
        getuid() == 0 ? try Self.run("/usr/sbin/runuser", ["-u", "postgres", "--", tool] + args) : try Self.run(tool, args)
    }

    private static func run(_ tool: String, _ args: [String]) throws -> (Int32, String) {
        do { return try runTool(tool, args) } catch { throw Failure(error.description) }
    }

    /// The newest /usr/lib/postgresql/*/bin with initdb.
    private static func binDirectory() throws -> String {
        let root = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).compactMap { Int($0) }.sorted()
        for v in versions.reversed() where FileManager.default.isExecutableFile(atPath: "\(root)/\(v)/bin/initdb") {
            return "\(root)/\(v)/bin"
        }
        throw Failure("no PostgreSQL server binaries under \(root)")
    }

    private static func makeTemporaryDirectory() throws -> String {
        var template = Array("/tmp/qv-pg-XXXXXX".utf8CString)
        guard let p = mkdtemp(&template) else { throw Failure("mkdtemp failed: errno \(errno)") }
        let dir = String(cString: p)
        if getuid() == 0 {
            let (status, output) = try run("/bin/chown", ["postgres:postgres", dir])
            guard status == 0 else { throw Failure("chown postgres \(dir) failed: \(output)") }
        }
        return dir
    }
}

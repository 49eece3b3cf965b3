import Foundation

public struct PortFailure: Error, CustomStringConvertible {
    public let description: String
}

/// A TCP port on 127.0.0.1 that was free a moment ago (the kernel's pick for port 0).
public func freeLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw PortFailure(description: "socket failed") }
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = 0
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &addr) { a in
        a.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
            bind(fd, sa, len) == 0 && getsockname(fd, sa, &len) == 0
        }
    }
    guard bound else { throw PortFailure(description: "bind to a free port failed") }
    return Int(UInt16(bigEndian: addr.sin_port))
}

/// Runs a tool to its end, output into a file. posix_spawn + waitpid rather than Foundation's
/// Process: its waitUntilExit never returned once a tool had left a daemon running behind
/// (pg_ctl, redis-server --daemonize: the child exited, unreaped), and a pipe would stay open
/// in the daemon forever.
public func runTool(_ tool: String, _ args: [String]) throws(PortFailure) -> (Int32, String) {
    let outPath = NSTemporaryDirectory() + "qv-tool-\(UUID().uuidString).out"
    defer { try? FileManager.default.removeItem(atPath: outPath) }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    posix_spawn_file_actions_adddup2(&actions, 1, 2)
    let argv: [UnsafeMutablePointer<CChar>?] = ([tool] + args).map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    var pid = pid_t()
    let rc = posix_spawn(&pid, tool, &actions, nil, argv, environ)
    guard rc == 0 else { throw PortFailure(description: "cannot run \(tool): errno \(rc)") }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 {
        guard errno == EINTR else { throw PortFailure(description: "waitpid \(tool): errno \(errno)") }
    }
    // WIFEXITED / WEXITSTATUS are macros: exit code in bits 8-15, low 7 bits 0 when exited.
    let code: Int32 = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    let text = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
    return (code, text.trimmingCharacters(in: .whitespacesAndNewlines))
}

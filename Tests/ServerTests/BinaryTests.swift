// The `quantumvest serve` executable as operators and scripts use it (§3): the readiness line,
// SIGTERM drain with exit 0, usage errors with exit 2, and environment twins of flags.

#if canImport(Glibc)
import Glibc
#endif
import TestSupport
import Testing

@Suite("quantumvest binary")
struct BinaryTests {
    private func executable() throws -> String {
        try #require(quantumvestExecutable(), "quantumvest not found next to the test bundle (\(CommandLine.arguments.first ?? "?"))")
    }

    /// Starts `serve` and returns the process and the port from its `listening on` line.
    private func serve(_ arguments: [String], environment: [String: String] = [:]) throws -> (ChildProcess, Int) {
        let child = try ChildProcess(try executable(), ["serve", "--port", "0", "--threads", "2", "--log-level", "warning", "--data-dir", try TemporaryDirectory.make(prefix: "qv-bin")] + arguments,
                                     environment: environment)
        let line = try #require(child.readLine(timeoutMs: 10_000), "no 'listening on' line: \(child.readAll(timeoutMs: 500))")
        let prefix = "listening on 127.0.0.1:"
        #expect(line.hasPrefix(prefix), "first stdout line: '\(line)'")
        let port = try #require(Int(line.dropFirst(prefix.count)), "no port in '\(line)'")
        #expect(port > 0 && port < 65536)
        return (child, port)
    }

    @Test func serveEchoesThenDrainsOnSIGTERMAndExitsZero() throws {
        let (child, port) = try serve(["--echo"])
        let client = try TCPClient.webSocket(port: port)
        let payload = patternBytes(3000, seed: 50)
        #expect(try client.roundTrip(WSFrame.binary(payload)).wireBytes == WSFrame.expectedServerFrame(Op.binary, payload))
        let health = try TCPClient(port: port)
        #expect(try health.exchange(rawRequest("/healthz", ["Host: 127.0.0.1"])).status == 200)

        child.signal(SIGTERM)
        // The connected WebSocket is told the server is going away, and answers.
        let frame = try client.readFrame(timeoutMs: 3000)
        #expect(frame.closeCode == 1001, "\(frame)")
        try client.send(WSFrame.close(1001))
        #expect(client.awaitClose(timeoutMs: 3000) == .eof(leftover: []))
        #expect(health.awaitClose(timeoutMs: 3000) == .eof(leftover: []))
        client.close()
        health.close()
        let t = ContinuousClock.now
        #expect(child.waitForExit(timeoutMs: 5000) == .exited(0))
        #expect(millis(since: t) < 2000, "exit took \(millis(since: t)) ms after the last client left")
        let rest = child.readAll(timeoutMs: 1000)
        #expect(rest.stdout.isEmpty, "more on stdout after the ready line: \(rest.stdout)")
    }

    @Test(arguments: [SIGTERM, SIGINT])
    func idleServerExitsZeroOnSignal(_ sig: Int32) throws {
        let (child, port) = try serve(["--echo"])
        let client = try TCPClient(port: port)
        #expect(try client.exchange(rawRequest("/readyz", ["Host: 127.0.0.1", "Connection: close"])).status == 200)
        client.close()
        let t = ContinuousClock.now
        child.signal(sig)
        #expect(child.waitForExit(timeoutMs: 5000) == .exited(0))
        #expect(millis(since: t) < 1500, "exit took \(millis(since: t)) ms with no connections")
    }

    @Test func echoIsOffWithoutTheFlag() throws {
        let (child, port) = try serve([])
        let client = try TCPClient(port: port)
        #expect(try client.exchange(rawRequest("/echo", upgradeHeaders())).status == 404)
        child.signal(SIGTERM)
        #expect(child.waitForExit(timeoutMs: 5000) == .exited(0))
    }

    struct UsageCase: Sendable, CustomTestStringConvertible {
        let arguments: [String]
        let environment: [String: String]
        let mentions: String
        var testDescription: String { "\(environment) \(arguments.joined(separator: " "))" }
    }

    @Test(arguments: [
        UsageCase(arguments: ["serve", "--port", "nope"], environment: [:], mentions: "--port"),
        UsageCase(arguments: ["serve", "--port", "70000"], environment: [:], mentions: "--port"),
        UsageCase(arguments: ["serve", "--bogus"], environment: [:], mentions: "--bogus"),
        UsageCase(arguments: ["serve", "--max-message"], environment: [:], mentions: "--max-message"),
        UsageCase(arguments: ["serve", "--max-message", "0"], environment: [:], mentions: "--max-message"),
        UsageCase(arguments: ["serve", "--echo=yes"], environment: [:], mentions: "--echo"),
        UsageCase(arguments: ["serve", "--history-memory", "1000"], environment: [:], mentions: "--history-memory"),
        UsageCase(arguments: ["serve"], environment: ["QV_PORT": "nope"], mentions: "port"),
        UsageCase(arguments: ["frobnicate"], environment: [:], mentions: "frobnicate"),
        UsageCase(arguments: [], environment: [:], mentions: "usage"),
    ])
    func usageErrorsExitTwoWithAMessageOnStderr(_ c: UsageCase) throws {
        let child = try ChildProcess(try executable(), c.arguments, environment: c.environment)
        #expect(child.waitForExit(timeoutMs: 5000) == .exited(2))
        let output = child.readAll(timeoutMs: 1000)
        #expect(output.stderr.contains(c.mentions), "stderr: \(output.stderr)")
        #expect(!output.stdout.contains("listening on"))
    }

    /// A plain listening socket on 127.0.0.1 (no SO_REUSEPORT); returns its fd and port.
    private func plainListener() throws -> (Int32, Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, len) == 0 && listen(fd, 16) == 0 && getsockname(fd, $0, &len) == 0
            }
        }
        guard fd >= 0, ok else { throw ClientError("plain listener: errno \(errno)") }
        return (fd, Int(UInt16(bigEndian: addr.sin_port)))
    }

    @Test func portHeldByAnotherProgramIsRefusedWithExitOne() throws {
        let (fd, port) = try plainListener()
        defer { close(fd) }
        let child = try ChildProcess(try executable(), ["serve", "--port", String(port), "--threads", "2", "--data-dir", try TemporaryDirectory.make(prefix: "qv-bin")])
        #expect(child.waitForExit(timeoutMs: 5000) == .exited(1))
        let output = child.readAll(timeoutMs: 1000)
        #expect(output.stderr.contains("cannot listen"), "stderr: \(output.stderr)")
        #expect(!output.stdout.contains("listening on"))
    }

    @Test func portHeldByAnotherGatewayIsRefusedWithExitOne() throws {
        // An operator starting a second gateway on a busy port must get an error, not a
        // process that silently shares the port (SO_REUSEPORT) and takes part of the traffic.
        let (first, port) = try serve(["--echo"])
        defer {
            first.signal(SIGTERM)
            #expect(first.waitForExit(timeoutMs: 5000) == .exited(0))
        }
        let second = try ChildProcess(try executable(), ["serve", "--port", String(port), "--threads", "2", "--echo"])
        let exit = second.waitForExit(timeoutMs: 3000)
        let output = second.readAll(timeoutMs: 500)
        #expect(exit == .exited(1), "second gateway on port \(port): \(exit.map { "\($0)" } ?? "still running after 3 s"), stdout: \(output.stdout)")
        #expect(!output.stdout.contains("listening on"))
    }

    @Test func maxMessageEnvironmentTwinApplies() throws {
        let (child, port) = try serve(["--echo"], environment: ["QV_MAX_MESSAGE": "100"])
        defer {
            child.signal(SIGTERM)
            #expect(child.waitForExit(timeoutMs: 5000) == .exited(0))
        }
        let client = try TCPClient.webSocket(port: port)
        let ok = patternBytes(100, seed: 51)
        #expect(try client.roundTrip(WSFrame.binary(ok)).wireBytes == WSFrame.expectedServerFrame(Op.binary, ok))
        try client.send(WSFrame.binary(patternBytes(200, seed: 52)))
        let frame = try client.readFrame()
        #expect(frame.opcode == Op.close && frame.closeCode == 1009, "\(frame)")
        #expect(client.awaitClose(timeoutMs: 2000) == .eof(leftover: []))
    }

    @Test func commandLineWinsOverTheEnvironment() throws {
        let (child, port) = try serve(["--echo", "--max-message", "300"], environment: ["QV_MAX_MESSAGE": "100"])
        defer {
            child.signal(SIGTERM)
            #expect(child.waitForExit(timeoutMs: 5000) == .exited(0))
        }
        let client = try TCPClient.webSocket(port: port)
        let p = patternBytes(200, seed: 53)
        #expect(try client.roundTrip(WSFrame.binary(p)).wireBytes == WSFrame.expectedServerFrame(Op.binary, p))
    }

    @Test func echoEnvironmentTwin() throws {
        let (child, port) = try serve([], environment: ["QV_ECHO": "1"])
        defer {
            child.signal(SIGTERM)
            #expect(child.waitForExit(timeoutMs: 5000) == .exited(0))
        }
        let client = try TCPClient.webSocket(port: port)
        #expect(try client.roundTrip(WSFrame.text("env")).payload == Array("env".utf8))
    }
}

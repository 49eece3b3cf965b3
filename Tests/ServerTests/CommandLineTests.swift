// `quantumvest` subcommands and `serve` flags through the real binary: version, help from the
// modules' defaults, the refusals that name their flag (exit 2), repeatable environment twins,
// the static folder, JSON logs without secrets.

#if canImport(Glibc)
import Glibc
#endif
import TestSupport
import Testing

@Suite("quantumvest command line")
struct CommandLineTests {
    private func executable() throws -> String {
        try #require(quantumvestExecutable(), "quantumvest not found next to the test bundle")
    }

    private func run(_ arguments: [String], environment: [String: String] = [:]) throws -> (ChildProcess.Exit?, String, String) {
        let child = try ChildProcess(try executable(), arguments, environment: environment)
        let exit = child.waitForExit(timeoutMs: 5000)
        let output = child.readAll(timeoutMs: 1000)
        return (exit, output.stdout, output.stderr)
    }

    /// `serve` on a free port; returns the process and its port.
    private func serve(_ arguments: [String], environment: [String: String] = [:]) throws -> (ChildProcess, Int) {
        let child = try ChildProcess(try executable(), ["serve", "--port", "0", "--threads", "1", "--data-dir", try TemporaryDirectory.make(prefix: "qv-cli")] + arguments,
                                     environment: environment)
        let line = try #require(child.readLine(timeoutMs: 10_000), "no 'listening on' line: \(child.readAll(timeoutMs: 500))")
        let port = try #require(Int(line.dropFirst("listening on 127.0.0.1:".count)), "no port in '\(line)'")
        return (child, port)
    }

    @Test func versionPrintsAVersionString() throws {
        let (exit, out, _) = try run(["version"])
        #expect(exit == .exited(0))
        #expect(out.hasPrefix("quantumvest ") && out.count > "quantumvest \n".count, "stdout: \(out)")
    }

    @Test func serveHelpShowsTheModulesDefaultsAndTheEnvironmentRule() throws {
        let (exit, out, _) = try run(["serve", "--help"])
        #expect(exit == .exited(0))
        for text in ["--port <port>", "(default: 8080)", "(default: 1048576)", "(default: 127.0.0.1)", "QV_MAX_MESSAGE",
                     "--static-dir", "--response-timeout", "(default: 300)"] {
            #expect(out.contains(text), "help lacks \(text): \(out)")
        }
    }

    struct Refusal: Sendable, CustomTestStringConvertible {
        let arguments: [String]
        let environment: [String: String]
        let mentions: [String]
        var testDescription: String { "\(environment) \(arguments.joined(separator: " "))" }
    }

    @Test(arguments: [
        Refusal(arguments: ["import-bars", "bars.csv", "--postgres", "mysql://u:pw@h/db"], environment: [:], mentions: ["--postgres"]),
        Refusal(arguments: ["import-bars"], environment: [:], mentions: ["<file>"]),
        Refusal(arguments: ["serve", "--postgres", "mysql://u:pw@h/db"], environment: [:], mentions: ["--postgres"]),
        Refusal(arguments: ["serve", "--redis", "redis://h"], environment: [:], mentions: ["--redis"]),
        Refusal(arguments: ["serve", "--risk-benchmark", "spy"], environment: [:], mentions: ["--risk-benchmark"]),
        Refusal(arguments: ["serve", "--risk-free-rate", "4"], environment: [:], mentions: ["--risk-free-rate"]),
        Refusal(arguments: ["serve", "--portfolio-history-ttl", "5"], environment: [:], mentions: ["--portfolio-history-ttl"]),
        Refusal(arguments: ["serve"], environment: ["QV_MINUTE_BARS_DAYS": "0"], mentions: ["--minute-bars-days"]),
        Refusal(arguments: ["serve", "--tls-cert", "/tmp/c.pem"], environment: [:], mentions: ["--tls-key"]),
        Refusal(arguments: ["serve"], environment: ["QV_TLS_KEY": "/tmp/k.pem"], mentions: ["--tls-cert"]),
        Refusal(arguments: ["serve"], environment: ["QV_ECHO": "maybe"], mentions: ["QV_ECHO"]),
        Refusal(arguments: ["serve", "--deflate-window-bits", "8"], environment: [:], mentions: ["--deflate-window-bits"]),
        Refusal(arguments: ["serve", "--log-format", "xml"], environment: [:], mentions: ["--log-format"]),
        Refusal(arguments: ["serve", "--response-timeout", "5"], environment: [:], mentions: ["--response-timeout"]),
        Refusal(arguments: ["serve"], environment: ["QV_PUBLISHER_KEY": "long-enough-key-000,short"], mentions: ["--publisher-key"]),
        // Twins come from the parser's option list: no option is left without one.
        Refusal(arguments: ["serve"], environment: ["QV_HEAD_TIMEOUT": "5"], mentions: ["--head-timeout", "QV_HEAD_TIMEOUT"]),
        Refusal(arguments: ["serve"], environment: ["QV_DEFLATE": "maybe"], mentions: ["--deflate"]),
        Refusal(arguments: ["serve"], environment: ["QV_DEFLATE_SERVER_CONTEXT_TAKEOVER": "2"], mentions: ["QV_DEFLATE_SERVER_CONTEXT_TAKEOVER"]),
    ])
    func refusalsExitTwoAndNameTheFlag(_ c: Refusal) throws {
        let (exit, out, err) = try run(c.arguments, environment: c.environment)
        #expect(exit == .exited(2), "stderr: \(err)")
        for m in c.mentions { #expect(err.contains(m), "stderr lacks \(m): \(err)") }
        #expect(!out.contains("listening on"))
        #expect(!err.contains("u:pw"), "a URL's password in the message: \(err)")
        #expect(!err.contains("long-enough-key-000"), "a key in the message: \(err)")
    }

    @Test func repeatableEnvironmentTwinIsCommaSeparated() throws {
        let keys = ["first-publisher-key-0001", "second-publisher-key-002"]
        let (child, port) = try serve([], environment: ["QV_PUBLISHER_KEY": keys.joined(separator: ",")])
        defer {
            child.signal(SIGTERM)
            #expect(child.waitForExit(timeoutMs: 5000) == .exited(0))
        }
        for key in keys + ["not-a-configured-key-0003"] {
            let client = try TCPClient(port: port)
            defer { client.close() }
            let body = #"{"channel":"prices:AAPL","data":{"symbol":"AAPL","price":"1.5","ts":1}}"#
            let reply = try client.exchange(rawRequest("POST", "/api/v1/publish", [
                "Host: 127.0.0.1", "Authorization: Bearer \(key)", "Content-Type: application/json",
                "Content-Length: \(body.utf8.count)",
            ]) + Array(body.utf8))
            #expect(reply.status == (keys.contains(key) ? 200 : 401), "\(key): \(reply.statusLine)")
        }
    }

    @Test func staticDirEnvironmentTwinServesTheFolder() throws {
        let folder = try StaticFolder.make(["index.html": "<h1>dashboard</h1>"])
        // QV_VERSION is a common deployment variable: it is not a twin of `--version`.
        let (child, port) = try serve([], environment: ["QV_STATIC_DIR": folder.path, "QV_VERSION": "1.2.3"])
        defer {
            child.signal(SIGTERM)
            #expect(child.waitForExit(timeoutMs: 5000) == .exited(0))
        }
        let client = try TCPClient(port: port)
        defer { client.close() }
        let reply = try client.exchange(rawRequest("/", ["Host: 127.0.0.1"]))
        #expect(reply.status == 200 && reply.bodyText == "<h1>dashboard</h1>")
    }

    /// Kilobytes of resident memory of `pid` (VmRSS).
    private func residentKiB(_ pid: pid_t) -> Int? {
        let fd = open("/proc/\(pid)/status", O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buf = [UInt8](repeating: 0, count: 8192)
        let n = read(fd, &buf, buf.count)
        guard n > 0 else { return nil }
        let text = String(decoding: buf[0..<n], as: UTF8.self)
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) else { return nil }
        return Int(line.split(separator: " ").dropFirst().first ?? "")
    }

    @Test func pipelinedGetsOfABigFileFromClientsThatDoNotReadCostNoCopies() throws {
        // 20 connections x 15 pipelined GETs of a 4 MB file, none of them reading: answers
        // queue the file by reference. (Copied per answer, this took the server from 23 MB to
        // ~900 MB of RSS.)
        let folder = try StaticFolder.make(["big.bin": String(repeating: "q", count: 4 << 20)])
        let (child, port) = try serve(["--static-dir", folder.path])
        defer {
            child.signal(SIGTERM)
            #expect(child.waitForExit(timeoutMs: 10_000) == .exited(0))
        }
        let before = try #require(residentKiB(child.pid))
        let request = Array("GET /big.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8)
        var hogs: [TCPClient] = []
        for _ in 0..<20 {
            let c = try TCPClient(port: port, receiveBuffer: 4096)
            try c.send(Array((0..<15).map { _ in request }.joined()))
            hogs.append(c)
        }
        defer { for c in hogs { c.close() } }
        // One event loop: once a later request is answered, the earlier reads were handled.
        let probe = try TCPClient(port: port)
        defer { probe.close() }
        #expect(try probe.exchange(rawRequest("/healthz", ["Host: 127.0.0.1"])).status == 200)
        let after = try #require(residentKiB(child.pid))
        #expect(after - before < 48 << 10, "RSS grew by \((after - before) >> 10) MiB")
    }

    @Test func missingStaticDirExitsOne() throws {
        let (exit, _, err) = try run(["serve", "--port", "0", "--static-dir", "/nonexistent/qv"])
        #expect(exit == .exited(1))
        #expect(err.contains("--static-dir") && err.contains("/nonexistent/qv"), "stderr: \(err)")
    }

    @Test func jsonLogsCarryNoSecrets() throws {
        let key = "publisher-secret-key-9876"
        let (child, port) = try serve(["--log-format", "json", "--log-level", "debug", "--jwt-secret", "jwt-secret-value-0123456789abcdef-0123"],
                                      environment: ["QV_PUBLISHER_KEY": key])
        // A refused handshake with a token in the query is logged at debug.
        let client = try TCPClient(port: port)
        _ = try client.exchange(rawRequest("/ws?access_token=leaked-token-123", upgradeHeaders()))
        client.close()
        child.signal(SIGTERM)
        #expect(child.waitForExit(timeoutMs: 5000) == .exited(0))
        let err = child.readAll(timeoutMs: 1000).stderr
        let lines = err.split(separator: "\n")
        #expect(lines.contains { $0.hasPrefix("{") && $0.contains("\"msg\":\"listening\"") }, "stderr: \(err)")
        #expect(lines.allSatisfy { $0.hasPrefix("{") && $0.hasSuffix("}") }, "not all JSON: \(err)")
        for secret in [key, "jwt-secret-value-0123456789abcdef-0123", "leaked-token-123"] { #expect(!err.contains(secret), "\(secret) in the log") }
    }
}

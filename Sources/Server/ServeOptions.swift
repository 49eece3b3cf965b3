import Log
import Reactor
import WebSocketProtocol

/// `quantumvest serve` options. Every flag has an environment twin (`--max-message` ↔
/// `QV_MAX_MESSAGE`); the command line wins over the environment, which wins over defaults.
public struct ServeOptions: Sendable {
    public var server = ServerConfiguration()
    public var logLevel: LogLevel = .info
    public var logFormat: LogFormat = .text
    public var dataDirectory = "./data"
    public var postgresURL: String?
    public var redisURL: String?
    public var publisherKeys: [String] = []
    public var jwtSecret: String?
    public var jwtSecretFile: String?
    public var tlsCertificate: String?
    public var tlsKey: String?
    public var demo = false
    public var allowedOrigins: [String] = []
    public var historySize = 1_000
    public var historyTTLSeconds = 300
    public var historyBytes = 256 << 20

    public init() {}

    public struct UsageError: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    /// Flag name, whether it takes a value, and its one-line help.
    static let flags: [(String, Bool, String)] = [
        ("host", true, "address to listen on (default 127.0.0.1)"),
        ("port", true, "TCP port (default 8080; 0 picks a free one)"),
        ("threads", true, "event loops, one per core by default"),
        ("echo", false, "serve /echo (conformance tests and benchmarks; off by default)"),
        ("max-message", true, "largest WebSocket message in bytes (default 1048576)"),
        ("data-dir", true, "directory of the SQLite store (default ./data)"),
        ("postgres", true, "PostgreSQL URL (instead of SQLite)"),
        ("redis", true, "Redis URL (fan-out across replicas)"),
        ("publisher-key", true, "a key that grants the publisher role (repeatable; env: comma-separated)"),
        ("jwt-secret", true, "HMAC secret for access tokens"),
        ("jwt-secret-file", true, "file holding the JWT secret"),
        ("allowed-origin", true, "browser origin allowed on /ws besides our own (repeatable; * for any)"),
        ("history-size", true, "events kept per channel for recovery (default 1000)"),
        ("history-ttl", true, "seconds an event stays replayable (default 300)"),
        ("history-memory", true, "bytes all channels' histories may hold together (default 268435456)"),
        ("tls-cert", true, "PEM certificate chain (turns on TLS)"),
        ("tls-key", true, "PEM private key"),
        ("demo", false, "run the built-in simulated market feed"),
        ("deflate", true, "permessage-deflate: on|off (default on)"),
        ("deflate-min-size", true, "messages shorter than this go out uncompressed (default 256)"),
        ("deflate-window-bits", true, "largest window we compress with, 9-15 (default 15)"),
        ("deflate-server-context-takeover", false, "keep our compression context between messages (costs ~300 KiB per connection)"),
        ("deflate-client-context-takeover", false, "let clients keep theirs (costs a ~40 KiB inflater per connection)"),
        ("log-level", true, "trace|debug|info|notice|warning|error (default info)"),
        ("log-format", true, "text|json (default text)"),
        ("head-timeout", true, "ms for a request head to arrive (default 10000)"),
        ("ping-interval", true, "ms between WebSocket pings (default 25000)"),
        ("idle-timeout", true, "ms of silence before close 4000 (default 60000)"),
        ("close-timeout", true, "ms to wait for the peer's close frame (default 5000)"),
        ("drain-timeout", true, "ms SIGTERM waits for connections to close (default 10000)"),
    ]

    public static var usage: String {
        var s = "usage: quantumvest serve [options]\n\noptions (each also as an environment variable, e.g. --max-message ↔ QV_MAX_MESSAGE):\n"
        for (name, takesValue, help) in flags {
            let left = "  --\(name)\(takesValue ? " VALUE" : "")"
            s += left + String(repeating: " ", count: max(1, 26 - left.count)) + help + "\n"
        }
        return s
    }

    static func envName(_ flag: String) -> String {
        "QV_" + String(flag.uppercased().map { $0 == "-" ? "_" : $0 })
    }

    /// Parses the arguments after `serve`.
    public static func parse(_ arguments: [String], environment: [String: String], cores: Int) throws(UsageError) -> ServeOptions {
        var values: [String: [String]] = [:]
        // Environment first, then the command line replaces.
        for (name, takesValue, _) in flags {
            guard let v = environment[envName(name)], !v.isEmpty else { continue }
            if name == "publisher-key" || name == "allowed-origin" {
                values[name] = v.split(separator: ",").map { String($0) }
            } else {
                values[name] = [takesValue ? v : (["1", "true", "yes", "on"].contains(v.lowercased()) ? "true" : "false")]
            }
        }
        var fromCommandLine: Set<String> = []
        var i = 0
        while i < arguments.count {
            let arg = arguments[i]
            guard arg.hasPrefix("--") else { throw UsageError(description: "unexpected argument '\(arg)'") }
            var name = String(arg.dropFirst(2))
            var inline: String?
            if let eq = name.firstIndex(of: "=") {
                inline = String(name[name.index(after: eq)...])
                name = String(name[..<eq])
            }
            guard let flag = flags.first(where: { $0.0 == name }) else { throw UsageError(description: "unknown option '--\(name)'") }
            var value = "true"
            if flag.1 {
                if let inline {
                    value = inline
                } else {
                    i += 1
                    guard i < arguments.count else { throw UsageError(description: "--\(name) needs a value") }
                    value = arguments[i]
                }
            } else if inline != nil {
                throw UsageError(description: "--\(name) takes no value")
            }
            if (name == "publisher-key" || name == "allowed-origin") && fromCommandLine.contains(name) {
                values[name, default: []].append(value)
            } else {
                values[name] = [value]
            }
            fromCommandLine.insert(name)
            i += 1
        }
        return try build(values, cores: cores)
    }

    private static func build(_ v: [String: [String]], cores: Int) throws(UsageError) -> ServeOptions {
        var o = ServeOptions()
        o.server.threads = max(1, cores)
        func int(_ name: String, _ range: ClosedRange<Int>) throws(UsageError) -> Int? {
            guard let s = v[name]?.last else { return nil }
            guard let n = Int(s), range.contains(n) else {
                throw UsageError(description: "--\(name) must be an integer in \(range.lowerBound)...\(range.upperBound), got '\(s)'")
            }
            return n
        }
        if let h = v["host"]?.last { o.server.host = h }
        if let p = try int("port", 0...65535) { o.server.port = p }
        if let t = try int("threads", 1...256) { o.server.threads = t }
        o.server.echoEnabled = v["echo"]?.last == "true"
        if let m = try int("max-message", 1...(1 << 30)) { o.server.maxMessageSize = m }
        if let t = try int("head-timeout", 100...600_000) { o.server.headTimeout = Millis(t) }
        if let t = try int("ping-interval", 100...3_600_000) { o.server.pingInterval = Millis(t) }
        if let t = try int("idle-timeout", 100...3_600_000) { o.server.idleTimeout = Millis(t) }
        if let t = try int("close-timeout", 100...600_000) { o.server.closeTimeout = Millis(t) }
        if let t = try int("drain-timeout", 0...600_000) { o.server.drainTimeout = Millis(t) }
        if let d = v["deflate"]?.last {
            switch d.lowercased() {
            case "on", "true", "1", "yes": o.server.deflate.enabled = true
            case "off", "false", "0", "no": o.server.deflate.enabled = false
            default: throw UsageError(description: "--deflate must be on or off, got '\(d)'")
            }
        }
        if let m = try int("deflate-min-size", 0...(1 << 30)) { o.server.deflate.minMessageSize = m }
        if let w = try int("deflate-window-bits", 9...15) { o.server.deflate.serverMaxWindowBits = w }
        if v["deflate-server-context-takeover"]?.last == "true" { o.server.deflate.serverNoContextTakeover = false }
        if v["deflate-client-context-takeover"]?.last == "true" { o.server.deflate.clientNoContextTakeover = false }
        if let d = v["data-dir"]?.last { o.dataDirectory = d }
        o.postgresURL = v["postgres"]?.last
        o.redisURL = v["redis"]?.last
        o.publisherKeys = v["publisher-key"] ?? []
        if o.publisherKeys.contains(where: { $0.utf8.count < 16 }) {
            throw UsageError(description: "--publisher-key: keys must be at least 16 characters")
        }
        o.allowedOrigins = v["allowed-origin"] ?? []
        if let n = try int("history-size", 0...1_000_000) { o.historySize = n }
        if let n = try int("history-ttl", 1...86_400) { o.historyTTLSeconds = n }
        if let n = try int("history-memory", (1 << 20)...(1 << 40)) { o.historyBytes = n }
        o.jwtSecret = v["jwt-secret"]?.last
        o.jwtSecretFile = v["jwt-secret-file"]?.last
        o.tlsCertificate = v["tls-cert"]?.last
        o.tlsKey = v["tls-key"]?.last
        o.demo = v["demo"]?.last == "true"
        if let l = v["log-level"]?.last {
            guard let level = LogLevel(name: l) else { throw UsageError(description: "--log-level must be one of trace, debug, info, notice, warning, error") }
            o.logLevel = level
        }
        if let f = v["log-format"]?.last {
            guard let format = LogFormat(rawValue: f) else { throw UsageError(description: "--log-format must be text or json") }
            o.logFormat = format
        }
        // Features that later issues bring: refuse rather than silently serve without them.
        if (o.tlsCertificate == nil) != (o.tlsKey == nil) {
            throw UsageError(description: "TLS needs both --tls-cert and --tls-key")
        }
        o.server.tlsCertificatePath = o.tlsCertificate
        o.server.tlsKeyPath = o.tlsKey
        if o.postgresURL != nil { throw UsageError(description: "--postgres is not implemented yet") }
        if o.redisURL != nil { throw UsageError(description: "--redis is not implemented yet") }
        if o.demo { throw UsageError(description: "--demo is not implemented yet") }
        return o
    }
}

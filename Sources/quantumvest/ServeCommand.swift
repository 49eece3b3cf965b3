import Accounts
import App
import Demo
import ArgumentParser
import Gateway
import Log
import Market
import Portfolio
import Reactor
import Redis
import Server
import Store
import WebSocketProtocol

#if canImport(Glibc)
import Glibc
#endif

/// `quantumvest serve`. Each option's default is read from the module that owns the setting,
/// so help and behaviour cannot disagree; every option also has a `QV_` environment twin
/// (`EnvironmentTwins`).
struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Start the realtime gateway.",
        discussion: """
            Every option can also be set through its environment twin: --max-message ↔ QV_MAX_MESSAGE \
            (repeatable options comma-separated, flags as 1/0). The command line wins over the \
            environment, which wins over the defaults. Prints 'listening on HOST:PORT' when ready; \
            SIGTERM drains and exits 0.
            """)

    // Defaults, read once from the modules.
    private static let server = ServerConfiguration()
    private static let gateway = GatewayConfiguration()
    private static let app = AppConfiguration()
    private static let store = StoreConfiguration()
    private static let accounts = AccountsConfiguration()

    @Option(help: "Address to listen on.")
    var host = server.host
    @Option(help: "TCP port (0 picks a free one).")
    var port = server.port
    @Option(help: "Event loops, one per core by default.")
    var threads = server.threads
    @Flag(help: "Serve /echo (conformance tests and benchmarks).")
    var echo = false
    @Option(help: ArgumentHelp("Largest WebSocket message.", valueName: "bytes"))
    var maxMessage = server.maxMessageSize

    @Option(help: ArgumentHelp(StoreFlags.dataDirHelp, valueName: "path"))
    var dataDir = StoreConfiguration.defaultDataDirectory
    @Option(help: ArgumentHelp(StoreFlags.postgresHelp, valueName: "url"))
    var postgres: String?
    @Option(help: ArgumentHelp("PostgreSQL connections (one worker thread each).", valueName: "count"))
    var postgresPool = store.postgresPool
    @Option(help: ArgumentHelp("Milliseconds a statement or a connection attempt may take (then -32013).", valueName: "ms"))
    var storeTimeout = Int(store.timeout)
    @Option(help: ArgumentHelp("Store operations waiting for a connection at most (then -32013 busy).", valueName: "count"))
    var storeQueue = store.queueLimit
    @Option(help: ArgumentHelp("Redis server shared by replicas, redis://[[user]:password@]host[:port][/db] (repeatable: channels are spread over them; the same list on every replica).", valueName: "url"))
    var redis: [String] = []
    @Option(help: ArgumentHelp("A key that grants the publisher role (repeatable, 16+ characters).", valueName: "key"))
    var publisherKey: [String] = []
    @Option(help: ArgumentHelp("HMAC secret for access tokens.", valueName: "secret"))
    var jwtSecret: String?
    @Option(help: ArgumentHelp("File of kid=secret lines (the first signs, all verify).", valueName: "path"))
    var jwtKeyFile: String?
    @Option(help: ArgumentHelp("Seconds an access token lives (10-86400).", valueName: "seconds"))
    var accessTtl = Int(accounts.accessTTL)
    @Option(help: ArgumentHelp("Seconds a refresh token lives after it was issued.", valueName: "seconds"))
    var refreshTtl = Int(accounts.refreshTTL)
    @Option(help: ArgumentHelp("Seconds a session lives at most after its login.", valueName: "seconds"))
    var sessionMaxAge = Int(accounts.sessionMaxAge)
    @Option(help: ArgumentHelp("Seconds within which a rotated refresh token presented again is a retry.", valueName: "seconds"))
    var refreshReuseGrace = Int(accounts.refreshReuseGrace)
    @Option(help: ArgumentHelp("Proxy whose X-Forwarded-For names the client, for login limits (repeatable).", valueName: "cidr"))
    var trustedProxy: [String] = []
    @Option(help: ArgumentHelp("Password hashes waiting for a thread at most (then -32013 busy).", valueName: "count"))
    var hashQueue = accounts.hashQueue
    @Flag(help: "Market channels, *.latest and prices.history need a logged-in user.")
    var requireLogin = false
    @Option(help: ArgumentHelp("Browser origin allowed on /ws besides our own (repeatable; * for any).", valueName: "origin"))
    var allowedOrigin: [String] = []

    @Option(help: ArgumentHelp("Events kept per channel for recovery.", valueName: "count"))
    var historySize = gateway.broker.historySize
    @Option(help: ArgumentHelp("Seconds an event stays replayable.", valueName: "seconds"))
    var historyTtl = Int(gateway.broker.historyTTL / 1000)
    @Option(help: ArgumentHelp("Bytes all channels' histories may hold together.", valueName: "bytes"))
    var historyMemory = gateway.broker.historyBytes
    @Option(help: ArgumentHelp("Seconds a publish's idempotencyKey answers its first position.", valueName: "seconds"))
    var idempotencyWindow = Int(gateway.broker.idempotencyWindow / 1000)
    @Option(help: ArgumentHelp("Seconds a portfolio channel's events stay replayable (and its epoch valid).", valueName: "seconds"))
    var portfolioHistoryTtl = Int(gateway.broker.portfolioHistoryTTL / 1000)
    @Option(help: ArgumentHelp("risk.metrics' default benchmark symbol.", valueName: "symbol"))
    var riskBenchmark = app.portfolio.riskBenchmark
    @Option(help: ArgumentHelp("Annual risk-free rate for Sharpe and Sortino, a fraction (0.04 = 4%).", valueName: "rate"))
    var riskFreeRate = app.portfolio.riskFreeRate
    @Option(help: ArgumentHelp("Days 1-minute price bars are kept (daily bars are kept forever).", valueName: "days"))
    var minuteBarsDays = BarsConfiguration().minuteBarsDays

    @Option(help: ArgumentHelp("PEM certificate chain (turns on TLS; needs --tls-key).", valueName: "path"))
    var tlsCert: String?
    @Option(help: ArgumentHelp("PEM private key.", valueName: "path"))
    var tlsKey: String?
    @Option(help: ArgumentHelp("Folder served from memory for paths no endpoint claims (read once at start).", valueName: "path"))
    var staticDir: String?
    @Flag(help: "Run the built-in simulated market (a dozen symbols, two years of daily bars, forecasts) and the demo account.")
    var demo = false

    @Option(help: ArgumentHelp("permessage-deflate: on or off.", valueName: "on|off"))
    var deflate: Switch = server.deflate.enabled ? .on : .off
    @Option(help: ArgumentHelp("Messages shorter than this go out uncompressed.", valueName: "bytes"))
    var deflateMinSize = server.deflate.minMessageSize
    @Option(help: ArgumentHelp("Largest window we compress with (9-15).", valueName: "bits"))
    var deflateWindowBits = server.deflate.serverMaxWindowBits
    @Flag(help: "Keep our compression context between messages (costs ~300 KiB per connection).")
    var deflateServerContextTakeover = false
    @Flag(help: "Let clients keep theirs (costs a ~40 KiB inflater per connection).")
    var deflateClientContextTakeover = false

    @Option(help: "Lowest level logged.")
    var logLevel = AppConfiguration().log.level
    @Option(help: "Log line format.")
    var logFormat = AppConfiguration().log.format

    @Option(help: ArgumentHelp("Milliseconds for a request head to arrive.", valueName: "ms"))
    var headTimeout = Int(server.headTimeout)
    @Option(help: ArgumentHelp("Milliseconds an HTTP endpoint may take to answer (then 504).", valueName: "ms"))
    var responseTimeout = Int(server.responseTimeout)
    @Option(help: ArgumentHelp("Milliseconds between WebSocket pings.", valueName: "ms"))
    var pingInterval = Int(server.pingInterval)
    @Option(help: ArgumentHelp("Milliseconds of silence before close 4000.", valueName: "ms"))
    var idleTimeout = Int(server.idleTimeout)
    @Option(help: ArgumentHelp("Milliseconds to wait for the peer's close frame.", valueName: "ms"))
    var closeTimeout = Int(server.closeTimeout)
    @Option(help: ArgumentHelp("Milliseconds SIGTERM waits for connections to close.", valueName: "ms"))
    var drainTimeout = Int(server.drainTimeout)

    enum Switch: String, ExpressibleByArgument, CaseIterable {
        case on, off
    }

    func validate() throws {
        _ = try makeConfiguration()
    }

    /// The configuration these options describe; the error names the flag.
    func makeConfiguration() throws(ValidationError) -> AppConfiguration {
        func check<T: Comparable>(_ value: T, _ range: ClosedRange<T>, _ flag: String) throws(ValidationError) -> T {
            guard range.contains(value) else {
                throw ValidationError("\(flag) must be in \(range.lowerBound)...\(range.upperBound), got \(value)")
            }
            return value
        }
        func millis(_ value: Int, _ range: ClosedRange<Int>, _ flag: String) throws(ValidationError) -> Millis {
            Millis(try check(value, range, flag))
        }
        // Features that later issues bring: refused rather than silently served without.
        if jwtSecret != nil && jwtKeyFile != nil { throw ValidationError("give --jwt-secret or --jwt-key-file, not both") }
        // Never echo a key: only its position.
        if let i = publisherKey.firstIndex(where: { $0.utf8.count < 16 }) {
            throw ValidationError("--publisher-key: keys must be at least 16 characters (key \(i + 1) is shorter)")
        }

        var c = AppConfiguration()
        c.server.host = host
        c.server.port = try check(port, 0...65535, "--port")
        c.server.threads = try check(threads, 1...256, "--threads")
        c.server.echoEnabled = echo
        c.server.maxMessageSize = try check(maxMessage, 1...(1 << 30), "--max-message")
        c.server.headTimeout = try millis(headTimeout, 100...600_000, "--head-timeout")
        c.server.responseTimeout = try millis(responseTimeout, 100...600_000, "--response-timeout")
        c.server.pingInterval = try millis(pingInterval, 100...3_600_000, "--ping-interval")
        c.server.idleTimeout = try millis(idleTimeout, 100...3_600_000, "--idle-timeout")
        c.server.closeTimeout = try millis(closeTimeout, 100...600_000, "--close-timeout")
        c.server.drainTimeout = try millis(drainTimeout, 0...600_000, "--drain-timeout")
        c.server.deflate.enabled = deflate == .on
        c.server.deflate.minMessageSize = try check(deflateMinSize, 0...(1 << 30), "--deflate-min-size")
        c.server.deflate.serverMaxWindowBits = try check(deflateWindowBits, 9...15, "--deflate-window-bits")
        if deflateServerContextTakeover { c.server.deflate.serverNoContextTakeover = false }
        if deflateClientContextTakeover { c.server.deflate.clientNoContextTakeover = false }
        do {
            c.server.tls = try TLSFiles.pair(certificate: tlsCert, key: tlsKey)
        } catch {
            throw ValidationError(error.message)
        }
        c.server.staticDirectory = staticDir
        c.gateway.publisherKeys = publisherKey
        c.gateway.allowedOrigins = allowedOrigin
        c.gateway.broker.historySize = try check(historySize, 0...1_000_000, "--history-size")
        c.gateway.broker.historyTTL = Millis(try check(historyTtl, 1...86_400, "--history-ttl")) * 1000
        c.gateway.redis.servers = try redis.enumerated().map { i, text throws(ValidationError) in
            do {
                return try RedisURL(parsing: text).resolved()
            } catch {
                throw ValidationError("--redis \(i + 1): \(error)")   // never the URL: it may hold a password
            }
        }
        c.gateway.broker.idempotencyWindow = Millis(try check(idempotencyWindow, 1...86_400, "--idempotency-window")) * 1000
        c.gateway.broker.historyBytes = try check(historyMemory, (1 << 20)...(1 << 40), "--history-memory")
        c.store.backend = try StoreFlags.backend(dataDir: dataDir, postgres: postgres)
        c.store.postgresPool = try check(postgresPool, 1...256, "--postgres-pool")
        c.store.timeout = try millis(storeTimeout, 100...600_000, "--store-timeout")
        c.store.queueLimit = try check(storeQueue, 1...1_000_000, "--store-queue")
        if let jwtSecret, jwtSecret.utf8.count < 32 { throw ValidationError("--jwt-secret must be at least 32 bytes") }
        c.accounts.jwtSecret = jwtSecret
        c.accounts.jwtKeyFile = jwtKeyFile
        c.accounts.accessTTL = Int64(try check(accessTtl, 10...86_400, "--access-ttl"))
        c.accounts.hashQueue = try check(hashQueue, 1...100_000, "--hash-queue")
        c.accounts.refreshTTL = Int64(try check(refreshTtl, 60...(10 * 365 * 86_400), "--refresh-ttl"))
        c.accounts.sessionMaxAge = Int64(try check(sessionMaxAge, 60...(10 * 365 * 86_400), "--session-max-age"))
        c.accounts.refreshReuseGrace = Int64(try check(refreshReuseGrace, 0...3_600, "--refresh-reuse-grace"))
        if let bad = trustedProxy.first(where: { CIDR.parse($0) == nil }) {
            throw ValidationError("--trusted-proxy must be a CIDR (10.0.0.0/8, fd00::/8), got \(bad)")
        }
        c.accounts.trustedProxies = trustedProxy
        c.gateway.requireLoginForMarket = requireLogin
        c.gateway.broker.portfolioHistoryTTL = Millis(try check(portfolioHistoryTtl, 60...(30 * 86_400), "--portfolio-history-ttl")) * 1000
        guard riskBenchmark.utf8.count <= 16, ChannelName.isSymbol(riskBenchmark.utf8) else {
            throw ValidationError("--risk-benchmark must be a symbol (1-16 of A-Z 0-9 . - _)")
        }
        guard riskFreeRate.isFinite, (-1...1).contains(riskFreeRate) else {
            throw ValidationError("--risk-free-rate must be a fraction in [-1, 1] (0.04 = 4%)")
        }
        if demo { c.demo = DemoMarket.Settings() }
        c.portfolio.riskBenchmark = riskBenchmark
        c.portfolio.riskFreeRate = riskFreeRate
        c.bars.minuteBarsDays = try check(minuteBarsDays, 1...36_500, "--minute-bars-days")
        // Test only: the crash between a portfolio commit and its publish (issue 10's outbox test).
        c.portfolio.exitAfterCommit = getenv("QV_TEST_EXIT_AFTER_COMMIT").map { String(cString: $0) == "1" } ?? false
        c.log.level = logLevel
        c.log.format = logFormat
        return c
    }

    func run() throws {
        let configuration = try makeConfiguration()
        let logger = configuration.log.makeLogger()
        let fdLimit = Reactor.Process.raiseFileDescriptorLimit()
        let app: Application
        do {
            app = try Application(configuration: configuration, logger: logger)
        } catch {
            let s = configuration.server
            logger.error("cannot start", metadata: ["host": "\(s.host)", "port": "\(s.port)", "error": "\(error)"])
            logger.flush()
            writeFully("quantumvest: cannot start on \(s.host):\(s.port): \(error)\n", to: 2)
            throw ExitCode(1)
        }
        app.start()
        logger.info("listening", metadata: [
            "host": "\(app.host)", "port": "\(app.port)", "tls": "\(app.isTLS)", "threads": "\(configuration.server.threads)",
            "echo": "\(configuration.server.echoEnabled)", "max_message": "\(configuration.server.maxMessageSize)",
            "static_files": "\(app.server.staticFileCount)", "fd_limit": "\(fdLimit)",
        ])
        writeFully("listening on \(app.host):\(app.port)\n", to: 1)

        let signal = Reactor.Process.waitForTermination()
        logger.notice("draining", metadata: ["signal": signal == SIGINT ? "SIGINT" : "SIGTERM"])
        app.stop()
        logger.notice("stopped")
        logger.flush()
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {
    public init?(argument: String) { self.init(name: argument) }
}

extension LogFormat: ExpressibleByArgument {}

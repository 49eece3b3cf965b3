import Accounts
import Demo
import Gateway
import Log
import Market
import Portfolio
import Server
import Store

/// Everything `quantumvest serve` can be told, one settings value per module, each with that
/// module's defaults (`ServerConfiguration`, `GatewayConfiguration` and its `broker`,
/// `LoopConfiguration` under `server.loop`). The command line and the tests fill this in;
/// `Application` is built from it.
public struct AppConfiguration: Sendable {
    public var server = ServerConfiguration()
    public var gateway = GatewayConfiguration()
    public var log = LogConfiguration()
    /// Where the data lives: SQLite in `--data-dir` (the default) or `--postgres`.
    public var store = StoreConfiguration()
    /// Accounts and sessions: token lifetimes, signing keys, password hashing.
    public var accounts = AccountsConfiguration()
    /// Portfolios: limits, the outbox relay.
    public var portfolio = PortfolioConfiguration()
    /// `--demo`: the simulated market and the demo account (nil: off).
    public var demo: DemoMarket.Settings?
    /// Price bars: `--minute-bars-days`, the flush interval.
    public var bars = BarsConfiguration()

    public init() {}
}

/// `--log-level`, `--log-format`.
public struct LogConfiguration: Sendable {
    public var level: LogLevel = .info
    public var format: LogFormat = .text

    public init() {}

    /// A logger on our non-blocking handler (stderr).
    public func makeLogger() -> Logger {
        Logger(level: level, format: format)
    }
}

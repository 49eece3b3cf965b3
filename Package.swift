// swift-tools-version:6.0
import PackageDescription

// Strictness for our own Swift targets (as in swift-websocket): existentials are spelled `any`,
// and a file only sees the modules it imports itself.
let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

// The per-byte and per-message paths touch class properties constantly; in release builds the
// runtime exclusivity checks on them cost ~7% of the echo server's CPU (perf, 2026-11-25).
// Debug builds — every test run — keep the checks; the compile-time checks stay everywhere.
let hotPath: [SwiftSetting] = strict + [
    .unsafeFlags(["-enforce-exclusivity=unchecked", "-cross-module-optimization"], .when(configuration: .release)),
]

let package = Package(
    name: "quantumvest",
    products: [
        .executable(name: "quantumvest", targets: ["quantumvest"]),
        .executable(name: "qv-load", targets: ["qv-load"]),
    ],
    dependencies: [
        // `quantumvest serve | import-bars | version`: flags, help and validation.
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        // The logging API; our handler (Sources/Log) keeps the I/O off the event loops.
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        // C: Linux syscalls Swift cannot see or call comfortably (epoll, eventfd, accept4, sendmsg flags).
        .target(name: "CSystem"),
        // System libraries from Debian's -dev packages (scripts/setup installs them).
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CHiredis", pkgConfig: "hiredis", providers: [.apt(["libhiredis-dev"])]),
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CArgon2", pkgConfig: "libargon2", providers: [.apt(["libargon2-dev"])]),

        // JSON (RFC 8259) parser and writer: no I/O, numbers kept as their source text.
        .target(name: "JSON", swiftSettings: hotPath),
        // risk.metrics (contract 2c): day selection and the figures (empyrical's definitions). Pure, no I/O.
        .target(name: "Risk", swiftSettings: strict),
        // Exact decimal amounts (contract 2b): parse, exact sums and products, half-to-even quotients.
        .target(name: "Money", swiftSettings: strict),
        // swift-log with a handler that never blocks an event loop: lines go to a writer thread.
        .target(name: "Log", dependencies: [.product(name: "Logging", package: "swift-log")], swiftSettings: strict),
        // The event loop: epoll, non-blocking sockets, timers, gathered writes, TLS (OpenSSL on
        // the non-blocking socket). Knows nothing of HTTP.
        .target(name: "Reactor", dependencies: ["CSystem", "COpenSSL", "Log"], swiftSettings: hotPath),
        // HTTP/1.1 and RFC 6455 codecs. No sockets, no I/O; tested with byte vectors.
        .target(name: "WebSocketProtocol", dependencies: ["COpenSSL", "CZlib"], swiftSettings: hotPath),
        // Redis on the reactor: hiredis's asynchronous API driven by our epoll (no threads of its
        // own, no blocking calls), replies checked as untrusted input; URLs; the shard hash (2d).
        .target(name: "Redis", dependencies: ["CHiredis", "Reactor", "Log"], swiftSettings: strict),
        // Connections speaking HTTP/1.1 and WebSocket on the reactor, and the routes.
        .target(name: "Server", dependencies: ["Reactor", "WebSocketProtocol", "Log"], swiftSettings: hotPath),
        // The realtime gateway: JSON-RPC sessions on /ws, channels, the broker, HTTP publish.
        .target(name: "Gateway", dependencies: ["Server", "Reactor", "Redis", "WebSocketProtocol", "JSON", "Log"], swiftSettings: hotPath),
        // The database: SQLite (embedded default) or PostgreSQL (libpq), behind one interface;
        // worker threads own the connections, so no event loop ever waits on it. Migrations.
        .target(name: "Store", dependencies: ["CSQLite", "CLibPQ", "Reactor", "Log"], swiftSettings: strict),
        // Accounts and sessions (contract 2a): passwords (Argon2id), access tokens (HS256 JWT),
        // refresh-token rotation, login limits, expiry and revocation of sockets.
        .target(name: "Accounts", dependencies: ["Gateway", "Server", "Store", "Reactor", "JSON", "Log", "COpenSSL", "CArgon2"],
                swiftSettings: strict),
        // Portfolios (contract 2b): exact weighted average cost, the outbox and its relay,
        // valuations at the latest prices.
        .target(name: "Portfolio", dependencies: ["Money", "Risk", "Gateway", "Accounts", "Store", "Reactor", "JSON", "Log"],
                swiftSettings: strict),
        // `--demo`: a simulated market (GBM), two years of backfilled daily bars, an honest
        // forecaster, published through the same path as external feeds.
        .target(name: "Demo", dependencies: ["Gateway", "Store", "Reactor", "JSON", "Log"], swiftSettings: strict),
        // Price bars (contract 2c): bars from published prices, their flusher, prices.history,
        // and the CSV import of daily bars.
        .target(name: "Market", dependencies: ["Money", "Gateway", "Store", "Reactor", "JSON", "Log"], swiftSettings: strict),
        // The composition root: one configuration in, one running application out (used by
        // `quantumvest serve` and by the tests).
        .target(name: "App", dependencies: ["Gateway", "Redis", "Server", "Store", "Accounts", "Portfolio", "Market", "Demo", "Reactor", "Log",
                                            "WebSocketProtocol"],
                swiftSettings: strict),
        // `quantumvest serve | import-bars | version`: the command line over `App`.
        .executableTarget(name: "quantumvest", dependencies: [
            "App", "Gateway", "Redis", "Server", "Store", "Accounts", "Portfolio", "Market", "Demo", "Reactor", "Log", "JSON", "WebSocketProtocol",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: strict),

        // Load generator (C, epoll): echo, connect and (later) fan-out modes.
        .executableTarget(name: "qv-load", dependencies: ["COpenSSL"], path: "loadtest/qvload",
                          cSettings: [.unsafeFlags(["-O2"])]),

        // Test fixtures shared by the test targets: a throwaway PostgreSQL server on loopback.
        .target(name: "TestSupport", path: "Tests/TestSupport", swiftSettings: strict),
        .testTarget(name: "StoreTests", dependencies: ["Store", "Reactor", "Log", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "AccountsTests", dependencies: ["Accounts", "Store", "Gateway", "Reactor", "JSON", "Log"], swiftSettings: strict),
        .testTarget(name: "MarketTests", dependencies: ["Market", "Money"], swiftSettings: strict),
        .testTarget(name: "RedisTests", dependencies: ["Redis", "Reactor", "Log", "TestSupport"], swiftSettings: strict),
        .testTarget(name: "JSONTests", dependencies: ["JSON"], swiftSettings: strict),
        // Known answers from an independent numpy oracle (Tests/RiskTests/oracle.py); fixtures found via #filePath.
        .testTarget(name: "RiskTests", dependencies: ["Risk"], exclude: ["fixtures", "make_fixture.py", "oracle.py"],
                    swiftSettings: strict),
        // ExactDecimal against an independent oracle (Tests/MoneyTests/oracle.py: Python's decimal
        // and fractions): hand-written vectors, a checked-in vectors.txt, and a fresh seed per run.
        .testTarget(name: "MoneyTests", dependencies: ["Money"], exclude: ["oracle.py", "vectors.txt"],
                    swiftSettings: strict),
        .testTarget(name: "GatewayTests", dependencies: ["Gateway", "Server", "Reactor", "JSON", "Log", "WebSocketProtocol"],
                    swiftSettings: strict),
        .testTarget(name: "WebSocketProtocolTests", dependencies: ["WebSocketProtocol"], swiftSettings: strict),
        .testTarget(name: "ReactorTests", dependencies: ["Reactor", "CSystem", "Log"], swiftSettings: strict),
        .testTarget(name: "ServerTests", dependencies: ["App", "Server", "Gateway", "Store", "Accounts", "Portfolio", "Market", "Money", "Risk",
                                                       "Demo", "JSON", "Reactor", "WebSocketProtocol", "Log", "COpenSSL", "TestSupport"],
                    swiftSettings: strict),
    ]
)

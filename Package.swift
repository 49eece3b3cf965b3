// swift-tools-version:6.0
import PackageDescription

// Strictness for our own Swift targets (as in swift-websocket): existentials are spelled `any`,
// and a file only sees the modules it imports itself.
let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "quantumvest",
    products: [
        .executable(name: "quantumvest", targets: ["quantumvest"]),
        .executable(name: "qv-load", targets: ["qv-load"]),
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

        // Logging that never blocks an event loop: lines are handed to a writer thread.
        .target(name: "Log", swiftSettings: strict),
        // The event loop: epoll, non-blocking sockets, timers, gathered writes. Knows nothing of HTTP.
        .target(name: "Reactor", dependencies: ["CSystem", "Log"], swiftSettings: strict),
        // HTTP/1.1 and RFC 6455 codecs. No sockets, no I/O; tested with byte vectors.
        .target(name: "WebSocketProtocol", dependencies: ["COpenSSL"], swiftSettings: strict),
        // Connections speaking HTTP/1.1 and WebSocket on the reactor, and the routes.
        .target(name: "Server", dependencies: ["Reactor", "WebSocketProtocol", "Log"], swiftSettings: strict),
        // `quantumvest serve`: command line, configuration, wiring.
        .executableTarget(name: "quantumvest", dependencies: ["Server", "Reactor", "Log"], swiftSettings: strict),

        // Load generator (C, epoll): echo, connect and (later) fan-out modes.
        .executableTarget(name: "qv-load", path: "loadtest/qvload",
                          cSettings: [.unsafeFlags(["-O2"])]),

        .testTarget(name: "WebSocketProtocolTests", dependencies: ["WebSocketProtocol"], swiftSettings: strict),
        .testTarget(name: "ServerTests", dependencies: ["Server", "Reactor", "WebSocketProtocol", "Log"],
                    swiftSettings: strict),
    ]
)

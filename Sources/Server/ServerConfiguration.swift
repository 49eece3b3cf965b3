import Reactor
import WebSocketProtocol

#if canImport(Glibc)
import Glibc
#endif

/// Everything the HTTP and WebSocket layers need to know, with the contract's defaults.
public struct ServerConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    /// Event loops (threads); one per core by default.
    public var threads = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    /// Serve `/echo` (conformance tests and benchmarks only).
    public var echoEnabled = false
    /// Largest WebSocket message, fragments included (contract: 1 MiB).
    public var maxMessageSize = 1 << 20
    /// A request head must arrive within this (slowloris), and be at most 16 KiB / 100 headers.
    public var headTimeout: Millis = 10_000
    public var maxHeadBytes = 16 * 1024
    public var maxHeaders = 100
    /// Largest HTTP request body (e.g. a publish batch).
    public var maxBodyBytes = 1 << 20
    /// A deferred HTTP answer (`Routes.HTTPRoute(methods:deferred:)`) not given within this is
    /// answered 504 for it (and logged); a late answer is then dropped.
    public var responseTimeout: Millis = 10_000
    /// An idle keep-alive HTTP connection is closed after this.
    public var keepAliveTimeout: Millis = 30_000
    /// WebSocket ping cadence, and silence after which the connection is closed with 4000.
    public var pingInterval: Millis = 25_000
    public var idleTimeout: Millis = 60_000
    /// After we send a close frame, how long we wait for the peer's before dropping the socket.
    public var closeTimeout: Millis = 5_000
    /// Subprotocols we speak, in preference order; echoed when the client offers one.
    public var subprotocols: [String] = ["qv.v1.json"]
    /// SIGTERM drain: how long connections get to close after we said goodbye (1001).
    public var drainTimeout: Millis = 10_000
    public var loop = LoopConfiguration()
    /// permessage-deflate (RFC 7692), accepted when a client offers it.
    public var deflate = DeflateSettings()
    /// PEM certificate chain and private key: serve TLS (wss://, https://).
    public var tls: TLSFiles?
    /// Files served from memory for paths no route claims (the dashboard); nil: none.
    public var staticDirectory: String?

    public init() {}

    /// `loop` with its outbound marks raised where the message size demands: one message must
    /// fit under the high-water mark or echo would stall, and past that mark echo can still
    /// queue one read's worth of replies plus one whole assembled message before reading pauses.
    var effectiveLoop: LoopConfiguration {
        var l = loop
        l.outboundHighWater = max(l.outboundHighWater, maxMessageSize + 16)
        l.outboundLowWater = min(l.outboundLowWater, l.outboundHighWater / 2)
        l.outboundHardLimit = max(l.outboundHardLimit, l.outboundHighWater + maxMessageSize + l.receiveBufferSize + (64 << 10))
        return l
    }
}

/// A certificate chain and its private key, both PEM files. TLS needs the pair: this is the
/// one place that checks it.
public struct TLSFiles: Sendable, Equatable {
    public var certificatePath: String
    public var keyPath: String

    public init(certificatePath: String, keyPath: String) {
        self.certificatePath = certificatePath
        self.keyPath = keyPath
    }

    /// nil when neither is given; an error naming the missing one when only one is.
    public static func pair(certificate: String?, key: String?) throws(ConfigurationError) -> TLSFiles? {
        switch (certificate, key) {
        case (nil, nil): return nil
        case (let c?, let k?): return TLSFiles(certificatePath: c, keyPath: k)
        case (_?, nil): throw ConfigurationError(flag: "--tls-key", "TLS needs a private key (--tls-key) with the certificate")
        case (nil, _?): throw ConfigurationError(flag: "--tls-cert", "TLS needs a certificate (--tls-cert) with the private key")
        }
    }
}

/// A setting that cannot work, with the command-line flag it comes from.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable, Equatable {
    public let flag: String
    public let message: String

    public init(flag: String, _ message: String) {
        self.flag = flag
        self.message = message
    }

    public var description: String { message }
}

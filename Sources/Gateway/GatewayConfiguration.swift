import Reactor

/// The gateway's settings above the transport, with the contract's defaults.
public struct GatewayConfiguration: Sendable {
    /// Keys that grant the publisher role (`Authorization: Bearer KEY`).
    public var publisherKeys: [String] = []
    /// Browser origins allowed to open /ws besides the gateway's own; `*` allows any.
    public var allowedOrigins: [String] = []
    /// Require a logged-in user for `prices:`/`predictions:` channels.
    public var requireLoginForMarket = false
    /// History and channel-table settings of the channel log (the name is kept from the broker).
    public var broker = ChannelLogSettings()
    /// Replicas (contract 2d): empty for the in-process log.
    public var redis = RedisSettings()
    /// Subscriptions one connection may hold.
    public var maxSubscriptions = 256
    /// Requests per second per connection (each batch entry counts), with a burst allowance.
    public var requestRate = 100
    public var requestBurst = 200
    public var publisherRequestRate = 10_000
    public var publisherRequestBurst = 20_000
    /// More rate-limited requests than this within `abuseWindow` closes the connection (4029).
    public var abuseLimit = 1_000
    public var abuseWindow: Millis = 10_000
    /// Outgoing bytes queued per connection before price/prediction events are conflated.
    public var outgoingBound = 4 << 20
    /// How long a connection may stay over `outgoingBound` before it is closed with 4008.
    public var slowConsumerGrace: Millis = 10_000
    /// Events per HTTP publish request at most.
    public var maxPublishBatch = 1_000

    public init() {}
}

/// What a connection is allowed to do, from its handshake credentials (and, with the auth
/// issue, from `auth.login` / `auth.authenticate`).
public enum Role: Sendable, Equatable {
    case anonymous
    case publisher
    case user(id: String)

    public var isPublisher: Bool { self == .publisher }
}

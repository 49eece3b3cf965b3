import JSON
import Reactor

/// Where channel events get their positions (epoch, seq) and where history and the latest event
/// live: in this process (`LocalChannelLog`) or, with replicas, in Redis. A log hands every event
/// it positions to the `FanOut` (in seq order per channel), which delivers it to subscribers.
///
/// Every call completes through its callback on the caller's loop (`loop`; nil for a caller on
/// no loop, e.g. the synchronous HTTP route, which only an inline log can serve). A log that can
/// answer at once — the in-process one — calls back inline, before returning: no hop, no cost.
public protocol ChannelLog: AnyObject, Sendable {
    /// Positions every item, in order, all or none (a shared log whose server is lost in the
    /// middle of a batch: the items before it, see `PublishOutcome`); hands the new events to the
    /// fan-out before completing. An item repeating an idempotency key of its channel within the
    /// window gets the first publication's position and publishes nothing.
    func publish(_ items: [PublishItem], now: Millis, on loop: EventLoop?,
                 _ done: @escaping (Result<PublishOutcome, ChannelLogError>) -> Void)

    /// Counts a subscriber of `channel` and decides, atomically with respect to publishes, what
    /// to answer and replay. The caller has joined the fan-out before: every event positioned
    /// after the answered seq reaches it live.
    func subscribe(_ channel: ChannelName, since: StreamPosition?, snapshot: Bool, now: Millis, on loop: EventLoop?,
                   _ done: @escaping (Result<ChannelGrant, ChannelLogError>) -> Void)

    /// Undoes `subscribe` for each channel (one subscriber each); never fails.
    func unsubscribe(_ channels: [ChannelName], now: Millis)

    /// The channel's current position (nil: the log does not hold it).
    func position(_ channel: ChannelName, on loop: EventLoop?,
                  _ done: @escaping (Result<StreamPosition?, ChannelLogError>) -> Void)

    /// The newest event of each channel, whatever its age (`*.latest`, snapshots).
    func latest(_ channels: [ChannelName], on loop: EventLoop?, _ done: @escaping (Result<[Event?], ChannelLogError>) -> Void)

    /// The held events after `since`, oldest first; nil when the history cannot cover them all
    /// (another epoch, trimmed). For repairing a hole in what a replica delivered.
    func history(_ channel: ChannelName, after since: StreamPosition, now: Millis, on loop: EventLoop?,
                 _ done: @escaping (Result<[Event]?, ChannelLogError>) -> Void)

    /// Periodic upkeep (expired history, quiet channels); called by one loop every `trimInterval`.
    func trim(now: Millis)
    var trimInterval: Millis { get }

    /// Channels this log holds (metrics, tests).
    var channelCount: Int { get }
}

/// One event to publish (its data already validated).
public struct PublishItem: Sendable {
    public let channel: ChannelName
    public let data: JSONValue
    /// Contract 2d: a repeat with the same key for the same channel within the idempotency
    /// window answers the first position and publishes nothing.
    public let idempotencyKey: String?

    public init(_ channel: ChannelName, _ data: JSONValue, idempotencyKey: String? = nil) {
        self.channel = channel
        self.data = data
        self.idempotencyKey = idempotencyKey
    }

    static let idempotencyKeyRule = "idempotencyKey must be 1 to 64 characters from 0x21 to 0x7E"

    /// 1–64 characters 0x21–0x7E (contract 2d).
    public static func isValidIdempotencyKey(_ key: String) -> Bool {
        let u = key.utf8
        return (1...64).contains(u.count) && u.allSatisfy { (0x21...0x7E).contains($0) }
    }
}

/// What a publish did, item by item.
public struct PublishOutcome: Sendable {
    /// One per item, in request order: where it sits (for a repeated idempotency key, the first
    /// publication's position); nil when it was not published — only after a shared log lost
    /// its server in the middle of a batch, for the items from there on.
    public let positions: [StreamPosition?]
    /// The events this publish made, in order (the fan-out and the taps get these): repeats
    /// of an idempotency key are not among them.
    public let events: [Event]

    public init(positions: [StreamPosition?], events: [Event]) {
        self.positions = positions
        self.events = events
    }

    /// Every item has its position.
    public var isComplete: Bool { positions.allSatisfy { $0 != nil } }
}

/// What a log can refuse.
public enum ChannelLogError: Error, Equatable, Sendable {
    /// The channel table is full (a publish or subscribe would create one more).
    case tooManyChannels
    /// The shared log (Redis) does not answer: nothing was published.
    case unavailable
    /// A publish was sent and its answer lost, and the server did not come back in time to tell
    /// whether it ran: not −32013, which promises nothing was published (contract 2d).
    case outcomeUnknown

    /// The JSON-RPC error a client gets (−32008 / −32013).
    public var rpcError: RPCError {
        switch self {
        case .tooManyChannels: .limitExceeded("too_many_channels", "the gateway holds its maximum number of channels")
        case .unavailable: .unavailable("the channel store does not answer; nothing was published")
        case .outcomeUnknown:
            RPCError(code: RPCError.internalErrorCode, reason: "outcome_unknown",
                     message: "the channel store stopped answering after the publish was sent: it may or may not have been published")
        }
    }

    /// The `reason` of the HTTP 503 answer.
    public var reason: String {
        switch self {
        case .tooManyChannels: "too_many_channels"
        case .unavailable: "unavailable"
        case .outcomeUnknown: "outcome_unknown"
        }
    }
}

/// A subscription as the log grants it: the position to answer, whether `since` was honoured,
/// and the events the subscriber must get before live ones.
public struct ChannelGrant: Sendable {
    public let epoch: String
    public let seq: UInt64
    /// nil when no `since` was given.
    public let recovered: Bool?
    /// Events to send right after the answer, oldest first: those after `since` when
    /// recovered, else the latest one when a snapshot was asked for.
    public let replay: [Event]

    public init(epoch: String, seq: UInt64, recovered: Bool?, replay: [Event]) {
        self.epoch = epoch
        self.seq = seq
        self.recovered = recovered
        self.replay = replay
    }
}

/// History and retention settings of a channel log, with the contract's defaults.
public struct ChannelLogSettings: Sendable {
    /// Events kept per channel for `since` recovery.
    public var historySize = 1_000
    /// Events older than this (ms) are not replayed. A channel that never had an event is
    /// kept this long after its last subscriber left, so the epoch it answered stays valid.
    public var historyTTL: Millis = 300_000
    /// The same for `portfolio:` channels: a phone away for hours still recovers.
    public var portfolioHistoryTTL: Millis = 86_400_000
    /// Channels the log holds at most (a publisher cannot grow memory without bound).
    public var maxChannels = 50_000
    /// How long an idempotency key answers its first position (contract 2d: 5 min).
    public var idempotencyWindow: Millis = 300_000
    /// Memory all histories together may hold (estimated, see `Event.footprint`): count
    /// and age alone allow 50,000 channels × 1,000 events, tens of GB. Over it, every
    /// channel gives up the older half of its history until the total fits.
    public var historyBytes = 256 << 20

    public init() {}

    func ttl(_ kind: ChannelKind) -> Millis { kind == .portfolio ? portfolioHistoryTTL : historyTTL }
}

import Reactor
import Redis

/// `--redis` and the bounds of the Redis channel log (contract 2d).
public struct RedisSettings: Sendable {
    /// The servers, in the same order on every replica: the shard hash picks by position.
    public var servers: [RedisURL] = []
    /// ms a connect (with AUTH and SELECT) may take.
    public var connectTimeout: Millis = 1_000
    /// ms a command may wait for its reply; past it the server counts as unreachable (2d: −32013
    /// within 1 s of an outage).
    public var commandTimeout: Millis = 800
    /// Reconnect backoff: full jitter over min(cap, base × 2^attempt) ms (2d: live again within
    /// 5 s of the server's return).
    public var reconnectBase: Millis = 100
    public var reconnectCap: Millis = 2_000
    /// ms between the checks of every channel's delivered seq against its server's (holes that
    /// nothing new reveals), which also prove the pub/sub connection alive.
    public var checkInterval: Millis = 1_000
    /// ms a publish whose reply was lost waits for its server, to learn whether it ran.
    public var verifyFor: Millis = 10_000
    /// Live events a channel holds while its position is read or a hole repaired.
    public var maxBuffered = 10_000
    /// Commands waiting for replies per connection.
    public var maxPending = 50_000
    /// ms a publish call's answer stays in Redis for a retry of a lost reply.
    public var batchTTL: Millis = 60_000
    /// ms a channel's epoch, seq and latest event outlive its last use.
    public var keep: Millis = 7 * 86_400_000

    public init() {}
}

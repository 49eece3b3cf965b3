#if canImport(Glibc)
import Glibc
#endif

/// The settings of accounts and sessions (contract 2a), with its defaults.
public struct AccountsConfiguration: Sendable {
    /// Access tokens live this long (`--access-ttl`, 10–86400 s).
    public var accessTTL: Int64 = 900
    /// A refresh token expires this long after it was issued (`--refresh-ttl`).
    public var refreshTTL: Int64 = 30 * 86_400
    /// A session ends at the latest this long after its login (`--session-max-age`).
    public var sessionMaxAge: Int64 = 90 * 86_400
    /// Presenting a rotated refresh token again within this window is a retry (`--refresh-reuse-grace`).
    public var refreshReuseGrace: Int64 = 30
    /// `--jwt-secret`: its UTF-8 bytes sign and verify (kid "default").
    public var jwtSecret: String?
    /// `--jwt-key-file`: `kid=secret` lines; the first signs, all verify.
    public var jwtKeyFile: String?
    /// Password hashes waiting for a thread at most (`--hash-queue`); beyond it −32013 `busy`.
    public var hashQueue = 64
    /// Threads hashing passwords. They run at a lower priority than the event loops, so a
    /// login flood takes spare CPU, not the loops'.
    public var hashThreads = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))) / 2)
    /// Argon2id cost (memory KiB, passes, lanes): OWASP's baseline by default.
    public var hashMemoryKiB: UInt32 = 19_456
    public var hashIterations: UInt32 = 2
    public var hashParallelism: UInt32 = 1
    /// `--trusted-proxy CIDR` (repeatable): peers whose `X-Forwarded-For` names the client.
    public var trustedProxies: [String] = []

    /// Seconds between housekeeping passes (expired refresh tokens, ended sessions).
    public var housekeepingInterval: Int64 = 3600
    /// ms between reads of the revocations other processes recorded (with Redis, a signal
    /// makes every replica read at once; this poll is for a replica cut off from Redis, or
    /// several processes on one store without it).
    public var revocationPoll: Int64 = 1_000

    public init() {}
}

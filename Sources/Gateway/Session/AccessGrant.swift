/// What an access token grants a connection: who it is, under which session (`sid`, so a
/// revocation finds its sockets) and until when. Made by the accounts module; the gateway only
/// keeps it, schedules `auth.expiring` and the 4001 close from `expiresAt`, and indexes
/// sessions by `sessionId`.
public struct AccessGrant: Sendable, Equatable {
    public let userId: String
    public let sessionId: String
    /// Wall-clock milliseconds since the Unix epoch (the token's `exp` × 1000).
    public let expiresAt: Int64

    public init(userId: String, sessionId: String, expiresAt: Int64) {
        self.userId = userId
        self.sessionId = sessionId
        self.expiresAt = expiresAt
    }
}

/// Checks a bearer token at the `/ws` handshake, on the loop, without blocking (a signature and
/// an in-memory revocation set, no store round trip). The accounts module provides it.
public protocol AccessTokenVerifier: Sendable {
    /// The grant, or why not (a reason word for the log: `invalid_token`, `token_expired`,
    /// `token_revoked`). Never logs the token.
    func check(accessToken: String) -> Result<AccessGrant, AccessRefusal>
}

/// Why a token was refused, as the contract's reason word.
public struct AccessRefusal: Error, Sendable, Equatable {
    public let reason: String
    public init(_ reason: String) { self.reason = reason }
}

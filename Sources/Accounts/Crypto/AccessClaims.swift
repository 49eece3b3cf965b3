/// The claims of an access token (contract 2a). Times are Unix seconds.
public struct AccessClaims: Equatable, Sendable {
    /// The user id.
    public var sub: String
    /// The session id.
    public var sid: String
    /// This token's id.
    public var jti: String
    public var iat: Int64
    public var exp: Int64

    public init(sub: String, sid: String, jti: String, iat: Int64, exp: Int64) {
        self.sub = sub
        self.sid = sid
        self.jti = jti
        self.iat = iat
        self.exp = exp
    }

    public static let issuer = "quantumvest"
    /// iat and exp outside 0...this (9999-12-31T23:59:59Z) are refused as nonsense.
    public static let maxSeconds: Int64 = 253_402_300_799
}

/// Why an access token was refused.
public enum TokenFailure: Error, Equatable, Sendable {
    /// Answered as `invalid_token`; the defect is for logs only, never for the client.
    case invalid(TokenDefect)
    /// Answered as `token_expired`: everything else was right.
    case expired
}

/// Which check refused a token, in the contract's order. A word for logs, naming no token content.
public enum TokenDefect: String, Equatable, Sendable {
    case tooLong
    /// Not three base64url parts without padding.
    case encoding
    /// The header is not a JSON object.
    case header
    /// `alg` is not exactly "HS256".
    case algorithm
    /// `kid` missing, not a string, or not in the ring.
    case keyID
    case signature
    /// The payload is not a JSON object, or sub/sid/jti/iat/exp are missing or malformed.
    case claims
    case issuer
}

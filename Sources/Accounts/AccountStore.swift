import Store

/// The accounts' SQL, once for both stores (see `SQLConnection`): each function runs inside
/// the transaction `Store.transaction` opened, on a worker thread. Times are wall-clock ms.
enum AccountStore {
    struct User: Sendable {
        let id: String
        let email: String
        let passwordHash: String
    }

    /// False when the email is taken. (`ON CONFLICT`, not a caught unique violation: on
    /// PostgreSQL a failed statement aborts the whole transaction.)
    static func createUser(_ c: any SQLConnection, id: String, email: String, passwordHash: String, now: Int64) throws(StoreError) -> Bool {
        try c.execute("INSERT INTO users (id, email, password_hash, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (email) DO NOTHING",
                      [.text(id), .text(email), .text(passwordHash), .int(now)]) == 1
    }

    static func user(_ c: any SQLConnection, email: String) throws(StoreError) -> User? {
        guard let row = try c.queryOne("SELECT id, email, password_hash FROM users WHERE email = $1", [.text(email)]) else { return nil }
        return User(id: try row.text(0), email: try row.text(1), passwordHash: try row.text(2))
    }

    static func user(_ c: any SQLConnection, id: String) throws(StoreError) -> User? {
        guard let row = try c.queryOne("SELECT id, email, password_hash FROM users WHERE id = $1", [.text(id)]) else { return nil }
        return User(id: try row.text(0), email: try row.text(1), passwordHash: try row.text(2))
    }

    static func setPasswordHash(_ c: any SQLConnection, userId: String, hash: String) throws(StoreError) {
        try c.execute("UPDATE users SET password_hash = $2 WHERE id = $1", [.text(userId), .text(hash)])
    }

    /// The re-hash after a login: replaces exactly the hash that was verified.
    static func replacePasswordHash(_ c: any SQLConnection, userId: String, old: String, new: String) throws(StoreError) {
        try c.execute("UPDATE users SET password_hash = $3 WHERE id = $1 AND password_hash = $2", [.text(userId), .text(old), .text(new)])
    }

    // MARK: Sessions and refresh tokens

    static func createSession(_ c: any SQLConnection, id: String, userId: String, now: Int64, expiresAt: Int64) throws(StoreError) {
        try c.execute("INSERT INTO sessions (id, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
                      [.text(id), .text(userId), .int(now), .int(expiresAt)])
    }

    static func addRefreshToken(_ c: any SQLConnection, hash: String, sessionId: String, now: Int64, expiresAt: Int64) throws(StoreError) {
        try c.execute("INSERT INTO refresh_tokens (hash, session_id, issued_at, expires_at) VALUES ($1, $2, $3, $4)",
                      [.text(hash), .text(sessionId), .int(now), .int(expiresAt)])
    }

    /// A refresh token and its session, locked for the rest of the transaction on PostgreSQL
    /// (two replicas rotating one token serialise; SQLite has one writer anyway).
    struct RefreshRecord: Sendable {
        let sessionId: String
        let userId: String
        let expiresAt: Int64
        let rotatedAt: Int64?
        let sessionRevoked: Bool
        let sessionExpiresAt: Int64
    }

    static func refreshToken(_ c: any SQLConnection, hash: String) throws(StoreError) -> RefreshRecord? {
        let lock = c.dialect == .postgres ? " FOR UPDATE OF r" : ""
        guard let row = try c.queryOne("""
            SELECT r.session_id, s.user_id, r.expires_at, r.rotated_at, s.revoked_at, s.expires_at
            FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id WHERE r.hash = $1\(lock)
            """, [.text(hash)]) else { return nil }
        return RefreshRecord(sessionId: try row.text(0), userId: try row.text(1), expiresAt: try row.int(2),
                             rotatedAt: row.optionalInt(3), sessionRevoked: !row.isNull(4), sessionExpiresAt: try row.int(5))
    }

    static func markRotated(_ c: any SQLConnection, hash: String, now: Int64) throws(StoreError) {
        try c.execute("UPDATE refresh_tokens SET rotated_at = $2 WHERE hash = $1 AND rotated_at IS NULL", [.text(hash), .int(now)])
    }

    /// Revokes one session; true when it was not revoked before.
    @discardableResult
    static func revokeSession(_ c: any SQLConnection, id: String, reason: String, now: Int64) throws(StoreError) -> Bool {
        try c.execute("UPDATE sessions SET revoked_at = $2, revoke_reason = $3 WHERE id = $1 AND revoked_at IS NULL",
                      [.text(id), .int(now), .text(reason)]) > 0
    }

    /// Revokes every live session of a user but `except`; their ids.
    static func revokeSessions(_ c: any SQLConnection, userId: String, except: String?, reason: String, now: Int64) throws(StoreError) -> [String] {
        let rows = try c.query("""
            UPDATE sessions SET revoked_at = $2, revoke_reason = $3
            WHERE user_id = $1 AND revoked_at IS NULL AND id <> $4 RETURNING id
            """, [.text(userId), .int(now), .text(reason), .text(except ?? "")])
        var ids: [String] = []
        for row in rows { ids.append(try row.text(0)) }
        return ids
    }

    /// Sessions revoked at or after `since`, with when: the revocation set's source (at start,
    /// and polled, so replicas sharing a store learn each other's revocations).
    static func revokedSince(_ c: any SQLConnection, _ since: Int64, limit: Int) throws(StoreError) -> [(id: String, at: Int64)] {
        let rows = try c.query("""
            SELECT id, revoked_at FROM sessions WHERE revoked_at >= $1 ORDER BY revoked_at LIMIT $2
            """, [.int(since), .int(Int64(limit))])
        var out: [(id: String, at: Int64)] = []
        out.reserveCapacity(rows.count)
        for row in rows { out.append((try row.text(0), try row.int(1))) }
        return out
    }

    /// Housekeeping: refresh tokens past their expiry (a rotated one is kept until then, so its
    /// reuse is still recognised), and sessions a day past their end — by then no access token of
    /// theirs is alive (tokens live at most 86,400 s) and their revocation has left the set every
    /// process loads at start (their refresh tokens, expired too, go by cascade). Bounded per call, so one pass never holds the writer for long.
    static func prune(_ c: any SQLConnection, now: Int64, limit: Int) throws(StoreError) -> (refreshTokens: Int, sessions: Int) {
        let dayAgo = now - 86_400_000
        let tokens = try c.execute("""
            DELETE FROM refresh_tokens WHERE hash IN
              (SELECT hash FROM refresh_tokens WHERE expires_at <= $1 LIMIT $2)
            """, [.int(now), .int(Int64(limit))])
        let sessions = try c.execute("""
            DELETE FROM sessions WHERE id IN
              (SELECT id FROM sessions WHERE expires_at <= $1 AND (revoked_at IS NULL OR revoked_at <= $1) LIMIT $2)
            """, [.int(dayAgo), .int(Int64(limit))])
        return (tokens, sessions)
    }

    // MARK: Signing keys

    static func signingKeys(_ c: any SQLConnection) throws(StoreError) -> [(kid: String, secretHex: String)] {
        var out: [(kid: String, secretHex: String)] = []
        for row in try c.query("SELECT kid, secret FROM jwt_keys ORDER BY created_at, kid", []) {
            out.append((try row.text(0), try row.text(1)))
        }
        return out
    }

    /// Inserts the generated key unless another process did first (replicas starting together).
    static func addSigningKey(_ c: any SQLConnection, kid: String, secretHex: String, now: Int64) throws(StoreError) {
        try c.execute("INSERT INTO jwt_keys (kid, secret, created_at) VALUES ($1, $2, $3) ON CONFLICT (kid) DO NOTHING",
                      [.text(kid), .text(secretHex), .int(now)])
    }
}

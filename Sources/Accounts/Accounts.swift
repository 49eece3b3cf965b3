import Foundation
import Gateway
import Log
import Reactor
import Store
import Synchronization
import WebSocketProtocol

/// Accounts and sessions (contract 2a) on one store: the signing keys, the revoked sessions, the
/// password-hash pool and the limits, shared by every loop. `install` adds the `auth.*` methods
/// and the handshake's token check to the gateway.
public final class Accounts: Sendable {
    public let configuration: AccountsConfiguration
    let store: Store
    let logger: Logger
    let ring: KeyRing
    let hasher: PasswordHasher
    /// Password hashing off the loops: during a flood only on CPU the loops leave (SCHED_IDLE),
    /// otherwise at nice 10.
    let hashPool: WorkerPool
    let logins = LoginLimiter()
    let registrations = RegistrationLimiter()
    let revoked = RevokedSessions()
    /// The gateway's channels (set at `install`): revocations are signalled to the other replicas.
    let broker = Mutex<Broker?>(nil)
    let trustedProxies: [CIDR]

    /// Loads (or creates, in the store) the signing keys and the recent revocations. Blocking:
    /// call at start, before the loops serve.
    public init(configuration: AccountsConfiguration, store: Store, logger: Logger) throws(AccountsStartError) {
        self.configuration = configuration
        self.store = store
        self.logger = logger.with("component", "accounts")
        var proxies: [CIDR] = []
        for text in configuration.trustedProxies {
            guard let cidr = CIDR.parse(text) else { throw AccountsStartError("--trusted-proxy: not a CIDR: \(text)") }
            proxies.append(cidr)
        }
        trustedProxies = proxies
        ring = try Accounts.loadKeys(configuration, store: store, logger: self.logger)
        do {
            hasher = try PasswordHasher(parameters: .init(memoryKiB: configuration.hashMemoryKiB,
                                                          iterations: configuration.hashIterations,
                                                          parallelism: configuration.hashParallelism))
        } catch {
            throw AccountsStartError("password hash parameters refused by Argon2: \(error)")
        }
        hashPool = WorkerPool(name: "hash", threads: configuration.hashThreads, queueLimit: configuration.hashQueue,
                              priority: .idleWhenBacklogged(backlog: 2, nice: 10), logger: logger)
        let since = Clock.wallMillis() - 86_400_000
        switch store.transactionBlocking(write: false, { c throws(StoreError) in try AccountStore.revokedSince(c, since, limit: 1_000_000) }) {
        case .success(let rows): for r in rows { revoked.insert(r.id, at: r.at) }
        case .failure(let e): throw AccountsStartError("cannot read revoked sessions: \(e)")
        }
    }

    /// `--jwt-key-file`, else `--jwt-secret`, else the key kept in the store (made at first start).
    private static func loadKeys(_ c: AccountsConfiguration, store: Store, logger: Logger) throws(AccountsStartError) -> KeyRing {
        do {
            if let path = c.jwtKeyFile {
                guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                    throw AccountsStartError("--jwt-key-file: cannot read \(path)")
                }
                return try KeyRing.parse(keyFile: text)
            }
            if let secret = c.jwtSecret { return try KeyRing(secret: secret) }
        } catch let e as KeyRing.Failure {
            throw AccountsStartError("JWT keys: \(e)")
        } catch let e as AccountsStartError {
            throw e
        } catch {
            throw AccountsStartError("JWT keys: \(error)")
        }
        let fresh = Secrets.hexEncode(Secrets.randomSecret())
        let now = Clock.wallMillis()
        let stored = store.transactionBlocking { c throws(StoreError) in
            try AccountStore.addSigningKey(c, kid: "generated", secretHex: fresh, now: now)
            return try AccountStore.signingKeys(c)
        }
        switch stored {
        case .failure(let e): throw AccountsStartError("cannot load the signing key from the store: \(e)")
        case .success(let rows):
            var keys: [(kid: String, secret: [UInt8])] = []
            for row in rows {
                guard let bytes = Secrets.hexDecode(row.secretHex) else { throw AccountsStartError("a stored signing key is damaged (kid \(row.kid))") }
                keys.append((row.kid, bytes))
            }
            do { return try KeyRing(keys: keys) } catch { throw AccountsStartError("stored signing keys: \(error)") }
        }
    }

    /// The handshake's check and the methods.
    public func install(into modules: inout GatewayModules) {
        modules.accessTokens = TokenCheck(ring: ring, revoked: revoked)
        broker.withLock { $0 = modules.broker }
        AuthMethods.register(in: &modules.methods, accounts: self, sessions: modules.sessions)
    }

    /// The periodic work, on one loop: every second the revocations other processes on this
    /// store recorded; every `housekeepingInterval` the expired refresh tokens and ended sessions.
    public func startBackgroundWork(on loop: EventLoop, sessions: SessionRegistry) {
        loop.execute { [self] in
            loop.schedule(every: UInt64(max(1, configuration.housekeepingInterval)) * 1000) { [self] _ in prune(on: loop) }
            loop.schedule(every: UInt64(max(1, configuration.revocationPoll))) { [self] _ in pollRevocations(on: loop, sessions: sessions) }
        }
        // Replicas (2d): another replica revoked a session: look now, not at the next poll.
        broker.withLock { $0 }?.onSignal(Self.revocationSignal) { [self] in
            loop.execute { [self] in pollRevocations(on: loop, sessions: sessions) }
        }
    }

    static let revocationSignal = "revocations"

    /// Revocations recorded since the newest one known here (by this or another process).
    private func pollRevocations(on loop: EventLoop, sessions: SessionRegistry) {
        let since = revoked.newest
        store.transaction(on: loop, write: false, { c throws(StoreError) in try AccountStore.revokedSince(c, since, limit: 10_000) }) { [self] result in
            guard case .success(let rows) = result else { return }
            for r in rows where revoked.insert(r.id, at: r.at) {
                sessions.close(session: r.id, code: .tokenExpired, reason: "token_revoked")
            }
        }
    }

    /// After a revocation is committed: every replica closes the affected sockets within a
    /// moment (contract 2d: within 1 s), not at its next poll.
    func announceRevocations() {
        broker.withLock { $0 }?.signal(Self.revocationSignal)
    }

    /// Up to 10,000 rows of each kind per transaction, and again at once while a pass was full.
    private func prune(on loop: EventLoop) {
        let limit = 10_000
        store.transaction(on: loop, { c throws(StoreError) in try AccountStore.prune(c, now: Clock.wallMillis(), limit: limit) }) { [self] result in
            switch result {
            case .success(let n):
                guard n.refreshTokens + n.sessions > 0 else { return }
                logger.info("housekeeping: expired rows removed", [("refresh_tokens", "\(n.refreshTokens)"), ("sessions", "\(n.sessions)")])
                if n.refreshTokens == limit || n.sessions == limit { prune(on: loop) }
            case .failure(let e):
                logger.warning("housekeeping failed; next pass at the usual time", [("error", "\(e)")])
            }
        }
    }

    /// The user with this email, made with this password when missing (the demo account).
    /// Blocking (hashes on the calling thread): call at start, before the loops serve.
    public func ensureUser(email raw: String, password: String) -> Result<String, AccountsStartError> {
        guard let email = Email.normalize(raw) else { return .failure(AccountsStartError("not an email: \(raw)")) }
        guard let hash = try? hasher.hash(Array(password.utf8)) else { return .failure(AccountsStartError("cannot hash a password")) }
        let id = Secrets.randomID()
        let now = Clock.wallMillis()
        let found = store.transactionBlocking { c throws(StoreError) -> String? in
            _ = try AccountStore.createUser(c, id: id, email: email, passwordHash: hash, now: now)
            return try AccountStore.user(c, email: email)?.id
        }
        switch found {
        case .success(let userId?): return .success(userId)
        case .success(nil): return .failure(AccountsStartError("the user \(email) could not be made"))
        case .failure(let e): return .failure(AccountsStartError("cannot make the user \(email): \(e)"))
        }
    }

    public func shutdown() { hashPool.shutdown() }

    // MARK: Tokens

    func issueAccess(userId: String, sessionId: String) -> (token: String, grant: AccessGrant, expiresIn: Int64) {
        let now = Clock.wallMillis() / 1000
        let claims = AccessClaims(sub: userId, sid: sessionId, jti: Secrets.randomID(), iat: now, exp: now + configuration.accessTTL)
        return (JWT.sign(claims, with: ring), AccessGrant(userId: userId, sessionId: sessionId, expiresAt: claims.exp * 1000),
                configuration.accessTTL)
    }

    func check(accessToken: String) -> Result<AccessGrant, AccessRefusal> {
        TokenCheck(ring: ring, revoked: revoked).check(accessToken: accessToken)
    }

    func peerKey(_ client: ClientContext) -> String {
        PeerAddress.key(peer: client.peerAddress, forwardedFor: client.forwardedFor, trustedProxies: trustedProxies)
    }
}

/// Signature, claims and the revocation set: no store round trip, so the handshake never waits.
struct TokenCheck: AccessTokenVerifier {
    let ring: KeyRing
    let revoked: RevokedSessions

    func check(accessToken: String) -> Result<AccessGrant, AccessRefusal> {
        switch JWT.verify(accessToken, with: ring, nowSeconds: Clock.wallMillis() / 1000) {
        case .failure(.expired): return .failure(AccessRefusal("token_expired"))
        case .failure(.invalid): return .failure(AccessRefusal("invalid_token"))
        case .success(let claims):
            if revoked.contains(claims.sid) { return .failure(AccessRefusal("token_revoked")) }
            return .success(AccessGrant(userId: claims.sub, sessionId: claims.sid, expiresAt: claims.exp * 1000))
        }
    }
}

/// Sessions revoked within the last day (access tokens live at most 86,400 s), by id.
final class RevokedSessions: Sendable {
    private struct State {
        var at: [String: Int64] = [:]
        var newest: Int64 = 0
    }
    private let state = Mutex(State())

    /// True when it was not known.
    @discardableResult
    func insert(_ id: String, at time: Int64) -> Bool {
        state.withLock { s in
            s.newest = max(s.newest, time)
            guard s.at[id] == nil else { return false }
            s.at[id] = time
            if s.at.count % 4096 == 0 {
                let horizon = Clock.wallMillis() - 86_400_000
                s.at = s.at.filter { $0.value >= horizon }
            }
            return true
        }
    }

    func contains(_ id: String) -> Bool { state.withLock { $0.at[id] != nil } }

    var newest: Int64 { state.withLock { $0.newest } }
}

/// Why accounts could not start (printed for the operator, exit 1). Never carries a secret.
public struct AccountsStartError: Error, Sendable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

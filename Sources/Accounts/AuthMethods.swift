import Gateway
import Log
import JSON
import Reactor
import Store
import WebSocketProtocol

/// The `auth.*` methods of contract 2a. Each handler checks what it can on the loop, then hands
/// the hash to the hash pool and the SQL to the store; both answer back on the call's loop.
enum AuthMethods {
    static func register(in methods: inout MethodRegistry, accounts a: Accounts, sessions: SessionRegistry) {
        let credentials: [ParamSpec] = [.required("email", .string), .required("password", .string)]
        methods.register(MethodSpec("auth.register", params: credentials, requiresID: true) { call in
            registerUser(call, a)
        })
        methods.register(MethodSpec("auth.login", params: credentials, requiresID: true) { call in
            login(call, a)
        })
        methods.register(MethodSpec("auth.authenticate", params: [.required("token", .string)], requiresID: true) { call in
            guard let token = call.params["token"]?.stringValue else { return }
            switch a.check(accessToken: token) {
            case .failure(let refusal):
                call.fail(RPCError(code: RPCError.unauthenticatedCode, reason: refusal.reason, message: "the token is not accepted"))
            case .success(let grant):
                call.client.changeIdentity(to: .user(id: grant.userId), grant: grant)
                call.succeed(["userId": .string(grant.userId), "expiresAt": .number(JSONNumber(Int(grant.expiresAt)))])
            }
        })
        methods.register(MethodSpec("auth.refresh", params: [.required("refreshToken", .string)], requiresID: true) { call in
            refresh(call, a, sessions)
        })
        methods.register(MethodSpec("auth.me", requiresID: true) { call in
            guard let grant = signedIn(call) else { return }
            run(call, a, write: false, { c throws(StoreError) in try AccountStore.user(c, id: grant.userId)?.email }) { email in
                guard let email else { return call.fail(.unauthenticated()) }
                call.succeed(["userId": .string(grant.userId), "email": .string(email),
                              "expiresAt": .number(JSONNumber(Int(grant.expiresAt)))])
            }
        })
        methods.register(MethodSpec("auth.logout", requiresID: true) { call in
            guard let grant = signedIn(call) else { return }
            let now = Clock.wallMillis()
            run(call, a, { c throws(StoreError) in try AccountStore.revokeSession(c, id: grant.sessionId, reason: "logout", now: now) }) { _ in
                a.revoked.insert(grant.sessionId, at: now)
                call.client.changeIdentity(to: .anonymous)
                sessions.close(session: grant.sessionId, code: .tokenExpired, reason: "token_revoked")
                a.announceRevocations()
                call.succeed(["loggedOut": true])
            }
        })
        methods.register(MethodSpec("auth.logoutAll", requiresID: true) { call in
            guard let grant = signedIn(call) else { return }
            let now = Clock.wallMillis()
            run(call, a, { c throws(StoreError) in
                try AccountStore.revokeSessions(c, userId: grant.userId, except: nil, reason: "logout_all", now: now)
            }) { ids in
                call.client.changeIdentity(to: .anonymous)
                for id in ids {
                    a.revoked.insert(id, at: now)
                    sessions.close(session: id, code: .tokenExpired, reason: "token_revoked")
                }
                if !ids.isEmpty { a.announceRevocations() }
                call.succeed(["loggedOut": true, "sessions": .number(JSONNumber(ids.count))])
            }
        })
        methods.register(MethodSpec("auth.changePassword", params: [.required("currentPassword", .string), .required("newPassword", .string)],
                                    requiresID: true) { call in
            changePassword(call, a, sessions)
        })
    }

    // MARK: Shared steps

    static func error(_ code: Int, _ reason: String, _ message: String, _ details: [(String, JSONValue)] = []) -> RPCError {
        RPCError(code: code, reason: reason, message: message, details: details)
    }

    static let invalidCredentials = error(RPCError.unauthenticatedCode, "invalid_credentials", "wrong email or password")
    static let busy = StoreAnswer.busy

    static func tooManyAttempts(_ retryAfterMs: Int64) -> RPCError {
        error(RPCError.rateLimitedCode, "too_many_attempts", "too many attempts; try again later",
              [("retryAfterMs", .number(JSONNumber(Int(retryAfterMs))))])
    }

    /// The caller's grant, or the call answered −32001 (anonymous and publisher connections).
    static func signedIn(_ call: RPCCall) -> AccessGrant? {
        guard case .user = call.client.role, let grant = call.client.grant else {
            call.fail(.unauthenticated())
            return nil
        }
        return grant
    }

    /// A store transaction whose failure answers the call (−32013 busy/unavailable, −32603).
    static func run<T: Sendable>(_ call: RPCCall, _ a: Accounts, write: Bool = true,
                                 _ body: @escaping @Sendable (any SQLConnection) throws(StoreError) -> T,
                                 then: @escaping (T) -> Void) {
        StoreAnswer.transaction(call, a.store, logger: a.logger, write: write, body, then: then)
    }


    /// Work on the hash pool; a full queue answers −32013 `busy` (not a login failure).
    static func hashing<T: Sendable>(_ call: RPCCall, _ a: Accounts, _ work: @escaping @Sendable () -> T,
                                     then: @escaping (T) -> Void) {
        do {
            try a.hashPool.submit(from: call.client.loop, work) { result in
                guard case .success(let v) = result else { return call.fail(busy) }
                then(v)
            }
        } catch {
            call.fail(busy)
        }
    }

    static func password(_ call: RPCCall, _ name: String, newRules: Bool) -> [UInt8]? {
        guard let p = call.params[name]?.stringValue else { return nil }
        switch PasswordRule.check(p) {
        case .ok: return Array(p.utf8)
        case .weak where newRules:
            call.fail(error(RPCError.invalidParamsCode, "weak_password", "the password needs at least 10 characters"))
        case .weak: return Array(p.utf8)
        case .tooLong:
            call.fail(.invalidParam(name, "\(name) has more than 256 characters"))
        }
        return nil
    }

    /// A new session for `userId` with its first refresh token, and the login answer.
    static func openSession(_ call: RPCCall, _ a: Accounts, userId: String, rehash: Rehash? = nil) {
        let now = Clock.wallMillis()
        let sessionId = Secrets.randomID()
        let refresh = Secrets.randomToken()
        let c = a.configuration
        run(call, a, { conn throws(StoreError) in
            if let rehash {
                // Only over the hash just verified: a password changed meanwhile stays changed.
                try AccountStore.replacePasswordHash(conn, userId: userId, old: rehash.old, new: rehash.new)
            }
            try AccountStore.createSession(conn, id: sessionId, userId: userId, now: now, expiresAt: now + c.sessionMaxAge * 1000)
            try AccountStore.addRefreshToken(conn, hash: Secrets.sha256Hex(refresh), sessionId: sessionId, now: now,
                                             expiresAt: now + min(c.refreshTTL, c.sessionMaxAge) * 1000)
        }) { _ in
            answerPair(call, a, userId: userId, sessionId: sessionId, refresh: refresh)
        }
    }

    /// A verified password's hash made with lower parameters than the configured ones, and its replacement.
    struct Rehash: Sendable {
        let old: String
        let new: String
    }

    enum LoginCheck: Sendable {
        case refused
        case accepted(rehash: Rehash?)
    }

    static func answerPair(_ call: RPCCall, _ a: Accounts, userId: String, sessionId: String, refresh: String) {
        let access = a.issueAccess(userId: userId, sessionId: sessionId)
        call.client.changeIdentity(to: .user(id: userId), grant: access.grant)
        call.succeed(["userId": .string(userId), "accessToken": .string(access.token), "refreshToken": .string(refresh),
                      "expiresIn": .number(JSONNumber(Int(access.expiresIn))),
                      "expiresAt": .number(JSONNumber(Int(access.grant.expiresAt)))])
    }

    // MARK: Methods

    static func registerUser(_ call: RPCCall, _ a: Accounts) {
        guard let raw = call.params["email"]?.stringValue else { return }
        guard let email = Email.normalize(raw) else { return call.fail(.invalidParam("email", "not a valid email address")) }
        guard let password = password(call, "password", newRules: true) else { return }
        if let retry = a.registrations.admit(peer: a.peerKey(call.client), now: Clock.wallMillis()) {
            return call.fail(tooManyAttempts(retry))
        }
        let hasher = a.hasher
        hashing(call, a, { () -> String? in try? hasher.hash(password) }) { hash in
            guard let hash else { return call.fail(.internalError()) }
            let id = Secrets.randomID()
            let now = Clock.wallMillis()
            run(call, a, { c throws(StoreError) -> Bool in
                try AccountStore.createUser(c, id: id, email: email, passwordHash: hash, now: now)
            }) { created in
                guard created else { return call.fail(error(RPCError.conflictCode, "email_taken", "an account with this email exists")) }
                call.succeed(["userId": .string(id), "email": .string(email)])
            }
        }
    }

    /// Unknown email and wrong password do the same work (a hash either way) and get the same
    /// error object.
    static func login(_ call: RPCCall, _ a: Accounts) {
        guard let raw = call.params["email"]?.stringValue else { return }
        guard let email = Email.normalize(raw) else { return call.fail(.invalidParam("email", "not a valid email address")) }
        guard let password = password(call, "password", newRules: false) else { return }
        let peer = a.peerKey(call.client)
        if let retry = a.logins.check(email: email, peer: peer, now: Clock.wallMillis()) { return call.fail(tooManyAttempts(retry)) }
        run(call, a, write: false, { c throws(StoreError) in try AccountStore.user(c, email: email) }) { user in
            let hasher = a.hasher
            let stored = user?.passwordHash
            hashing(call, a, { () -> LoginCheck in
                guard let stored else {
                    hasher.verifyDummy(password)
                    return .refused
                }
                guard hasher.verify(password, against: stored) else { return .refused }
                // Parameters raised since this hash was made: re-hash now, while the password is at hand.
                guard hasher.needsRehash(stored), let raised = try? hasher.hash(password) else { return .accepted(rehash: nil) }
                return .accepted(rehash: Rehash(old: stored, new: raised))
            }) { check in
                guard case .accepted(let rehash) = check, let user else {
                    a.logins.recordFailure(email: email, peer: peer, now: Clock.wallMillis())
                    return call.fail(invalidCredentials)
                }
                a.logins.recordSuccess(email: email, peer: peer)
                openSession(call, a, userId: user.id, rehash: rehash)
            }
        }
    }

    enum RefreshOutcome: Sendable {
        case pair(userId: String, sessionId: String, refresh: String)
        case failure(reason: String)
        case reused(sessionId: String)
    }

    static func refresh(_ call: RPCCall, _ a: Accounts, _ sessions: SessionRegistry) {
        guard let presented = call.params["refreshToken"]?.stringValue, presented.utf8.count <= 512 else {
            return call.fail(error(RPCError.unauthenticatedCode, "invalid_token", "the refresh token is not accepted"))
        }
        let hash = Secrets.sha256Hex(presented)
        let now = Clock.wallMillis()
        let c = a.configuration
        let fresh = Secrets.randomToken()
        run(call, a, { conn throws(StoreError) -> RefreshOutcome in
            guard let r = try AccountStore.refreshToken(conn, hash: hash), r.expiresAt > now, r.sessionExpiresAt > now else {
                return .failure(reason: "invalid_token")
            }
            if r.sessionRevoked { return .failure(reason: "token_revoked") }
            if let rotated = r.rotatedAt, now - rotated > c.refreshReuseGrace * 1000 {
                try AccountStore.revokeSession(conn, id: r.sessionId, reason: "refresh_token_reused", now: now)
                return .reused(sessionId: r.sessionId)
            }
            try AccountStore.markRotated(conn, hash: hash, now: now)
            try AccountStore.addRefreshToken(conn, hash: Secrets.sha256Hex(fresh), sessionId: r.sessionId, now: now,
                                             expiresAt: min(now + c.refreshTTL * 1000, r.sessionExpiresAt))
            return .pair(userId: r.userId, sessionId: r.sessionId, refresh: fresh)
        }) { outcome in
            switch outcome {
            case .pair(let userId, let sessionId, let refresh):
                answerPair(call, a, userId: userId, sessionId: sessionId, refresh: refresh)
            case .failure(let reason):
                call.fail(error(RPCError.unauthenticatedCode, reason, "the refresh token is not accepted"))
            case .reused(let sessionId):
                a.logger.notice("refresh token reused: session revoked", [("conn", call.client.connectionID)])
                call.fail(error(RPCError.unauthenticatedCode, "refresh_token_reused", "this refresh token was already used; the session is revoked"))
                a.revoked.insert(sessionId, at: now)
                // After the answer: the registry's closes run in a later task on each loop.
                sessions.close(session: sessionId, code: .tokenExpired, reason: "token_revoked")
                a.announceRevocations()
            }
        }
    }

    static func changePassword(_ call: RPCCall, _ a: Accounts, _ sessions: SessionRegistry) {
        guard let grant = signedIn(call) else { return }
        guard let current = password(call, "currentPassword", newRules: false),
              let new = password(call, "newPassword", newRules: true) else { return }
        let peer = a.peerKey(call.client)
        run(call, a, write: false, { c throws(StoreError) in try AccountStore.user(c, id: grant.userId) }) { user in
            guard let user else { return call.fail(.unauthenticated()) }
            if let retry = a.logins.check(email: user.email, peer: peer, now: Clock.wallMillis()) { return call.fail(tooManyAttempts(retry)) }
            let hasher = a.hasher
            hashing(call, a, { () -> String? in
                guard hasher.verify(current, against: user.passwordHash) else { return nil }
                return try? hasher.hash(new)
            }) { newHash in
                guard let newHash else {
                    a.logins.recordFailure(email: user.email, peer: peer, now: Clock.wallMillis())
                    return call.fail(invalidCredentials)
                }
                let now = Clock.wallMillis()
                run(call, a, { c throws(StoreError) in
                    try AccountStore.setPasswordHash(c, userId: user.id, hash: newHash)
                    return try AccountStore.revokeSessions(c, userId: user.id, except: grant.sessionId, reason: "password_changed", now: now)
                }) { ids in
                    for id in ids {
                        a.revoked.insert(id, at: now)
                        sessions.close(session: id, code: .tokenExpired, reason: "token_revoked")
                    }
                    if !ids.isEmpty { a.announceRevocations() }
                    call.succeed(["changed": true])
                }
            }
        }
    }
}

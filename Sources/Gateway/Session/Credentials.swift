import Server
import WebSocketProtocol

/// Handshake checks for /ws: who the client is (a bearer credential in the header or the
/// `access_token` query parameter) and whether a browser may connect from its Origin.
struct Credentials: Sendable {
    let publisherKeys: [[UInt8]]
    let allowedOrigins: [String]
    let anyOrigin: Bool
    /// Access tokens (JWT), when the accounts module is in; without it any credential that is
    /// not a publisher key is refused.
    let accessTokens: (any AccessTokenVerifier)?

    init(_ c: GatewayConfiguration, accessTokens: (any AccessTokenVerifier)?) {
        self.accessTokens = accessTokens
        publisherKeys = c.publisherKeys.map { Array($0.utf8) }
        allowedOrigins = c.allowedOrigins.filter { $0 != "*" }.map { $0.lowercased() }
        anyOrigin = c.allowedOrigins.contains("*")
    }

    enum Outcome: Equatable {
        case role(Role, AccessGrant?)
        case refuse(HTTPRejection)
    }

    /// The bearer token of a request: from `Authorization: Bearer …` or (when allowed)
    /// `?access_token=`. A credential that is there but unreadable is refused, never ignored.
    static func bearer(_ head: HTTPRequestHead, allowQuery: Bool = true) -> Result<String?, HTTPRejection> {
        var header: String?
        let auth = head.values("authorization")
        if auth.count > 1 { return .failure(HTTPRejection(.badRequest, "more than one Authorization header")) }
        if let value = auth.first {
            let parts = value.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
            guard parts.count == 2, parts[0].lowercased() == "bearer" else {
                return .failure(HTTPRejection(.unauthorized, "Authorization must be 'Bearer <token>'",
                                              headers: [.init(name: "WWW-Authenticate", value: "Bearer")]))
            }
            header = String(parts[1])
        }
        guard allowQuery else { return .success(header) }
        var query: String?
        var seen = 0
        for pair in (head.query ?? "").split(separator: "&", omittingEmptySubsequences: true) {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard HTTPRequestHead.percentDecode(kv[0]) == "access_token" else { continue }
            seen += 1
            guard let v = kv.count > 1 ? HTTPRequestHead.percentDecode(kv[1]) : "" else {
                return .failure(HTTPRejection(.unauthorized, "invalid credentials",
                                              headers: [.init(name: "WWW-Authenticate", value: "Bearer error=\"invalid_token\"")]))
            }
            query = v
        }
        if seen > 1 { return .failure(HTTPRejection(.badRequest, "access_token given more than once")) }
        if let header, let query, header != query {
            return .failure(HTTPRejection(.badRequest, "two different credentials (header and access_token)"))
        }
        return .success(header ?? query)
    }

    func authenticate(_ head: HTTPRequestHead) -> Outcome {
        switch Credentials.bearer(head) {
        case .failure(let r):
            return .refuse(r)
        case .success(nil):
            return .role(.anonymous, nil)
        case .success(let token?):
            if isPublisherKey(token) { return .role(.publisher, nil) }
            // Wrong credentials are refused, never downgraded to anonymous.
            guard let accessTokens else { return .refuse(Credentials.invalidToken("invalid_token")) }
            switch accessTokens.check(accessToken: token) {
            case .success(let grant): return .role(.user(id: grant.userId), grant)
            case .failure(let refusal): return .refuse(Credentials.invalidToken(refusal.reason))
            }
        }
    }

    /// 401 with the reason word in the body and the RFC 6750 challenge (never the token).
    static func invalidToken(_ reason: String) -> HTTPRejection {
        HTTPRejection(.unauthorized, "invalid credentials (\(reason))",
                      headers: [.init(name: "WWW-Authenticate", value: "Bearer error=\"invalid_token\"")])
    }

    /// Constant time in the key's contents: every configured key is compared in full.
    func isPublisherKey(_ token: String) -> Bool {
        let t = Array(token.utf8)
        var found = false
        for key in publisherKeys {
            found = Credentials.constantTimeEqual(t, key) || found
        }
        return found
    }

    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var diff = UInt8(truncatingIfNeeded: a.count ^ b.count)
        let n = max(a.count, b.count)
        for i in 0..<n {
            let x = i < a.count ? a[i] : 0
            let y = i < b.count ? b[i] : 0
            diff |= x ^ y
        }
        return diff == 0 && a.count == b.count
    }

    /// A browser's Origin must be the gateway's own (same host and port as `Host`) or listed.
    func originAllowed(_ head: HTTPRequestHead) -> Bool {
        guard let origin = head.value("origin")?.lowercased(), !anyOrigin else { return true }
        if allowedOrigins.contains(origin) { return true }
        guard let host = head.value("host")?.lowercased() else { return false }
        return origin == "http://\(host)" || origin == "https://\(host)"
    }
}

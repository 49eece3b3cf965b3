import COpenSSL

/// What a valid WebSocket upgrade request asked for.
public struct UpgradeRequest: Sendable, Equatable {
    public var key: String
    /// Offered subprotocols, in the client's order.
    public var protocols: [String]
    /// Raw `Sec-WebSocket-Extensions` values (negotiated by the deflate layer).
    public var extensions: [String]
    public var origin: String?
}

/// The server side of the RFC 6455 §4.2 opening handshake, as pure functions.
public enum UpgradeHandshake {
    static let guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    /// Whether the request asks for a WebSocket at all (an `Upgrade` header is present).
    public static func isUpgradeAttempt(_ head: HTTPRequestHead) -> Bool {
        !head.values("upgrade").isEmpty
    }

    /// Checks an upgrade request; the rejection carries the status to answer.
    public static func validate(_ head: HTTPRequestHead) -> Result<UpgradeRequest, HTTPRequestError> {
        guard head.method == "GET" else {
            return .failure(.upgradeNeedsGET)
        }
        guard head.versionMinor == 1 else { return .failure(.malformed("WebSocket upgrade requires HTTP/1.1")) }
        let upgrades = head.values("upgrade")
        guard upgrades.count == 1, HTTPRequestHead.trim(upgrades[0][...]).lowercased() == "websocket" else {
            return .failure(.malformed("Upgrade must be exactly 'websocket'"))
        }
        guard head.tokens("connection").contains("upgrade") else {
            return .failure(.malformed("Connection header must contain 'upgrade'"))
        }
        if head.contentLength > 0 {
            return .failure(.malformed("a WebSocket upgrade must not have a body"))
        }
        let versions = head.values("sec-websocket-version")
        guard versions.count == 1, versions[0] == "13" else {
            if versions.isEmpty { return .failure(.malformed("missing Sec-WebSocket-Version")) }
            return .failure(.unsupportedWebSocketVersion)
        }
        let keys = head.values("sec-websocket-key")
        guard keys.count == 1, let decoded = Base64.decode(keys[0]), decoded.count == 16 else {
            return .failure(.malformed("Sec-WebSocket-Key must be base64 of 16 bytes"))
        }
        let origins = head.values("origin")
        guard origins.count <= 1 else { return .failure(.malformed("duplicate Origin header")) }
        return .success(UpgradeRequest(key: keys[0], protocols: head.caseSensitiveTokens("sec-websocket-protocol"),
                                       extensions: head.values("sec-websocket-extensions"), origin: origins.first))
    }

    /// `Sec-WebSocket-Accept` for a key: base64(SHA-1(key + GUID)).
    public static func acceptValue(forKey key: String) -> String {
        let input = Array((key + guid).utf8)
        var digest = [UInt8](repeating: 0, count: 20)
        let ok = input.withUnsafeBytes { inBuf in
            digest.withUnsafeMutableBufferPointer { out in
                qv_sha1(inBuf.baseAddress, inBuf.count, out.baseAddress) == 1
            }
        }
        precondition(ok, "SHA-1 unavailable in libcrypto")
        return Base64.encode(digest)
    }

    /// The 101 response's headers. `subprotocol` and `extensions` are echoed when chosen.
    public static func responseHeaders(for request: UpgradeRequest, subprotocol: String?, extensions: String? = nil) -> [(String, String)] {
        var headers: [(String, String)] = [
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Accept", acceptValue(forKey: request.key)),
        ]
        if let subprotocol { headers.append(("Sec-WebSocket-Protocol", subprotocol)) }
        if let extensions { headers.append(("Sec-WebSocket-Extensions", extensions)) }
        return headers
    }
}

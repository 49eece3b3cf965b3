/// `redis://[[user]:password@]host[:port][/db]` (contract 2d). No TLS: hiredis 0.14 has none.
/// `description` is the redacted form for logs; errors never hold the password or the URL.
public struct RedisURL: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var user: String?
    public var password: String?
    public var db: Int

    public init(host: String, port: Int = 6379, user: String? = nil, password: String? = nil, db: Int = 0) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.db = db
    }

    public struct Invalid: Error, CustomStringConvertible, Equatable {
        public let description: String
    }

    public init(parsing text: String) throws(Invalid) {
        if text.hasPrefix("rediss://") { throw Invalid(description: "rediss:// (TLS) is not supported: hiredis 0.14 has no TLS") }
        guard text.hasPrefix("redis://") else { throw Invalid(description: "a Redis URL starts with redis://") }
        var rest = Substring(text.dropFirst("redis://".count))
        if rest.contains("?") || rest.contains("#") { throw Invalid(description: "a Redis URL takes no query or fragment") }
        var user: String?, password: String?
        if let at = rest.lastIndex(of: "@") {
            let info = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = info.firstIndex(of: ":") {
                let u = try Self.decode(info[..<colon])
                user = u.isEmpty ? nil : u
                password = try Self.decode(info[info.index(after: colon)...])
            } else {
                // redis://secret@host is the password alone (as redis-cli reads it).
                password = try Self.decode(info)
            }
        }
        var db = 0
        if let slash = rest.firstIndex(of: "/") {
            let d = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
            if !d.isEmpty {
                guard d.utf8.count <= 6, d.allSatisfy(\.isASCII), let n = Int(d), n >= 0 else {
                    throw Invalid(description: "the database after / must be a number >= 0")
                }
                db = n
            }
        }
        var host = rest
        var portText: Substring?
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { throw Invalid(description: "an IPv6 host needs its closing ]") }
            host = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw Invalid(description: "unexpected text after the IPv6 host") }
                portText = after.dropFirst()
            }
        } else if let colon = rest.lastIndex(of: ":") {
            host = rest[..<colon]
            portText = rest[rest.index(after: colon)...]
        }
        guard !host.isEmpty else { throw Invalid(description: "a Redis URL needs a host") }
        var port = 6379
        if let portText {
            guard portText.utf8.count <= 5, portText.allSatisfy(\.isASCII), let p = Int(portText), (1...65535).contains(p) else {
                throw Invalid(description: "the port must be 1-65535")
            }
            port = p
        }
        self.init(host: String(host), port: port, user: user, password: password, db: db)
    }

    /// Percent-decoding of the user and password.
    private static func decode(_ s: Substring) throws(Invalid) -> String {
        var out: [UInt8] = []
        var it = Array(s.utf8)[...]
        while let b = it.popFirst() {
            guard b == UInt8(ascii: "%") else { out.append(b); continue }
            guard it.count >= 2, let v = UInt8(String(decoding: it.prefix(2), as: UTF8.self), radix: 16) else {
                throw Invalid(description: "a bad %-escape in the URL's user or password")
            }
            out.append(v)
            it = it.dropFirst(2)
        }
        return String(decoding: out, as: UTF8.self)
    }

    public var description: String {
        let shownHost = host.contains(":") ? "[\(host)]" : host
        let info = password == nil && user == nil ? "" : "\(user ?? ""):***@"
        return "redis://\(info)\(shownHost):\(port)/\(db)"
    }
}

#if canImport(Glibc)
import Glibc
#endif

extension RedisURL {
    /// The same URL with its host as an IP literal: resolved once, at start (getaddrinfo
    /// blocks, and hiredis would call it on every reconnect, on the event loop).
    public func resolved() throws(Invalid) -> RedisURL {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &result) == 0, let first = result else {
            throw Invalid(description: "cannot resolve the Redis host '\(host.prefix(100))'")
        }
        defer { freeaddrinfo(result) }
        var buf = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        guard getnameinfo(first.pointee.ai_addr, first.pointee.ai_addrlen, &buf, socklen_t(buf.count), nil, 0, NI_NUMERICHOST) == 0 else {
            throw Invalid(description: "cannot resolve the Redis host '\(host.prefix(100))'")
        }
        var copy = self
        copy.host = String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return copy
    }
}

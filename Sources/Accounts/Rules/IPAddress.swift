import Glibc

/// An IPv4 (4 bytes) or IPv6 (16 bytes) address, parsed with inet_pton. IPv4-mapped IPv6
/// addresses (`::ffff:a.b.c.d`, what a dual-stack socket reports) are taken as the IPv4 address.
struct IPAddress: Equatable, Hashable, Sendable {
    let bytes: [UInt8]

    var isV4: Bool { bytes.count == 4 }

    /// Accepts `a.b.c.d`, `a.b.c.d:port`, a bare IPv6 address, `[v6]` and `[v6]:port` (the forms
    /// our peer descriptions and proxies' X-Forwarded-For entries take).
    init?(host text: Substring) {
        var host = text
        if host.first == "[" {
            guard let close = host.firstIndex(of: "]") else { return nil }
            let rest = host[host.index(after: close)...]
            guard rest.isEmpty || Self.isPort(rest.dropFirst()) && rest.first == ":" else { return nil }
            host = host[host.index(after: host.startIndex)..<close]
            guard host.contains(":") else { return nil }
        } else if let colon = host.firstIndex(of: ":"), host.lastIndex(of: ":") == colon {
            // Exactly one colon: IPv4 with a port (IPv6 has at least two).
            guard Self.isPort(host[host.index(after: colon)...]) else { return nil }
            host = host[..<colon]
        }
        // A link-local peer may carry a zone (`fe80::1%eth0`); the zone is no part of the address.
        if host.contains(":"), let percent = host.firstIndex(of: "%") { host = host[..<percent] }
        self.init(literal: host)
    }

    /// An address alone, as inet_pton reads it (no brackets, no port).
    init?(literal: Substring) {
        guard let parsed = Self.pton(String(literal)) else { return nil }
        self.init(bytes: parsed)
    }

    init(bytes: [UInt8]) {
        let mappedPrefix: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF]
        if bytes.count == 16, bytes.starts(with: mappedPrefix) {
            self.bytes = Array(bytes[12...])
        } else {
            self.bytes = bytes
        }
    }

    /// The first `bits` bits kept, the rest zero.
    func masked(to bits: Int) -> IPAddress {
        var out = bytes
        for i in out.indices {
            let keep = min(max(bits - i * 8, 0), 8)
            out[i] &= keep == 0 ? 0 : UInt8(truncatingIfNeeded: 0xFF << (8 - keep))
        }
        return IPAddress(bytes: out)
    }

    /// inet_ntop's canonical text (RFC 5952 for IPv6: lowercase, longest zero run as `::`).
    var text: String {
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: Int(INET6_ADDRSTRLEN)) { buf -> String in
            let family = isV4 ? AF_INET : AF_INET6
            let ok = bytes.withUnsafeBytes { inet_ntop(family, $0.baseAddress, buf.baseAddress, socklen_t(buf.count)) }
            guard ok != nil else { return "?" }   // cannot happen with a 4- or 16-byte address
            let end = buf.firstIndex(of: 0) ?? buf.count
            return String(decoding: buf[..<end].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
    }

    /// 4 or 16 bytes, as written (no unmapping).
    static func pton(_ host: String) -> [UInt8]? {
        guard !host.isEmpty, host.utf8.count < Int(INET6_ADDRSTRLEN) else { return nil }
        for (family, size) in [(AF_INET, 4), (AF_INET6, 16)] {
            var out = [UInt8](repeating: 0, count: size)
            if out.withUnsafeMutableBytes({ inet_pton(family, host, $0.baseAddress) }) == 1 { return out }
        }
        return nil
    }

    private static func isPort(_ text: Substring) -> Bool {
        (1...5).contains(text.utf8.count) && text.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 }
    }
}

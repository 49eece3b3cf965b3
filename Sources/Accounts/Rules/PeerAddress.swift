/// The key a client's failures are counted under (contract 2a).
public enum PeerAddress {
    /// IPv4 as it is, IPv6 as its /64 (`2001:db8:1:2::/64`), IPv4-mapped IPv6 as IPv4.
    ///
    /// With trusted proxies, and only when the TCP peer is one of them: the X-Forwarded-For
    /// entries (all header values joined by commas) are read right to left, and the first one
    /// outside every trusted range is the client. An entry that is not an address stops the walk
    /// at the last trusted hop, which is then the key: a client cannot mint fresh keys by writing
    /// junk. If every entry is trusted, the leftmost is the key. An unreadable TCP peer is used
    /// as its text.
    public static func key(peer: String, forwardedFor: [String], trustedProxies: [CIDR]) -> String {
        guard let tcpPeer = IPAddress(host: peer[...]) else { return peer }
        guard isTrusted(tcpPeer, trustedProxies) else { return key(tcpPeer) }
        let entries = forwardedFor.joined(separator: ",").split(separator: ",", omittingEmptySubsequences: false)
        var hop = tcpPeer
        for entry in entries.reversed() {
            guard let address = IPAddress(host: trimmed(entry)) else { break }
            hop = address
            if !isTrusted(address, trustedProxies) { break }
        }
        return key(hop)
    }

    static func key(_ address: IPAddress) -> String {
        address.isV4 ? address.text : address.masked(to: 64).text + "/64"
    }

    private static func isTrusted(_ address: IPAddress, _ ranges: [CIDR]) -> Bool {
        ranges.contains { $0.contains(address) }
    }

    private static func trimmed(_ s: Substring) -> Substring {
        let isBlank = { (c: Character) in c == " " || c == "\t" }
        guard let first = s.firstIndex(where: { !isBlank($0) }), let last = s.lastIndex(where: { !isBlank($0) }) else { return "" }
        return s[first...last]
    }
}

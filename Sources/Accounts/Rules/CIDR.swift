/// An address range such as `10.0.0.0/8` or `2001:db8::/32` (`--trusted-proxy`).
public struct CIDR: Equatable, Hashable, Sendable, CustomStringConvertible {
    let network: IPAddress
    public let prefixLength: Int

    /// `address/length`, or a bare address (one host: /32 or /128). Host bits beyond the prefix
    /// are cleared (`10.1.2.3/8` is `10.0.0.0/8`). nil for anything else.
    public static func parse(_ text: String) -> CIDR? {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let raw = IPAddress.pton(String(parts[0])) else { return nil }
        let written = raw.count * 8
        var length = written
        if parts.count == 2 {
            let digits = parts[1]
            guard (1...3).contains(digits.utf8.count), digits.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                  let n = Int(digits), n <= written else { return nil }
            length = n
        }
        let address = IPAddress(bytes: raw)
        if address.bytes.count != raw.count {
            // `::ffff:a.b.c.d/n` became IPv4: its prefix counted the 96 bits of the mapping.
            guard length >= 96 else { return nil }
            length -= 96
        }
        return CIDR(network: address.masked(to: length), prefixLength: length)
    }

    func contains(_ address: IPAddress) -> Bool {
        address.bytes.count == network.bytes.count && address.masked(to: prefixLength) == network
    }

    public var description: String { network.text + "/" + String(prefixLength) }
}

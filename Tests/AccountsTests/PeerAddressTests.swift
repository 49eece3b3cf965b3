@testable import Accounts
import Testing

private func cidrs(_ texts: String...) -> [CIDR] {
    texts.compactMap(CIDR.parse)
}

@Suite struct PeerAddressTests {
    @Test(arguments: [
        ("1.2.3.4:5678", "1.2.3.4"),
        ("1.2.3.4", "1.2.3.4"),
        ("[2001:db8:1:2:3:4:5:6]:443", "2001:db8:1:2::/64"),
        ("[2001:0DB8:0001:0002::1]:1", "2001:db8:1:2::/64"),
        ("2001:db8:aaaa:bbbb:cccc::1", "2001:db8:aaaa:bbbb::/64"),
        ("[::1]:9", "::/64"),
        ("[::ffff:10.1.2.3]:80", "10.1.2.3"),
        ("[fe80::1:2%eth0]:80", "fe80::/64"),                         // zone dropped, not a key per port                        // dual-stack socket: IPv4
        ("?", "?"),                                                   // unreadable peer: as given
    ])
    func withoutProxies(peer: String, key: String) {
        #expect(PeerAddress.key(peer: peer, forwardedFor: ["9.9.9.9"], trustedProxies: []) == key)
    }

    @Test func untrustedPeerIgnoresTheHeader() {
        let key = PeerAddress.key(peer: "203.0.113.5:1000", forwardedFor: ["1.1.1.1"], trustedProxies: cidrs("10.0.0.0/8"))
        #expect(key == "203.0.113.5")
    }

    @Test(arguments: [
        (["198.51.100.7"], "198.51.100.7"),
        (["198.51.100.7, 10.0.0.2"], "198.51.100.7"),                 // our second proxy appended 10.0.0.2
        (["6.6.6.6, 198.51.100.7, 10.0.0.2"], "198.51.100.7"),        // spoofed left part ignored
        (["6.6.6.6", "198.51.100.7,10.0.0.2"], "198.51.100.7"),       // several header values, in order
        (["6.6.6.6, 198.51.100.7", "10.0.0.2"], "198.51.100.7"),
        ([" 198.51.100.7\t,\t10.0.0.3 "], "198.51.100.7"),
        (["2001:db8:5:6:7::8"], "2001:db8:5:6::/64"),
        (["[2001:db8:5:6:7::8]:4711"], "2001:db8:5:6::/64"),
        (["198.51.100.7:4711"], "198.51.100.7"),
        ([], "10.0.0.1"),                                             // no header: the proxy itself
        ([""], "10.0.0.1"),
        (["junk"], "10.0.0.1"),                                       // junk: the last trusted hop
        (["198.51.100.7, junk, 10.0.0.2"], "10.0.0.2"),
        (["198.51.100.7,,10.0.0.2"], "10.0.0.2"),
        (["10.0.0.9, 10.0.0.2"], "10.0.0.9"),                         // all trusted: the leftmost
        (["fd00::1"], "fd00::/64"),                                   // trusted v6 hop, all trusted
        (["198.51.100.7, fd00::5"], "198.51.100.7"),
    ])
    func behindTrustedProxies(header: [String], key: String) {
        let trusted = cidrs("10.0.0.0/8", "fd00::/8")
        #expect(PeerAddress.key(peer: "10.0.0.1:5555", forwardedFor: header, trustedProxies: trusted) == key)
    }

    @Test func trustedV6Peer() {
        let key = PeerAddress.key(peer: "[fd00::1]:80", forwardedFor: ["192.0.2.1"], trustedProxies: cidrs("fd00::/8"))
        #expect(key == "192.0.2.1")
    }

    @Test func mappedPeerMatchesV4Range() {
        let key = PeerAddress.key(peer: "[::ffff:10.0.0.1]:80", forwardedFor: ["192.0.2.1"], trustedProxies: cidrs("10.0.0.0/8"))
        #expect(key == "192.0.2.1")
    }
}

@Suite struct CIDRTests {
    @Test(arguments: [
        ("10.0.0.0/8", "10.0.0.0/8"),
        ("10.1.2.3/8", "10.0.0.0/8"),
        ("192.168.1.7/32", "192.168.1.7/32"),
        ("192.168.1.7", "192.168.1.7/32"),
        ("0.0.0.0/0", "0.0.0.0/0"),
        ("172.16.0.0/12", "172.16.0.0/12"),
        ("2001:db8::/32", "2001:db8::/32"),
        ("2001:DB8:1234:5678::1/48", "2001:db8:1234::/48"),
        ("::/0", "::/0"),
        ("::1", "::1/128"),
        ("fe80::/10", "fe80::/10"),
        ("::ffff:10.0.0.0/104", "10.0.0.0/8"),
    ])
    func parse(text: String, canonical: String) {
        #expect(CIDR.parse(text)?.description == canonical)
    }

    @Test(arguments: ["", "/8", "10.0.0.0/", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/+8", "10.0.0.0/08x", "10.0.0/8",
                      "010.0.0.0/8", "10.0.0.0:80/8", "[::1]/128", "::1/129", "2001:db8::/ 32", " 10.0.0.0/8",
                      "10.0.0.0/8/8", "example.com/8", "::ffff:10.0.0.0/95", "10.0.0.0/0008"])
    func refused(text: String) {
        #expect(CIDR.parse(text) == nil)
    }

    @Test func contains() throws {
        let v4 = try #require(CIDR.parse("172.16.0.0/12"))
        #expect(v4.contains(try #require(IPAddress(literal: "172.31.255.255"))))
        #expect(!v4.contains(try #require(IPAddress(literal: "172.32.0.0"))))
        #expect(!v4.contains(IPAddress(bytes: [UInt8](repeating: 0, count: 16))))   // v6 never in a v4 range
        let v6 = try #require(CIDR.parse("2001:db8::/32"))
        #expect(v6.contains(try #require(IPAddress(literal: "2001:db8:ffff::1"))))
        #expect(!v6.contains(try #require(IPAddress(literal: "2001:db9::1"))))
        #expect(!v6.contains(try #require(IPAddress(literal: "10.0.0.1"))))
        let all = try #require(CIDR.parse("0.0.0.0/0"))
        #expect(all.contains(try #require(IPAddress(literal: "::ffff:1.2.3.4"))))   // mapped counts as v4
        #expect(!all.contains(try #require(IPAddress(literal: "::1"))))
    }
}

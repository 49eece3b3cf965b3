import Testing
@testable import WebSocketProtocol

/// One handshake: the client's `Sec-WebSocket-Extensions` values, our settings, and the answer
/// we must give (nil: decline, no extension header).
struct NegotiationCase: Sendable, CustomTestStringConvertible {
    let offers: [String]
    var settings = DeflateSettings()
    let answer: String?
    var testDescription: String { offers.map { "[\($0)]" }.joined(separator: " ") + " → " + (answer ?? "declined") }

    static let both = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"

    static func with(_ adjust: (inout DeflateSettings) -> Void) -> DeflateSettings {
        var s = DeflateSettings()
        adjust(&s)
        return s
    }

    static let all: [NegotiationCase] = [
        // Plain offers; our defaults add both no-context-takeover parameters.
        NegotiationCase(offers: ["permessage-deflate"], answer: both),
        NegotiationCase(offers: ["permessage-deflate; client_max_window_bits"], answer: both),
        NegotiationCase(offers: ["permessage-deflate; client_max_window_bits=10"], answer: both),
        NegotiationCase(offers: ["permessage-deflate;client_no_context_takeover;server_no_context_takeover"], answer: both),
        NegotiationCase(offers: ["PerMessage-Deflate; Client_Max_Window_Bits"], answer: both),
        NegotiationCase(offers: ["permessage-deflate; server_max_window_bits=10"], answer: both + "; server_max_window_bits=10"),
        NegotiationCase(offers: ["permessage-deflate; server_max_window_bits=15"], answer: both + "; server_max_window_bits=15"),
        NegotiationCase(offers: ["permessage-deflate; server_max_window_bits=\"12\""], answer: both + "; server_max_window_bits=12"),
        NegotiationCase(offers: ["permessage-deflate; client_max_window_bits=\"9\""], answer: both),
        NegotiationCase(offers: ["permessage-deflate ;\tserver_max_window_bits = 11 "], answer: both + "; server_max_window_bits=11"),
        // Our settings: smaller window, context takeover allowed.
        NegotiationCase(offers: ["permessage-deflate; server_max_window_bits=15"], settings: with { $0.serverMaxWindowBits = 12 },
                        answer: both + "; server_max_window_bits=12"),
        NegotiationCase(offers: ["permessage-deflate; server_max_window_bits=10"], settings: with { $0.serverMaxWindowBits = 12 },
                        answer: both + "; server_max_window_bits=10"),
        NegotiationCase(offers: ["permessage-deflate"], settings: with { $0.serverMaxWindowBits = 12 }, answer: both),
        NegotiationCase(offers: ["permessage-deflate"],
                        settings: with { $0.serverNoContextTakeover = false; $0.clientNoContextTakeover = false },
                        answer: "permessage-deflate"),
        NegotiationCase(offers: ["permessage-deflate; server_no_context_takeover"],
                        settings: with { $0.serverNoContextTakeover = false; $0.clientNoContextTakeover = false },
                        answer: "permessage-deflate; server_no_context_takeover"),
        NegotiationCase(offers: ["permessage-deflate; client_no_context_takeover"],
                        settings: with { $0.serverNoContextTakeover = false; $0.clientNoContextTakeover = false },
                        answer: "permessage-deflate; client_no_context_takeover"),
        NegotiationCase(offers: ["permessage-deflate"], settings: with { $0.enabled = false }, answer: nil),
        // Several offers: the first acceptable one wins.
        NegotiationCase(offers: ["permessage-deflate; server_max_window_bits=8, permessage-deflate; server_max_window_bits=9"],
                        answer: both + "; server_max_window_bits=9"),
        NegotiationCase(offers: ["permessage-deflate; unknown_param", "permessage-deflate; client_max_window_bits"], answer: both),
        NegotiationCase(offers: ["x-webkit-deflate-frame", "permessage-deflate"], answer: both),
        NegotiationCase(offers: ["foo; bar=\"a,b;c\", permessage-deflate; server_max_window_bits=13"],
                        answer: both + "; server_max_window_bits=13"),
        NegotiationCase(offers: [", ,permessage-deflate,"], answer: both),
        NegotiationCase(offers: ["permessage-deflate; bogus=\"x, permessage-deflate\", permessage-deflate; server_max_window_bits=14"],
                        answer: both + "; server_max_window_bits=14"),
        // Declined: each is the only offer.
        NegotiationCase(offers: ["permessage-deflate; server_max_window_bits=8"], answer: nil),
        NegotiationCase(offers: ["permessage-deflate; server_max_window_bits"], answer: nil),
        NegotiationCase(offers: ["permessage-deflate; server_max_window_bits=16"], answer: nil),
        NegotiationCase(offers: ["permessage-deflate; server_max_window_bits=7"], answer: nil),
        NegotiationCase(offers: ["permessage-deflate; server_max_window_bits=010"], answer: nil),
        NegotiationCase(offers: ["permessage-deflate; server_max_window_bits=+9"], answer: nil),
        NegotiationCase(offers: ["permessage-deflate; server_max_window_bits=99999999999999999999"], answer: nil),
        NegotiationCase(offers: ["permessage-deflate; client_max_window_bits=16"], answer: nil),
        NegotiationCase(offers: ["permessage-deflate; client_max_window_bits=0"], answer: nil),
        NegotiationCase(offers: ["permessage-deflate; client_max_window_bits=\"\""], answer: nil),
        NegotiationCase(offers: ["permessage-deflate; client_max_window_bits=\"1 0\""], answer: nil),
        NegotiationCase(offers: ["permessage-deflate; server_no_context_takeover=1"], answer: nil),
        NegotiationCase(offers: ["permessage-deflate; client_no_context_takeover=\"x\""], answer: nil),
        NegotiationCase(offers: ["permessage-deflate; server_no_context_takeover; server_no_context_takeover"], answer: nil),
        NegotiationCase(offers: ["permessage-deflate; client_max_window_bits; client_max_window_bits=10"], answer: nil),
        NegotiationCase(offers: ["permessage-deflate; server_max_window_bits=10; Server_Max_Window_Bits=11"], answer: nil),
        NegotiationCase(offers: ["permessage-deflate; mux"], answer: nil),
        NegotiationCase(offers: ["permessage-deflate; client_max_window_bits="], answer: nil),
        NegotiationCase(offers: ["permessage-deflate; =10"], answer: nil),
        NegotiationCase(offers: ["permessage-deflate;"], answer: nil),
        NegotiationCase(offers: ["permessage-deflate client_no_context_takeover"], answer: nil),
        NegotiationCase(offers: ["permessage-deflate; x=\"unterminated, permessage-deflate"], answer: nil),
        NegotiationCase(offers: ["permessage-deflate; x=\"\\"], answer: nil),
        NegotiationCase(offers: ["permessage-deflate; server_max_window_bits=10 11"], answer: nil),
        NegotiationCase(offers: ["permessage-deflatex", "x-permessage-deflate", "deflate-frame"], answer: nil),
        NegotiationCase(offers: ["", ";;;", ",,,", "\"", "=", "permessage-deflate\u{0}"], answer: nil),
        NegotiationCase(offers: ["permessage-déflate"], answer: nil),
    ]
}

@Suite("permessage-deflate negotiation")
struct DeflateNegotiationTests {
    @Test(arguments: NegotiationCase.all)
    func answer(_ c: NegotiationCase) {
        let accepted = DeflateNegotiation.negotiate(c.offers, settings: c.settings)
        #expect(accepted?.responseHeader == c.answer)
    }

    @Test func agreedParametersFollowTheAnswer() {
        let p = DeflateNegotiation.negotiate(["permessage-deflate; server_max_window_bits=11"], settings: DeflateSettings())
        #expect(p == DeflateParameters(serverNoContextTakeover: true, clientNoContextTakeover: true,
                                       serverMaxWindowBits: 11, announcesServerMaxWindowBits: true))
        var takeover = DeflateSettings()
        takeover.serverNoContextTakeover = false
        takeover.clientNoContextTakeover = false
        takeover.serverMaxWindowBits = 13
        let q = DeflateNegotiation.negotiate(["permessage-deflate"], settings: takeover)
        #expect(q == DeflateParameters(serverNoContextTakeover: false, clientNoContextTakeover: false,
                                       serverMaxWindowBits: 13, announcesServerMaxWindowBits: false))
    }

    @Test func noOffersNoWork() {
        #expect(DeflateNegotiation.negotiate([], settings: DeflateSettings()) == nil)
    }

    @Test func parsesElementsParametersAndQuotedValues() {
        let offers = ExtensionOffer.parse(["a; b; c=1, d", "E; F=\"g\\h\"; i=\"j\", k;"])
        #expect(offers == [
            ExtensionOffer("a", [.init("b"), .init("c", "1")]),
            ExtensionOffer("d"),
            ExtensionOffer("e", [.init("f", "gh"), .init("i", "j")]),
            nil,
        ])
    }

    @Test func hostileHeadersNeverCrash() {
        var rng = SeededRNG(seed: 7692)
        let alphabet = Array("permessage-deflate;,=\" \\\tserver_max_window_bits=15client_no_context_takeover8".utf8)
        for _ in 0..<2000 {
            let n = Int.random(in: 0...80, using: &rng)
            let bytes = (0..<n).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &rng)] }
            if let p = DeflateNegotiation.negotiate([String(decoding: bytes, as: UTF8.self)], settings: DeflateSettings()) {
                // Whatever was accepted is a valid answer.
                #expect((9...15).contains(p.serverMaxWindowBits))
                #expect(p.responseHeader.hasPrefix("permessage-deflate"))
            }
        }
    }
}

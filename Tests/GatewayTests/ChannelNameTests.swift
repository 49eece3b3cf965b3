import Gateway
import Testing

@Suite("Channel names")
struct ChannelNameTests {
    @Test(arguments: [
        ("prices:AAPL", ChannelKind.prices, "AAPL"),
        ("prices:BRK.B", .prices, "BRK.B"),
        ("prices:A", .prices, "A"),
        ("prices:ABCDEFGHIJ012345", .prices, "ABCDEFGHIJ012345"),
        ("predictions:EUR-USD_1", .predictions, "EUR-USD_1"),
        ("portfolio:3f2b9c1e-7d4a-4c5e-9a0b-1c2d3e4f5a6b", .portfolio, "3f2b9c1e-7d4a-4c5e-9a0b-1c2d3e4f5a6b"),
        ("portfolio:abc_DEF-1", .portfolio, "abc_DEF-1"),
    ])
    func valid(_ name: String, _ kind: ChannelKind, _ key: String) throws {
        let c = try #require(ChannelName(name))
        #expect(c.kind == kind)
        #expect(c.key == key)
        #expect(c.name == name)
    }

    @Test(arguments: [
        "", "prices", "prices:", ":AAPL", "price:AAPL", "Prices:AAPL", "prices:aapl", "prices:AAPL ", "prices: AAPL",
        "prices:ABCDEFGHIJ0123456", "prices:A/B", "prices:A:B", "prices:Ä", "predictions:", "portfolio:", "portfolio:a.b",
        "portfolio:" + String(repeating: "a", count: 65), "orders:1", "prices:AAPL\u{0}",
    ])
    func invalid(_ name: String) {
        #expect(ChannelName(name) == nil)
    }

    @Test func portfolioEventsAreNeverConflated() {
        #expect(ChannelKind.prices.isConflatable)
        #expect(ChannelKind.predictions.isConflatable)
        #expect(!ChannelKind.portfolio.isConflatable)
    }
}

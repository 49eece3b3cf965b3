@testable import Gateway
import JSON
import Reactor
import Testing

@Suite("Published data checks")
struct EventDataTests {
    @Test(arguments: ["0", "1", "-1", "187.25", "0.0001", "-0.5", "10", "12345678901234567890123456789012345678",
                      "0.00000000000000000000000000000000000001", "1.0000000000000000000000000000000000000"])
    func validDecimals(_ s: String) {
        #expect(DecimalString(s) != nil, "\(s)")
    }

    @Test(arguments: ["", "-", "+1", "01", "00", "1.", ".5", "1e5", "1E5", "0x10", " 1", "1 ", "1,5", "--1", "1.2.3", "NaN",
                      "123456789012345678901234567890123456789", "1.00000000000000000000000000000000000000", "١"])
    func invalidDecimals(_ s: String) {
        #expect(DecimalString(s) == nil, "\(s)")
    }

    @Test func decimalSigns() throws {
        #expect(try #require(DecimalString("0.01")).isPositive)
        #expect(try !#require(DecimalString("0.00")).isPositive)
        #expect(try !#require(DecimalString("-0.00")).isNegative || !#require(DecimalString("-0.00")).isNonZero)
        #expect(try #require(DecimalString("-2")).isNegative)
    }

    @Test(arguments: ["PT1H", "P1D", "P1DT12H", "PT15M", "PT0.5S", "P1Y2M3W4DT5H6M7S", "P2W", "PT30S"])
    func validDurations(_ s: String) { #expect(ISODuration.isValid(s), "\(s)") }

    @Test(arguments: ["", "P", "PT", "1H", "PH", "P1H", "PT1D", "P1DT", "PT1.5H", "P1M1Y", "PT1H1H", "pt1h", "P-1D", "P1D T1H"])
    func invalidDurations(_ s: String) { #expect(!ISODuration.isValid(s), "\(s)") }

    func obj(_ text: String) throws -> JSONValue { try JSONParser().parse(Array(text.utf8)) }

    @Test func pricesAndPredictions() throws {
        let prices = try #require(ChannelName("prices:AAPL"))
        let predictions = try #require(ChannelName("predictions:AAPL"))
        #expect(EventData.validate(try obj("{\"symbol\":\"AAPL\",\"price\":\"1\",\"ts\":0,\"extra\":[1,{}]}"), for: prices) == nil)
        #expect(EventData.validate(try obj("{\"symbol\":\"AAPL\",\"price\":\"1\",\"volume\":\"0\",\"ts\":5}"), for: prices) == nil)
        #expect(EventData.validate(try obj("[1]"), for: prices)?.field == "data")
        #expect(EventData.validate(try obj("{\"symbol\":\"AAPL\",\"price\":\"1\",\"ts\":-1}"), for: prices)?.field == "ts")
        #expect(EventData.validate(try obj("{\"symbol\":\"AAPL\",\"price\":\"1\",\"ts\":99999999999999999999}"), for: prices)?.field == "ts")
        let ok = "{\"symbol\":\"AAPL\",\"horizon\":\"PT1H\",\"predicted\":\"-1.5\",\"lower\":\"-2\",\"upper\":\"3\",\"model\":\"m\",\"ts\":1}"
        #expect(EventData.validate(try obj(ok), for: predictions) == nil)
        #expect(EventData.validate(try obj("{\"symbol\":\"AAPL\",\"horizon\":\"PT1H\",\"predicted\":\"1\",\"model\":\"\",\"ts\":1}"),
                                   for: predictions)?.field == "model")
        #expect(EventData.validate(try obj("{\"symbol\":\"AAPL\",\"horizon\":\"PT1H\",\"predicted\":\"1\",\"upper\":3,\"model\":\"m\",\"ts\":1}"),
                                   for: predictions)?.field == "upper")
    }
}

@Suite("Rate limiting")
struct TokenBucketTests {
    @Test func burstThenSteadyRate() {
        var b = TokenBucket(rate: 100, burst: 200, now: 1000)
        var taken = 0
        while b.take(now: 1000) { taken += 1 }
        #expect(taken == 200)
        let at1009 = b.take(now: 1009)
        #expect(!at1009)                   // 0.9 tokens refilled
        let at1010 = b.take(now: 1010)
        #expect(at1010)                    // 1 token after 10 ms
        let again = b.take(now: 1010)
        #expect(!again)
        var later = 0
        while b.take(now: 2010) { later += 1 }
        #expect(later == 100)              // one second: 100 more, not the burst
        var full = 0
        while b.take(now: 100_000) { full += 1 }
        #expect(full == 200)               // capped at the burst
    }
}

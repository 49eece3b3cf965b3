import Accounts
import App
import Demo
import JSON
import Store
import TestSupport
import Testing

/// `--demo` (issue 10 §5): prices of a dozen symbols several times a second, two years of daily
/// bars at the first start (the same on every fresh store), predictions with intervals, and the
/// demo account with a live portfolio.
@Suite("The demo market")
struct DemoTests {
    func demoGateway(_ backend: StoreBackend) throws -> TestGateway {
        try TestGateway(store: backend, accounts: { $0.jwtSecret = "0123456789abcdef0123456789abcdef-test" }, app: { a in
            var d = DemoMarket.Settings()
            d.forecastEveryMs = 1_000
            d.horizonMs = 2_000
            a.demo = d
        })
    }

    @Test(arguments: TestStore.allCases)
    func pricesBarsPredictionsAndTheDemoAccount(_ store: TestStore) throws {
        let backend = try store.backend()
        let g = try demoGateway(backend)
        defer { g.stop() }
        let c = try g.client()
        #expect(try c.call("subscribe", #"{"channel":"prices:AAPL"}"#).result != nil)
        #expect(try c.call("subscribe", #"{"channel":"predictions:BTC-USD"}"#).result != nil)
        try c.waitForEvents(12, timeoutMs: 5_000)
        let events = c.takeEvents()
        let prices = events.filter { $0.params?["channel"] == .string("prices:AAPL") }
        #expect(prices.count >= 4, "\(prices.count) AAPL ticks")
        #expect(prices.allSatisfy { $0.params?["data"]?["price"]?.stringValue.flatMap { Double($0) }.map { $0 > 0 } == true })
        let prediction = try #require(events.first { $0.params?["channel"] == .string("predictions:BTC-USD") }?.params?["data"])
        let lower = try #require(prediction["lower"]?.stringValue.flatMap(Double.init))
        let upper = try #require(prediction["upper"]?.stringValue.flatMap(Double.init))
        let predicted = try #require(prediction["predicted"]?.stringValue.flatMap(Double.init))
        #expect(lower < predicted && predicted < upper)
        #expect(prediction["model"]?.stringValue?.hasPrefix("ewma-gbm-90") == true)

        // The demo account and its portfolio; valued at live prices.
        let login = try c.call("auth.login", #"{"email":"\#(Application.demoEmail)","password":"\#(Application.demoPassword)"}"#,
                               timeoutMs: 15_000)
        #expect(login.result?["accessToken"] != nil)
        let list = try #require(try c.call("portfolio.list").result?["portfolios"]?.arrayValue)
        #expect(list.count == 1)
        let id = try #require(list.first?["portfolioId"]?.stringValue)
        let got = try #require(try c.call("portfolio.get", #"{"portfolioId":"\#(id)"}"#).result)
        #expect(got["holdings"]?.arrayValue?.count == 5)
        #expect(got["unpricedSymbols"] == .array([]))
        // Two years of daily bars: risk.metrics works at once.
        let risk = try c.call("risk.metrics", #"{"portfolioId":"\#(id)"}"#, timeoutMs: 10_000)
        #expect(risk.result?["observations"] == .number(JSONNumber(252)), "\(risk.value)")
        #expect(risk.result?["beta"]?.numberValue != nil)
        // The forecaster checks itself: with a 2 s horizon some intervals have come due.
        #expect(eventually(within: 6_000, every: 200) { (g.application.demo?.coverage.checked ?? 0) > 0 })
    }

    @Test func theBackfillIsReproducibleAndWeekdaysOnlyForEquities() throws {
        let a = try TemporaryDirectory.make(prefix: "qv-demo-a"), b = try TemporaryDirectory.make(prefix: "qv-demo-b")
        func bars(_ dir: String) throws -> [SQLRow] {
            let g = try demoGateway(.sqlite(directory: dir))
            g.stop()
            return try onStore(.sqlite(directory: dir), write: false) { conn throws(StoreError) in
                try conn.query("SELECT symbol, t, open, high, low, close FROM bars_daily ORDER BY symbol, t", [])
            }
        }
        let first = try bars(a), second = try bars(b)
        #expect(first.count > 12 * 500)
        #expect(first.map(\.values) == second.map(\.values))
        let spy = first.filter { $0.values[0] == .text("SPY") }
        #expect((500...530).contains(spy.count), "\(spy.count) SPY days")
        for row in spy {
            let day = Int((row.optionalInt(1) ?? 0) / 86_400_000)
            #expect(((day % 7) + 10) % 7 < 5, "a weekend bar")
            let o = Double(row.optionalText(2) ?? "") ?? 0, h = Double(row.optionalText(3) ?? "") ?? 0
            let l = Double(row.optionalText(4) ?? "") ?? 0, cl = Double(row.optionalText(5) ?? "") ?? 0
            #expect(l <= min(o, cl) && max(o, cl) <= h && l > 0)
        }
    }
}

import Accounts
import Foundation
import JSON
import Money
import Risk
import Store
import TestSupport
import Testing

/// `risk.metrics` through real sockets on both stores: the wiring (ownership, holdings, the
/// stored daily bars, day selection, exact portfolio values, the JSON) and every error. The
/// figures themselves are checked against an independent numpy oracle in `RiskTests`; here they
/// must equal what the Risk module gives for the same exact values.
@Suite("risk.metrics (2c)")
struct RiskMetricsTests {
    static let secret = "0123456789abcdef0123456789abcdef-test"
    static let dayMs: Int64 = 86_400_000

    func insertBars(_ backend: StoreBackend, _ bars: [(symbol: String, day: Int, close: String)]) throws {
        try onStore(backend) { conn throws(StoreError) in
            for b in bars {
                try conn.execute("INSERT INTO bars_daily (symbol, t, open, high, low, close, volume) VALUES ($1, $2, $3, $3, $3, $3, '0')",
                                 [.text(b.symbol), .int(Int64(b.day) * Self.dayMs), .text(b.close)])
            }
        }
    }

    /// A deterministic wobbly price series.
    static func close(_ base: Int, _ i: Int) -> String {
        let cents = base * 100 + ((i * 37) % 23) * 17 - ((i * 11) % 7) * 29
        return "\(cents / 100).\(String(format: "%02d", cents % 100))"
    }

    @Test(arguments: TestStore.allCases)
    func figuresErrorsAndDays(_ store: TestStore) throws {
        let backend = try store.backend()
        let g = try TestGateway(store: backend, accounts: { $0.jwtSecret = Self.secret })
        defer { g.stop() }
        let c = try g.client()
        #expect(try c.call("risk.metrics", #"{"portfolioId":"x"}"#).errorReason == "unauthenticated")
        _ = try c.call("auth.register", #"{"email":"risk@example.com","password":"correct horse battery"}"#, timeoutMs: 15_000)
        _ = try c.call("auth.login", #"{"email":"risk@example.com","password":"correct horse battery"}"#, timeoutMs: 15_000)
        let id = try #require(try c.call("portfolio.create", #"{"name":"Risky"}"#).result?["portfolioId"]?.stringValue)
        #expect(try c.call("risk.metrics", #"{"portfolioId":"\#(id)"}"#).errorReason == "no_holdings")
        #expect(try c.call("risk.metrics", #"{"portfolioId":"nope"}"#).errorReason == "portfolio_not_found")
        for bad in [#""lookback":19"#, #""lookback":2521"#, #""lookback":20.5"#, #""confidence":0.4999"#, #""confidence":1"#,
                    #""confidence":0.9999999"#, #""confidence":"0.95""#, #""benchmark":"spy""#, #""benchmark":5"#] {
            // Parameters are checked before anything else, even holdings.
            #expect(try c.call("risk.metrics", #"{"portfolioId":"\#(id)",\#(bad)}"#).errorReason == "invalid_param", "\(bad)")
        }

        let today = Int(Date().timeIntervalSince1970 * 1000) / Int(Self.dayMs)
        var bars: [(symbol: String, day: Int, close: String)] = []
        for i in 1...45 {
            let day = today - 46 + i
            bars.append(("AAA", day, Self.close(100, i)))
            if i % 9 != 0 { bars.append(("BBB", day, Self.close(40, i + 3))) }   // gaps: days 9, 18, 27, 36, 45
            bars.append(("SPY", day, Self.close(400, i + 7)))
        }
        bars.append(("AAA", today, "1000"))   // today's bar is never used
        bars.append(("BBB", today, "1000"))
        for i in 1...10 { bars.append(("FEW", today - 11 + i, Self.close(10, i))) }
        try insertBars(backend, bars)

        _ = try c.call("portfolio.addTransaction", #"{"portfolioId":"\#(id)","symbol":"AAA","side":"buy","quantity":"2","price":"1"}"#)
        _ = try c.call("portfolio.addTransaction", #"{"portfolioId":"\#(id)","symbol":"BBB","side":"buy","quantity":"3.5","price":"1"}"#)
        let r = try #require(try c.call("risk.metrics", #"{"portfolioId":"\#(id)","lookback":20,"confidence":9.5e-1}"#).result)
        #expect(r["observations"] == .number(JSONNumber(20)))
        #expect(r["lookback"] == .number(JSONNumber(20)))
        #expect(r["confidence"] == .number(JSONNumber(uncheckedText: "0.95")))
        #expect(r["benchmark"] == .string("SPY"))

        // The same computation by hand: common days of AAA and BBB before today, the last 21.
        let common = (1...45).filter { $0 % 9 != 0 }.map { today - 46 + $0 }.suffix(21)
        let closes = Dictionary(bars.map { ("\($0.symbol)@\($0.day)", $0.close) }, uniquingKeysWith: { a, _ in a })
        let values = common.map { day -> Double in
            let a = ExactDecimal(canonicalOrPlain: closes["AAA@\(day)"] ?? "") ?? .zero
            let b = ExactDecimal(canonicalOrPlain: closes["BBB@\(day)"] ?? "") ?? .zero
            return (ExactDecimal(2) * a + (ExactDecimal(canonicalOrPlain: "3.5") ?? .zero) * b).doubleValue
        }
        let spy = common.map { ExactDecimal(canonicalOrPlain: closes["SPY@\($0)"] ?? "")?.doubleValue ?? 0 }
        let confidence = try #require(Confidence(micros: 950_000))
        guard case .figures(let f) = riskFigures(values: Array(values), benchmarkCloses: spy, confidence: confidence) else {
            Issue.record("expected figures")
            return
        }
        #expect(r["asOf"] == .string(Self.isoDate(common.last ?? 0)))
        func num(_ v: JSONValue?) -> Double? { v?.numberValue?.double }
        #expect(num(r["volatility"]) == f.volatility)
        #expect(num(r["var"]?["historical"]) == f.historicalVaR)
        #expect(num(r["var"]?["parametric"]) == f.parametricVaR)
        #expect(num(r["cvar"]) == f.cvar)
        #expect(num(r["sharpe"]) == f.sharpe)
        #expect(num(r["sortino"]) == f.sortino)
        #expect(num(r["maxDrawdown"]) == f.maxDrawdown)
        #expect(num(r["beta"]) == f.beta)
        #expect(f.beta != nil && f.volatility != nil)

        // A benchmark without bars: beta null, the rest as before.
        let nob = try #require(try c.call("risk.metrics", #"{"portfolioId":"\#(id)","lookback":20,"benchmark":"NONE"}"#).result)
        #expect(nob["beta"] == .null)
        #expect(nob["volatility"] == r["volatility"])
        // A holding with only 10 bars, two of them on BBB's gap days: 8 common days, 7 returns.
        _ = try c.call("portfolio.addTransaction", #"{"portfolioId":"\#(id)","symbol":"FEW","side":"buy","quantity":"1","price":"1"}"#)
        let few = try c.call("risk.metrics", #"{"portfolioId":"\#(id)"}"#)
        #expect(few.errorCode == -32004)
        #expect(few.errorReason == "insufficient_history")
        #expect(few.error?["data"]?["available"] == .number(JSONNumber(7)))
    }

    static func isoDate(_ day: Int) -> String {
        let f = DateFormatter()
        f.dateFormat = "yyyy-MM-dd"
        f.timeZone = TimeZone(identifier: "UTC")
        f.locale = Locale(identifier: "en_US_POSIX")
        return f.string(from: Date(timeIntervalSince1970: Double(day) * 86_400))
    }
}

import Gateway
import JSON
import Money
import Reactor
import Risk
import Store

/// `risk.metrics` (contract 2c): a historical simulation of today's quantities over the stored
/// daily bars. Params are checked on the loop; the bars are read and the figures computed on a
/// store worker (a few thousand exact products and one pass of statistics: milliseconds), so no
/// loop ever runs it.
enum RiskMethod {
    static func register(in methods: inout MethodRegistry, _ p: Portfolios) {
        methods.register(MethodSpec("risk.metrics", params: [
            .required("portfolioId", .string), .optional("lookback", .any), .optional("confidence", .any), .optional("benchmark", .any),
        ]) { call in metrics(call, p) })
    }

    struct Params: Sendable {
        let lookback: Int
        let confidence: Confidence
        let confidenceText: String
        let benchmark: String
    }

    static func params(_ call: RPCCall, _ p: Portfolios) -> Params? {
        var lookback = 252
        if let l = call.params["lookback"], l != .null {
            guard case .number(let n) = l, n.isInteger, let v = n.int64, (20...2520).contains(v) else {
                call.fail(.invalidParam("lookback", "lookback must be an integer in 20...2520"))
                return nil
            }
            lookback = Int(v)
        }
        var confidence = Confidence(micros: 950_000)
        var confidenceText = "0.95"
        if let c = call.params["confidence"], c != .null {
            guard case .number(let n) = c, let micros = exactMicros(n.text), let value = Confidence(micros: micros) else {
                call.fail(.invalidParam("confidence", "confidence must be a number in [0.5, 0.999] with at most 6 decimals"))
                return nil
            }
            confidence = value
            confidenceText = (ExactDecimal(micros).divided(by: ExactDecimal(1_000_000), scale: 6) ?? .zero).description
        }
        var benchmark = p.configuration.riskBenchmark
        if let b = call.params["benchmark"], b != .null {
            guard case .string(let s) = b, s.utf8.count <= 16, ChannelName.isSymbol(s.utf8) else {
                call.fail(.invalidParam("benchmark", "benchmark must be a symbol (1-16 of A-Z 0-9 . - _)"))
                return nil
            }
            benchmark = s
        }
        guard let confidence else { return nil }
        return Params(lookback: lookback, confidence: confidence, confidenceText: confidenceText, benchmark: benchmark)
    }

    /// c · 10⁶ when the JSON number's text is exactly a multiple of 10⁻⁶ (exponents allowed:
    /// `9.5e-1` is 0.95); nil otherwise.
    static func exactMicros(_ text: String) -> Int? {
        let parts = text.split(separator: "e", maxSplits: 1, omittingEmptySubsequences: false)
            .flatMap { $0.split(separator: "E", maxSplits: 1, omittingEmptySubsequences: false) }
        guard let mantissa = parts.first.flatMap({ ExactDecimal(canonicalOrPlain: $0) }) else { return nil }
        var exponent = 0
        if parts.count == 2 {
            guard let e = Int(parts[1].hasPrefix("+") ? parts[1].dropFirst() : parts[1]), (-20...20).contains(e) else { return nil }
            exponent = e
        }
        // value · 10⁶ = mantissa · 10^(exponent + 6), exact in either direction.
        let shift = exponent + 6
        let ten = ExactDecimal(10)
        var scaled = mantissa
        if shift >= 0 {
            for _ in 0..<shift { scaled = scaled * ten }
        } else {
            var power = ExactDecimal(1)
            for _ in 0..<(-shift) { power = power * ten }
            guard let d = scaled.divided(by: power, scale: 30) else { return nil }
            scaled = d
        }
        guard scaled.rounded(scale: 0) == scaled, scaled.integerDigitCount <= 9 else { return nil }
        return Int(scaled.description)
    }

    enum Outcome: Sendable {
        case notFound
        case noHoldings
        case insufficient(available: Int)
        case figures(RiskFigures, asOf: Int, benchmarkUsed: Bool)
    }

    static func metrics(_ call: RPCCall, _ p: Portfolios) {
        // Contract 2c's order: the parameters first, then the portfolio and its holdings.
        guard let userId = PortfolioMethods.user(call), let params = params(call, p), let id = PortfolioMethods.portfolioId(call) else {
            return
        }
        let today = Int(Clock.wallMillis() / 86_400_000)
        let riskFree = p.configuration.riskFreeRate
        PortfolioMethods.run(call, p, write: false, { c throws(StoreError) -> Outcome in
            guard try PortfolioStore.owned(c, id, userId: userId) != nil else { return .notFound }
            let holdings = try PortfolioStore.holdings(c, portfolioId: id)
            guard !holdings.isEmpty else { return .noHoldings }
            let symbols = holdings.map(\.symbol)
            let closes = try dailyCloses(c, symbols + [params.benchmark], before: today)
            let chosen = selectRiskDays(holdings: symbols.map { s in (closes[s] ?? [:]).keys.sorted() },
                                        benchmark: (closes[params.benchmark] ?? [:]).keys.sorted(), today: today, lookback: params.lookback)
            // V_t = Σ quantity · close, exact, then the nearest Double.
            var values: [Double] = []
            values.reserveCapacity(chosen.days.count)
            for day in chosen.days {
                var v = ExactDecimal.zero
                for (symbol, h) in holdings {
                    guard let close = closes[symbol]?[day] else { throw .invalid("risk: a chosen day without a close") }
                    v = v + h.quantity * close
                }
                values.append(v.doubleValue)
            }
            let bench: [Double]? = chosen.benchmarkUsed ? chosen.days.compactMap { closes[params.benchmark]?[$0]?.doubleValue } : nil
            switch riskFigures(values: values, benchmarkCloses: bench, confidence: params.confidence, annualRiskFreeRate: riskFree) {
            case .insufficientHistory(let available): return .insufficient(available: available)
            case .figures(let f): return .figures(f, asOf: chosen.days.last ?? today, benchmarkUsed: chosen.benchmarkUsed)
            }
        }) { outcome in
            switch outcome {
            case .notFound: call.fail(PortfolioMethods.notFound)
            case .noHoldings:
                call.fail(RPCError(code: RPCError.notFoundCode, reason: "no_holdings", message: "the portfolio holds nothing"))
            case .insufficient(let available):
                call.fail(RPCError(code: RPCError.notFoundCode, reason: "insufficient_history",
                                   message: "fewer than 20 daily returns on the holdings' common days",
                                   details: [("available", .number(JSONNumber(available)))]))
            case .figures(let f, let asOf, _):
                call.succeed(.object(JSONObject([
                    ("portfolioId", .string(id)), ("asOf", .string(date(asOf))), ("lookback", .number(JSONNumber(params.lookback))),
                    ("observations", .number(JSONNumber(f.observations))),
                    ("confidence", .number(JSONNumber(uncheckedText: params.confidenceText))),
                    ("benchmark", .string(params.benchmark)), ("volatility", number(f.volatility)),
                    ("var", .object(JSONObject([("historical", number(f.historicalVaR)), ("parametric", number(f.parametricVaR))]))),
                    ("cvar", number(f.cvar)), ("sharpe", number(f.sharpe)), ("sortino", number(f.sortino)),
                    ("maxDrawdown", number(f.maxDrawdown)), ("beta", number(f.beta)),
                ])))
            }
        }
    }

    /// Each symbol's daily closes before `today`, by UTC day number.
    static func dailyCloses(_ c: any SQLConnection, _ symbols: [String], before today: Int) throws(StoreError) -> [String: [Int: ExactDecimal]] {
        var out: [String: [Int: ExactDecimal]] = [:]
        let unique = Array(Set(symbols))
        let placeholders = (0..<unique.count).map { "$\($0 + 2)" }.joined(separator: ", ")
        let rows = try c.query("SELECT symbol, t, close FROM bars_daily WHERE t < $1 AND symbol IN (\(placeholders))",
                               [.int(Int64(today) * 86_400_000)] + unique.map { .text($0) })
        for row in rows {
            let t = try row.int(1)
            guard t >= 0 else { continue }
            out[try row.text(0), default: [:]][Int(t / 86_400_000)] = try row.decimal(2)
        }
        return out
    }

    /// A Double as a JSON number (null when absent).
    static func number(_ d: Double?) -> JSONValue {
        guard let d, d.isFinite else { return .null }
        return .number(JSONNumber(uncheckedText: Valuation.shortest(d == 0 ? 0 : d)))
    }

    /// `YYYY-MM-DD` of a UTC day number (days since 1970-01-01; Howard Hinnant's civil_from_days).
    static func date(_ day: Int) -> String {
        let z = day + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        let y = yoe + era * 400 + (m <= 2 ? 1 : 0)
        func two(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(y)-\(two(m))-\(two(d))"
    }
}

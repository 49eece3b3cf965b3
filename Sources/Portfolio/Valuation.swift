import Gateway
import JSON
import Money

/// Holdings valued at the latest prices (contract 2b): marketValue = quantity·P, unrealizedPnl =
/// marketValue − costBasis, totals over the priced ones, `weight` the double nearest to
/// marketValue ÷ totalValue. Exact but for `weight`.
struct Valuation {
    struct Price {
        let price: ExactDecimal
        let ts: JSONValue
    }

    struct Line {
        let symbol: String
        let holding: Holding
        let price: Price?
        let marketValue: ExactDecimal?
    }

    let lines: [Line]
    let totalCost: ExactDecimal
    let totalValue: ExactDecimal
    let unpriced: [String]

    /// The price and ts of each latest `prices:` event, by symbol (an event whose price is not a
    /// decimal counts as no price).
    static func prices(_ latest: [Event?]) -> [String: Price] {
        var out: [String: Price] = [:]
        for case let e? in latest {
            guard case .string(let text)? = e.data.objectValue?["price"], let price = ExactDecimal(canonicalOrPlain: text) else { continue }
            out[e.channel.key] = Price(price: price, ts: e.data.objectValue?["ts"] ?? .null)
        }
        return out
    }

    /// `holdings` in the contract's order (byte order of symbols).
    init(holdings: [(symbol: String, holding: Holding)], prices: [String: Price]) {
        var lines: [Line] = []
        var cost = ExactDecimal.zero
        var value = ExactDecimal.zero
        var unpriced: [String] = []
        for (symbol, h) in holdings {
            cost = cost + h.costBasis
            let price = prices[symbol]
            let mv = price.map { h.quantity * $0.price }
            if let mv { value = value + mv } else { unpriced.append(symbol) }
            lines.append(Line(symbol: symbol, holding: h, price: price, marketValue: mv))
        }
        self.lines = lines
        totalCost = cost
        totalValue = value
        self.unpriced = unpriced
    }

    /// `portfolio.get`'s holdings (`detailed`: quantity, averageCost, costBasis and weight too)
    /// or a valuation notification's.
    func holdingsJSON(detailed: Bool) -> [JSONValue] {
        lines.map { line in
            var o = JSONObject([("symbol", .string(line.symbol))])
            if detailed {
                o.set("quantity", PortfolioJSON.decimal(line.holding.quantity))
                o.set("averageCost", line.holding.averageCost.map(PortfolioJSON.decimal) ?? .null)
                o.set("costBasis", PortfolioJSON.decimal(line.holding.costBasis))
            }
            o.set("price", line.price.map { PortfolioJSON.decimal($0.price) } ?? .null)
            o.set("priceTs", line.price?.ts ?? .null)
            o.set("marketValue", line.marketValue.map(PortfolioJSON.decimal) ?? .null)
            o.set("unrealizedPnl", line.marketValue.map { PortfolioJSON.decimal($0 - line.holding.costBasis) } ?? .null)
            if detailed {
                let weight = line.marketValue.flatMap { $0.nearestDouble(dividedBy: totalValue) }
                o.set("weight", weight.map { .number(JSONNumber(uncheckedText: Self.shortest($0))) } ?? .null)
            }
            return .object(o)
        }
    }

    /// The shortest text that reads back as `d` (Swift's description), as a JSON number.
    static func shortest(_ d: Double) -> String {
        let s = "\(d)"
        return s.hasSuffix(".0") ? String(s.dropLast(2)) : s
    }
}

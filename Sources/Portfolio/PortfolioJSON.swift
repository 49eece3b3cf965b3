import JSON
import Money

/// The shapes of contract 2b's answers and events, built in one place.
enum PortfolioJSON {
    static func decimal(_ d: ExactDecimal) -> JSONValue { .string(d.description) }

    static func int(_ v: Int64) -> JSONValue { .number(JSONNumber(Int(v))) }

    /// The `portfolio.create` answer, and each entry of `portfolio.list`.
    static func entry(_ p: PortfolioStore.Portfolio) -> JSONObject {
        JSONObject([("portfolioId", .string(p.id)), ("name", .string(p.name)), ("baseCurrency", .string(p.baseCurrency)),
                    ("createdAt", int(p.createdAt))])
    }

    /// H: `{symbol, quantity, averageCost, costBasis}`, or null when sold out.
    static func holding(_ symbol: String, _ h: Holding) -> JSONValue {
        guard !h.isEmpty, let average = h.averageCost else { return .null }
        return .object(JSONObject([("symbol", .string(symbol)), ("quantity", decimal(h.quantity)),
                                   ("averageCost", decimal(average)), ("costBasis", decimal(h.costBasis))]))
    }

    /// T.
    static func transaction(_ t: PortfolioStore.Transaction, portfolioId: String) -> JSONValue {
        .object(JSONObject([
            ("transactionId", .string(t.id)), ("portfolioId", .string(portfolioId)), ("symbol", .string(t.symbol)),
            ("side", .string(t.side.rawValue)), ("quantity", decimal(t.quantity)), ("price", decimal(t.price)),
            ("fee", decimal(t.fee)), ("executedAt", int(t.executedAt)),
            ("clientOrderId", t.clientOrderId.map { .string($0) } ?? .null), ("recordedAt", int(t.recordedAt)),
        ]))
    }

    static func text(_ v: JSONValue) -> String { String(decoding: v.jsonBytes, as: UTF8.self) }
}

import Money
import Store

/// The portfolios' SQL, once for both stores (see `SQLConnection`): each function runs inside
/// the transaction `Store.transaction` opened, on a worker thread. Amounts are canonical
/// decimal text in and out (NUMERIC in PostgreSQL); rows are input too, so a column that is not
/// a decimal is `.invalid`, never a crash.
///
/// Serialising writers: PostgreSQL locks the portfolio row (`FOR UPDATE`) first, so concurrent
/// transactions on one portfolio, from any process, run one after the other; SQLite's write
/// transactions (`BEGIN IMMEDIATE`) already do.
enum PortfolioStore {
    struct Portfolio: Sendable {
        let id: String
        let userId: String
        let name: String
        let baseCurrency: String
        let createdAt: Int64
        let realizedPnl: ExactDecimal
        let nextSeq: Int64
    }

    static let portfolioColumns = "id, user_id, name, base_currency, created_at, realized_pnl, next_seq"

    static func portfolio(_ row: SQLRow) throws(StoreError) -> Portfolio {
        Portfolio(id: try row.text(0), userId: try row.text(1), name: try row.text(2), baseCurrency: try row.text(3),
                  createdAt: try row.int(4), realizedPnl: try row.decimal(5), nextSeq: try row.int(6))
    }

    /// The portfolio when it exists and is `userId`'s (nil otherwise: the caller answers the same
    /// `portfolio_not_found` either way). `lock`: held until the transaction ends (PostgreSQL).
    static func owned(_ c: any SQLConnection, _ id: String, userId: String, lock: Bool = false) throws(StoreError) -> Portfolio? {
        let suffix = lock && c.dialect == .postgres ? " FOR UPDATE" : ""
        guard let row = try c.queryOne("SELECT \(portfolioColumns) FROM portfolios WHERE id = $1\(suffix)", [.text(id)]) else {
            return nil
        }
        let p = try portfolio(row)
        return p.userId == userId ? p : nil
    }

    static func list(_ c: any SQLConnection, userId: String) throws(StoreError) -> [Portfolio] {
        var out: [Portfolio] = []
        for row in try c.query("SELECT \(portfolioColumns) FROM portfolios WHERE user_id = $1 ORDER BY created_at, list_order, id",
                               [.text(userId)]) {
            out.append(try portfolio(row))
        }
        return out
    }

    /// False when the user has `limit` portfolios already. The user's row is locked first on
    /// PostgreSQL, so two creates at once cannot both pass the count.
    static func create(_ c: any SQLConnection, id: String, userId: String, name: String, baseCurrency: String, now: Int64,
                       limit: Int) throws(StoreError) -> Bool {
        if c.dialect == .postgres { try c.query("SELECT id FROM users WHERE id = $1 FOR UPDATE", [.text(userId)]) }
        let row = try c.queryOne("SELECT COUNT(*), COALESCE(MAX(list_order), 0) FROM portfolios WHERE user_id = $1", [.text(userId)])
        guard let row, try row.int(0) < Int64(limit) else { return false }
        try c.execute("""
            INSERT INTO portfolios (id, user_id, name, base_currency, created_at, realized_pnl, next_seq, list_order)
            VALUES ($1, $2, $3, $4, $5, '0', 1, $6)
            """, [.text(id), .text(userId), .text(name), .text(baseCurrency), .int(now), .int(try row.int(1) + 1)])
        return true
    }

    static func rename(_ c: any SQLConnection, id: String, name: String) throws(StoreError) {
        try c.execute("UPDATE portfolios SET name = $2 WHERE id = $1", [.text(id), .text(name)])
    }

    static func delete(_ c: any SQLConnection, id: String) throws(StoreError) {
        // Children first: SQLite enforces the foreign keys but the cascade is spelled out for both.
        try c.execute("DELETE FROM holdings WHERE portfolio_id = $1", [.text(id)])
        try c.execute("DELETE FROM transactions WHERE portfolio_id = $1", [.text(id)])
        try c.execute("DELETE FROM portfolios WHERE id = $1", [.text(id)])
    }

    // MARK: Holdings

    static func holdings(_ c: any SQLConnection, portfolioId: String) throws(StoreError) -> [(symbol: String, holding: Holding)] {
        var out: [(symbol: String, holding: Holding)] = []
        for row in try c.query("SELECT symbol, quantity, cost_basis FROM holdings WHERE portfolio_id = $1", [.text(portfolioId)]) {
            out.append((try row.text(0), Holding(quantity: try row.decimal(1), costBasis: try row.decimal(2))))
        }
        // Byte order (the contract's), whatever the database's collation.
        out.sort { Array($0.symbol.utf8).lexicographicallyPrecedes(Array($1.symbol.utf8)) }
        return out
    }

    static func holding(_ c: any SQLConnection, portfolioId: String, symbol: String) throws(StoreError) -> Holding {
        guard let row = try c.queryOne("SELECT quantity, cost_basis FROM holdings WHERE portfolio_id = $1 AND symbol = $2",
                                       [.text(portfolioId), .text(symbol)]) else { return .empty }
        return Holding(quantity: try row.decimal(0), costBasis: try row.decimal(1))
    }

    /// Writes the holding (deleted at quantity 0: it leaves `holdings`).
    static func setHolding(_ c: any SQLConnection, portfolioId: String, symbol: String, _ h: Holding) throws(StoreError) {
        try c.execute("DELETE FROM holdings WHERE portfolio_id = $1 AND symbol = $2", [.text(portfolioId), .text(symbol)])
        guard !h.isEmpty else { return }
        try c.execute("INSERT INTO holdings (portfolio_id, symbol, quantity, cost_basis) VALUES ($1, $2, $3, $4)",
                      [.text(portfolioId), .text(symbol), .text(h.quantity.description), .text(h.costBasis.description)])
    }

    // MARK: Transactions

    struct Transaction: Sendable {
        let id: String
        let seq: Int64
        let symbol: String
        let side: Side
        let quantity: ExactDecimal
        let price: ExactDecimal
        let fee: ExactDecimal
        let executedAt: Int64
        let clientOrderId: String?
        let recordedAt: Int64
        /// The first answer, JSON text (`{"transaction":T,"holding":H}`), for idempotent repeats.
        let answer: String
        let deleted: Bool
    }

    static let transactionColumns = """
        id, seq, symbol, side, quantity, price, fee, executed_at, client_order_id, recorded_at, answer, deleted_at
        """

    static func transaction(_ row: SQLRow) throws(StoreError) -> Transaction {
        guard let side = Side(rawValue: try row.text(3)) else { throw .invalid("transactions.side: not buy or sell") }
        return Transaction(id: try row.text(0), seq: try row.int(1), symbol: try row.text(2), side: side,
                           quantity: try row.decimal(4), price: try row.decimal(5), fee: try row.decimal(6),
                           executedAt: try row.int(7), clientOrderId: row.optionalText(8), recordedAt: try row.int(9),
                           answer: try row.text(10), deleted: !row.isNull(11))
    }

    static func transaction(_ c: any SQLConnection, portfolioId: String, clientOrderId: String) throws(StoreError) -> Transaction? {
        try c.queryOne("SELECT \(transactionColumns) FROM transactions WHERE portfolio_id = $1 AND client_order_id = $2",
                       [.text(portfolioId), .text(clientOrderId)]).map { r throws(StoreError) in try transaction(r) }
    }

    static func transaction(_ c: any SQLConnection, portfolioId: String, id: String) throws(StoreError) -> Transaction? {
        try c.queryOne("SELECT \(transactionColumns) FROM transactions WHERE portfolio_id = $1 AND id = $2 AND deleted_at IS NULL",
                       [.text(portfolioId), .text(id)]).map { r throws(StoreError) in try transaction(r) }
    }

    /// Live (not deleted) transactions in recorded order.
    static func transactions(_ c: any SQLConnection, portfolioId: String) throws(StoreError) -> [Transaction] {
        var out: [Transaction] = []
        for row in try c.query("SELECT \(transactionColumns) FROM transactions WHERE portfolio_id = $1 AND deleted_at IS NULL ORDER BY seq",
                               [.text(portfolioId)]) {
            out.append(try transaction(row))
        }
        return out
    }

    /// Newest first, recorded before `beforeSeq`, at most `limit + 1` (the extra one says
    /// whether an older page exists).
    static func page(_ c: any SQLConnection, portfolioId: String, beforeSeq: Int64, limit: Int) throws(StoreError) -> [Transaction] {
        var out: [Transaction] = []
        for row in try c.query("""
            SELECT \(transactionColumns) FROM transactions
            WHERE portfolio_id = $1 AND deleted_at IS NULL AND seq < $2 ORDER BY seq DESC LIMIT $3
            """, [.text(portfolioId), .int(beforeSeq), .int(Int64(limit + 1))]) {
            out.append(try transaction(row))
        }
        return out
    }

    static func insert(_ c: any SQLConnection, portfolioId: String, _ t: Transaction) throws(StoreError) {
        try c.execute("""
            INSERT INTO transactions (id, portfolio_id, seq, symbol, side, quantity, price, fee, executed_at, client_order_id,
                recorded_at, answer)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
            """, [.text(t.id), .text(portfolioId), .int(t.seq), .text(t.symbol), .text(t.side.rawValue), .text(t.quantity.description),
                  .text(t.price.description), .text(t.fee.description), .int(t.executedAt), t.clientOrderId.map { .text($0) } ?? .null,
                  .int(t.recordedAt), .text(t.answer)])
    }

    /// Kept, marked deleted: its clientOrderId stays taken for the portfolio's life (2b).
    static func markDeleted(_ c: any SQLConnection, portfolioId: String, id: String, now: Int64) throws(StoreError) {
        try c.execute("UPDATE transactions SET deleted_at = $3 WHERE portfolio_id = $1 AND id = $2",
                      [.text(portfolioId), .text(id), .int(now)])
    }

    static func advance(_ c: any SQLConnection, portfolioId: String, realizedPnl: ExactDecimal, nextSeq: Int64) throws(StoreError) {
        try c.execute("UPDATE portfolios SET realized_pnl = $2, next_seq = $3 WHERE id = $1",
                      [.text(portfolioId), .text(realizedPnl.description), .int(nextSeq)])
    }

    // MARK: Outbox

    /// The event, written in the transaction that made it; its id orders the relay's work.
    @discardableResult
    static func enqueue(_ c: any SQLConnection, channel: String, payload: String, now: Int64) throws(StoreError) -> Int64 {
        guard let row = try c.queryOne("INSERT INTO outbox (channel, payload, created_at) VALUES ($1, $2, $3) RETURNING id",
                                       [.text(channel), .text(payload), .int(now)]) else {
            throw .invalid("outbox insert returned no id")
        }
        return try row.int(0)
    }
}

extension SQLRow {
    /// Column `i` as an exact decimal (canonical or NUMERIC text). Throws `.invalid` otherwise.
    func decimal(_ i: Int) throws(StoreError) -> ExactDecimal {
        guard let text = optionalText(i), let d = ExactDecimal(canonicalOrPlain: text) else {
            throw .invalid("column \(i): expected a decimal")
        }
        return d
    }
}

import Accounts
import Gateway
import JSON
import Money
import Reactor
import Store

/// The `portfolio.*` methods of contract 2b. Each checks its params on the loop, runs its SQL in
/// one store transaction (off the loop), and answers on the call's loop; writes put their event
/// in the outbox inside that transaction and kick the relay after the commit.
enum PortfolioMethods {
    static let notFound = RPCError(code: RPCError.notFoundCode, reason: "portfolio_not_found", message: "no such portfolio")

    static func register(in methods: inout MethodRegistry, _ p: Portfolios) {
        let id: ParamSpec = .required("portfolioId", .string)
        methods.register(MethodSpec("portfolio.create", params: [.required("name", .string), .optional("baseCurrency", .string)],
                                    requiresID: true) { call in create(call, p) })
        methods.register(MethodSpec("portfolio.list") { call in list(call, p) })
        methods.register(MethodSpec("portfolio.get", params: [id]) { call in get(call, p) })
        methods.register(MethodSpec("portfolio.rename", params: [id, .required("name", .string)], requiresID: true) { call in
            rename(call, p)
        })
        methods.register(MethodSpec("portfolio.delete", params: [id], requiresID: true) { call in delete(call, p) })
        methods.register(MethodSpec("portfolio.addTransaction", params: [
            id, .required("symbol", .string), .required("side", .string), .required("quantity", .any), .required("price", .any),
            .optional("fee", .any), .optional("executedAt", .any), .optional("clientOrderId", .any),
        ], requiresID: true) { call in addTransaction(call, p) })
        methods.register(MethodSpec("portfolio.deleteTransaction", params: [id, .required("transactionId", .string)],
                                    requiresID: true) { call in deleteTransaction(call, p) })
        methods.register(MethodSpec("portfolio.transactions", params: [id, .optional("limit", .any), .optional("before", .any)]) { call in
            transactions(call, p)
        })
    }

    // MARK: Shared steps

    /// The caller's user id, or the call answered −32001.
    static func user(_ call: RPCCall) -> String? {
        guard case .user(let id) = call.client.role else {
            call.fail(.unauthenticated())
            return nil
        }
        return id
    }

    /// The portfolioId param when it has the id's form; otherwise the call is answered with the
    /// same `portfolio_not_found` a missing one gets.
    static func portfolioId(_ call: RPCCall) -> String? {
        guard let id = call.params["portfolioId"]?.stringValue, PortfolioRules.isOpaqueID(id) else {
            call.fail(notFound)
            return nil
        }
        return id
    }

    static func run<T: Sendable>(_ call: RPCCall, _ p: Portfolios, write: Bool = true,
                                 _ body: @escaping @Sendable (any SQLConnection) throws(StoreError) -> T,
                                 then: @escaping (T) -> Void) {
        StoreAnswer.transaction(call, p.store, logger: p.logger, write: write, body, then: then)
    }

    // MARK: Portfolios

    static func create(_ call: RPCCall, _ p: Portfolios) {
        guard let userId = user(call), let rawName = call.params["name"]?.stringValue else { return }
        let name: String
        switch PortfolioRules.name(rawName) {
        case .failure(let e): return call.fail(e)
        case .success(let n): name = n
        }
        let currency = call.params["baseCurrency"]?.stringValue ?? "USD"
        guard PortfolioRules.isCurrency(currency) else {
            return call.fail(.invalidParam("baseCurrency", "baseCurrency must be 3 letters A-Z"))
        }
        let id = Secrets.randomID()
        let now = Clock.wallMillis()
        let limit = p.configuration.maxPortfolios
        run(call, p, { c throws(StoreError) in
            try PortfolioStore.create(c, id: id, userId: userId, name: name, baseCurrency: currency, now: now, limit: limit)
        }) { created in
            guard created else {
                return call.fail(.limitExceeded("too_many_portfolios", "at most \(limit) portfolios per user"))
            }
            call.succeed(.object(PortfolioJSON.entry(.init(id: id, userId: userId, name: name, baseCurrency: currency, createdAt: now,
                                                           realizedPnl: .zero, nextSeq: 1))))
        }
    }

    static func list(_ call: RPCCall, _ p: Portfolios) {
        guard let userId = user(call) else { return }
        run(call, p, write: false, { c throws(StoreError) in try PortfolioStore.list(c, userId: userId) }) { portfolios in
            call.succeed(["portfolios": .array(portfolios.map { .object(PortfolioJSON.entry($0)) })])
        }
    }

    static func rename(_ call: RPCCall, _ p: Portfolios) {
        guard let userId = user(call), let id = portfolioId(call), let rawName = call.params["name"]?.stringValue else { return }
        let name: String
        switch PortfolioRules.name(rawName) {
        case .failure(let e): return call.fail(e)
        case .success(let n): name = n
        }
        run(call, p, { c throws(StoreError) -> PortfolioStore.Portfolio? in
            guard let found = try PortfolioStore.owned(c, id, userId: userId, lock: true) else { return nil }
            try PortfolioStore.rename(c, id: id, name: name)
            return found
        }) { found in
            guard let found else { return call.fail(notFound) }
            var entry = PortfolioJSON.entry(found)
            entry.set("name", .string(name))
            call.succeed(.object(entry))
        }
    }

    static func delete(_ call: RPCCall, _ p: Portfolios) {
        guard let userId = user(call), let id = portfolioId(call) else { return }
        let now = Clock.wallMillis()
        let channel = "portfolio:" + id
        run(call, p, { c throws(StoreError) -> Bool in
            guard try PortfolioStore.owned(c, id, userId: userId, lock: true) != nil else { return false }
            try PortfolioStore.delete(c, id: id)
            try PortfolioStore.enqueue(c, channel: channel, payload: #"{"type":"deleted"}"#, now: now)
            return true
        }) { deleted in
            guard deleted else { return call.fail(notFound) }
            p.committed()
            call.succeed(["deleted": true])
        }
    }

    /// The portfolio with its holdings valued at the latest prices (no store query per price:
    /// the prices are the broker's latest events).
    static func get(_ call: RPCCall, _ p: Portfolios) {
        guard let userId = user(call), let id = portfolioId(call) else { return }
        run(call, p, write: false, { c throws(StoreError) -> (PortfolioStore.Portfolio, [(symbol: String, holding: Holding)])? in
            guard let found = try PortfolioStore.owned(c, id, userId: userId) else { return nil }
            return (found, try PortfolioStore.holdings(c, portfolioId: id))
        }) { loaded in
            guard let (portfolio, holdings) = loaded else { return call.fail(notFound) }
            let channels = holdings.compactMap { ChannelName("prices:" + $0.symbol) }
            p.broker.latest(channels, on: call.client.loop) { result in
                let latest: [Event?]
                switch result {
                case .success(let events): latest = events
                case .failure: latest = Array(repeating: nil, count: channels.count)
                }
                let prices = Valuation.prices(latest)
                let v = Valuation(holdings: holdings, prices: prices)
                var answer = PortfolioJSON.entry(portfolio)
                answer.set("holdings", .array(v.holdingsJSON(detailed: true)))
                answer.set("totalCost", PortfolioJSON.decimal(v.totalCost))
                answer.set("totalValue", PortfolioJSON.decimal(v.totalValue))
                answer.set("realizedPnl", PortfolioJSON.decimal(portfolio.realizedPnl))
                answer.set("unpricedSymbols", .array(v.unpriced.map { .string($0) }))
                answer.set("asOf", PortfolioJSON.int(Clock.wallMillis()))
                call.succeed(.object(answer))
            }
        }
    }

    // MARK: Transactions

    /// What `addTransaction` found in its store transaction.
    enum Outcome: Sendable {
        case recorded(answer: String)
        /// The first answer of this clientOrderId, as it was.
        case repeated(answer: String)
        case notFound
        case reused
        case insufficient(held: ExactDecimal)
        case tooLarge
    }

    struct Request: Sendable {
        let symbol: String
        let side: Side
        let quantity: ExactDecimal
        let price: ExactDecimal
        let fee: ExactDecimal
        let executedAt: Int64?
        let clientOrderId: String?

        /// Contract 2b: the same request when symbol, side, quantity, price and fee are equal as
        /// numbers and executedAt is omitted or equal.
        func matches(_ t: PortfolioStore.Transaction) -> Bool {
            symbol == t.symbol && side == t.side && quantity == t.quantity && price == t.price && fee == t.fee
                && (executedAt == nil || executedAt == t.executedAt)
        }
    }

    static func request(_ call: RPCCall) -> Request? {
        let params = call.params
        guard let symbol = params["symbol"]?.stringValue, symbol.utf8.count <= 16, ChannelName.isSymbol(symbol.utf8) else {
            call.fail(.invalidParam("symbol", "symbol must be 1-16 of A-Z 0-9 . - _"))
            return nil
        }
        guard let sideText = params["side"]?.stringValue, let side = Side(rawValue: sideText) else {
            call.fail(.invalidParam("side", "side must be \"buy\" or \"sell\""))
            return nil
        }
        let quantity: ExactDecimal
        let price: ExactDecimal
        var fee = ExactDecimal.zero
        switch PortfolioRules.amount(params["quantity"], "quantity", positive: true) {
        case .failure(let e): call.fail(e); return nil
        case .success(let v): quantity = v
        }
        switch PortfolioRules.amount(params["price"], "price", positive: true) {
        case .failure(let e): call.fail(e); return nil
        case .success(let v): price = v
        }
        if let f = params["fee"], f != .null {
            switch PortfolioRules.amount(f, "fee", positive: false) {
            case .failure(let e): call.fail(e); return nil
            case .success(let v): fee = v
            }
        }
        var executedAt: Int64?
        if let e = params["executedAt"], e != .null {
            guard case .number(let n) = e, n.isInteger, let ms = n.int64, ms >= 0, ms <= Clock.wallMillis() + 60_000 else {
                call.fail(.invalidParam("executedAt", "executedAt must be an integer of ms in [0, now + 60 s]"))
                return nil
            }
            executedAt = ms
        }
        var clientOrderId: String?
        if let o = params["clientOrderId"], o != .null {
            guard case .string(let s) = o, PortfolioRules.isOpaqueID(s) else {
                call.fail(.invalidParam("clientOrderId", "clientOrderId must be 1-64 of A-Z a-z 0-9 _ -"))
                return nil
            }
            clientOrderId = s
        }
        return Request(symbol: symbol, side: side, quantity: quantity, price: price, fee: fee, executedAt: executedAt,
                       clientOrderId: clientOrderId)
    }

    static func addTransaction(_ call: RPCCall, _ p: Portfolios) {
        guard let userId = user(call), let id = portfolioId(call), let r = request(call) else { return }
        let now = Clock.wallMillis()
        let transactionId = Secrets.randomID()
        run(call, p, { c throws(StoreError) -> Outcome in
            try record(c, portfolioId: id, userId: userId, r, transactionId: transactionId, now: now)
        }) { outcome in
            switch outcome {
            case .recorded(let answer):
                p.committed()
                call.succeed(raw: answer)
            case .repeated(let answer): call.succeed(raw: answer)
            case .notFound: call.fail(notFound)
            case .reused:
                call.fail(RPCError(code: RPCError.conflictCode, reason: "client_order_id_reused",
                                   message: "this clientOrderId was used for a different transaction"))
            case .insufficient(let held):
                call.fail(RPCError(code: RPCError.conflictCode, reason: "insufficient_quantity", message: "selling more than is held",
                                   details: [("held", PortfolioJSON.decimal(held))]))
            case .tooLarge:
                call.fail(.invalidParam("quantity", "the holding would have more than 30 integer digits"))
            }
        }
    }

    /// One transaction, in the caller's store transaction: the row, the holding, the realized
    /// P&L and the outbox event together (or the first answer of a repeated clientOrderId).
    static func record(_ c: any SQLConnection, portfolioId id: String, userId: String, _ r: Request, transactionId: String,
                       now: Int64) throws(StoreError) -> Outcome {
        guard let portfolio = try PortfolioStore.owned(c, id, userId: userId, lock: true) else { return .notFound }
        if let order = r.clientOrderId, let earlier = try PortfolioStore.transaction(c, portfolioId: id, clientOrderId: order) {
            return r.matches(earlier) ? .repeated(answer: earlier.answer) : .reused
        }
        let before = try PortfolioStore.holding(c, portfolioId: id, symbol: r.symbol)
        let step: LedgerStep
        switch Ledger.apply(r.side, quantity: r.quantity, price: r.price, fee: r.fee, to: before) {
        case .failure(.insufficientQuantity(let held)): return .insufficient(held: held)
        case .failure(.tooLarge): return .tooLarge
        case .success(let s): step = s
        }
        var t = PortfolioStore.Transaction(id: transactionId, seq: portfolio.nextSeq, symbol: r.symbol, side: r.side,
                                           quantity: r.quantity, price: r.price, fee: r.fee, executedAt: r.executedAt ?? now,
                                           clientOrderId: r.clientOrderId, recordedAt: now, answer: "", deleted: false)
        let tJSON = PortfolioJSON.transaction(t, portfolioId: id)
        let hJSON = PortfolioJSON.holding(r.symbol, step.holding)
        let answer = PortfolioJSON.text(["transaction": tJSON, "holding": hJSON])
        t = PortfolioStore.Transaction(id: t.id, seq: t.seq, symbol: t.symbol, side: t.side, quantity: t.quantity, price: t.price,
                                       fee: t.fee, executedAt: t.executedAt, clientOrderId: t.clientOrderId,
                                       recordedAt: t.recordedAt, answer: answer, deleted: false)
        try PortfolioStore.insert(c, portfolioId: id, t)
        try PortfolioStore.setHolding(c, portfolioId: id, symbol: r.symbol, step.holding)
        try PortfolioStore.advance(c, portfolioId: id, realizedPnl: portfolio.realizedPnl + step.realizedPnlChange,
                                   nextSeq: portfolio.nextSeq + 1)
        try PortfolioStore.enqueue(c, channel: "portfolio:" + id,
                                   payload: PortfolioJSON.text(["type": "transaction", "transaction": tJSON, "holding": hJSON]),
                                   now: now)
        return .recorded(answer: answer)
    }

    static func deleteTransaction(_ call: RPCCall, _ p: Portfolios) {
        guard let userId = user(call), let id = portfolioId(call), let transactionId = call.params["transactionId"]?.stringValue else {
            return
        }
        enum Deleted: Sendable {
            case done(holding: String)
            case notFound, transactionNotFound, insufficient(held: ExactDecimal), tooLarge
        }
        let now = Clock.wallMillis()
        run(call, p, { c throws(StoreError) -> Deleted in
            guard let portfolio = try PortfolioStore.owned(c, id, userId: userId, lock: true) else { return .notFound }
            guard PortfolioRules.isOpaqueID(transactionId),
                  let gone = try PortfolioStore.transaction(c, portfolioId: id, id: transactionId) else { return .transactionNotFound }
            let remaining = try PortfolioStore.transactions(c, portfolioId: id).filter { $0.id != transactionId }
            let entries = remaining.map { Ledger.Entry(symbol: $0.symbol, side: $0.side, quantity: $0.quantity, price: $0.price, fee: $0.fee) }
            let replayed: (holdings: [String: Holding], realizedPnl: ExactDecimal)
            switch Ledger.replay(entries) {
            case .failure(.insufficientQuantity(let held)): return .insufficient(held: held)
            case .failure(.tooLarge): return .tooLarge
            case .success(let r): replayed = r
            }
            let holding = replayed.holdings[gone.symbol] ?? .empty
            try PortfolioStore.markDeleted(c, portfolioId: id, id: transactionId, now: now)
            try PortfolioStore.setHolding(c, portfolioId: id, symbol: gone.symbol, holding)
            try PortfolioStore.advance(c, portfolioId: id, realizedPnl: replayed.realizedPnl, nextSeq: portfolio.nextSeq)
            let hJSON = PortfolioJSON.holding(gone.symbol, holding)
            try PortfolioStore.enqueue(c, channel: "portfolio:" + id, payload: PortfolioJSON.text([
                "type": "transactionDeleted", "transactionId": .string(transactionId), "holding": hJSON,
            ]), now: now)
            return .done(holding: PortfolioJSON.text(["deleted": true, "holding": hJSON]))
        }) { outcome in
            switch outcome {
            case .done(let answer):
                p.committed()
                call.succeed(raw: answer)
            case .notFound: call.fail(notFound)
            case .transactionNotFound:
                call.fail(RPCError(code: RPCError.notFoundCode, reason: "transaction_not_found", message: "no such transaction"))
            case .insufficient(let held):
                call.fail(RPCError(code: RPCError.conflictCode, reason: "insufficient_quantity",
                                   message: "without it, a later sale would sell more than was held",
                                   details: [("held", PortfolioJSON.decimal(held))]))
            case .tooLarge:
                call.fail(.invalidParam("transactionId", "without it, a holding would have more than 30 integer digits"))
            }
        }
    }

    static func transactions(_ call: RPCCall, _ p: Portfolios) {
        guard let userId = user(call), let id = portfolioId(call) else { return }
        var limit = 50
        if let l = call.params["limit"], l != .null {
            guard case .number(let n) = l, n.isInteger, let v = n.int64, (1...100).contains(v) else {
                return call.fail(.invalidParam("limit", "limit must be an integer in 1...100"))
            }
            limit = Int(v)
        }
        var before = Int64.max
        if let b = call.params["before"], b != .null {
            guard case .string(let cursor) = b, let seq = Cursor.decode(cursor, portfolioId: id) else {
                return call.fail(.invalidParam("before", "before must be a nextBefore cursor of this portfolio"))
            }
            before = seq
        }
        let (pageSize, beforeSeq) = (limit, before)
        run(call, p, write: false, { c throws(StoreError) -> [PortfolioStore.Transaction]? in
            guard try PortfolioStore.owned(c, id, userId: userId) != nil else { return nil }
            return try PortfolioStore.page(c, portfolioId: id, beforeSeq: beforeSeq, limit: pageSize)
        }) { page in
            guard let page else { return call.fail(notFound) }
            let shown = page.prefix(limit)
            let next: JSONValue = page.count > limit ? shown.last.map { .string(Cursor.encode(seq: $0.seq, portfolioId: id)) } ?? .null : .null
            call.succeed(["transactions": .array(shown.map { PortfolioJSON.transaction($0, portfolioId: id) }), "nextBefore": next])
        }
    }
}

/// `nextBefore`: opaque to clients; names the portfolio so a cursor of another is refused.
enum Cursor {
    static func encode(seq: Int64, portfolioId: String) -> String { "\(seq).\(portfolioId)" }

    static func decode(_ text: String, portfolioId: String) -> Int64? {
        guard let dot = text.firstIndex(of: "."), text[text.index(after: dot)...] == portfolioId,
              let seq = Int64(text[..<dot]), seq > 0 else { return nil }
        return seq
    }
}

extension RPCCall {
    /// Answers with a result already written as JSON text (a stored first answer).
    func succeed(raw json: String) { succeed(writing: { $0.writeRaw(Array(json.utf8)) }) }
}

import Gateway
import JSON
import Log
import Money
import Store
import Synchronization

/// `prices.history {symbol, interval, from?, to?, limit?}` (contract 2c): the store's bars plus
/// those not flushed yet, so a price published a moment ago is already in its bar. Parameters
/// are checked on the loop; the query runs on a store worker.
enum HistoryMethod {
    static let defaultLimit = 500
    static let maxLimit = 1_000

    static func register(in methods: inout MethodRegistry, _ bars: Bars, requireLogin: Bool) {
        methods.register(MethodSpec("prices.history", params: [
            .required("symbol", .any), .required("interval", .any), .optional("from", .any), .optional("to", .any),
            .optional("limit", .any),
        ]) { call in history(call, bars, requireLogin: requireLogin) })
    }

    /// An integer param that fits Int64, or the call answered −32602 naming it.
    private static func integer(_ call: RPCCall, _ name: String) -> (present: Bool, value: Int64)? {
        guard let v = call.params[name], v != .null else { return (false, 0) }
        guard let n = v.numberValue?.int64 else {
            call.fail(.invalidParam(name, "\(name) must be an integer (milliseconds)"))
            return nil
        }
        return (true, n)
    }

    static func history(_ call: RPCCall, _ bars: Bars, requireLogin: Bool) {
        guard let symbol = call.params["symbol"]?.stringValue, BarRules.isSymbol(symbol) else {
            return call.fail(.invalidParam("symbol", "symbol must be 1-16 of A-Z 0-9 . - _"))
        }
        guard let raw = call.params["interval"]?.stringValue, let interval = BarInterval(rawValue: raw) else {
            return call.fail(.invalidParam("interval", "interval must be \"1m\" or \"1d\""))
        }
        guard let from = integer(call, "from"), let to = integer(call, "to"), let limitParam = integer(call, "limit") else { return }
        let limit = limitParam.present ? Int(limitParam.value) : defaultLimit
        guard (1...maxLimit).contains(limit) else {
            return call.fail(.invalidParam("limit", "limit must be an integer in 1...\(maxLimit)"))
        }
        if requireLogin, case .anonymous = call.client.role {
            return call.fail(.unauthenticated("market data needs a logged-in user on this gateway"))
        }
        let lower = from.present ? from.value : Int64.min
        let upper = to.present ? to.value : Int64.max
        guard lower < upper else { return call.succeed(answer(symbol, interval, [])) }
        bars.store.transaction(on: call.client.loop, write: false, { [bars] c throws(StoreError) in
            let stored = try BarStore.history(c, symbol: symbol, interval: interval, from: lower, to: upper, limit: limit)
            // The book after the store: a flush committing after the store read is still in the
            // book, so nothing is missed. (One that committed just before, whose completion has
            // not yet reached its loop, is counted twice for those microseconds: accepted.)
            let pending = bars.book.withLock { $0.pending(symbol: symbol, interval: interval, from: lower, to: upper) }
            return combine(stored, pending, limit: limit)
        }) { result in
            switch result {
            case .success(let list): call.succeed(answer(symbol, interval, list))
            case .failure(let e): call.fail(bars.storeError(e))
            }
        }
    }

    /// Stored bars with the unflushed deltas folded in (published after what is stored), the
    /// last `limit`, oldest first. Either list may be empty.
    static func combine(_ stored: [Bar], _ pending: [Bar], limit: Int) -> [Bar] {
        guard !pending.isEmpty else { return stored }
        var byT: [Int64: Bar] = [:]
        for b in stored { byT[b.t] = b }
        for d in pending { byT[d.t] = byT[d.t].map { $0.merged(with: d) } ?? d }
        return Array(byT.values.sorted { $0.t < $1.t }.suffix(limit))
    }

    static func answer(_ symbol: String, _ interval: BarInterval, _ list: [Bar]) -> JSONValue {
        .object(JSONObject([
            ("symbol", .string(symbol)), ("interval", .string(interval.rawValue)),
            ("bars", .array(list.map { b in
                .object(JSONObject([
                    ("t", .number(JSONNumber(uncheckedText: String(b.t)))), ("open", .string(b.open.description)),
                    ("high", .string(b.high.description)), ("low", .string(b.low.description)),
                    ("close", .string(b.close.description)), ("volume", .string(b.volume.description)),
                ]))
            })),
        ]))
    }
}

extension Bars {
    func storeError(_ e: StoreError) -> RPCError {
        switch e {
        case .busy: return RPCError(code: RPCError.unavailableCode, reason: "busy", message: "the server is busy; try again shortly")
        case .unavailable: return .unavailable("the store is unavailable; try again shortly")
        case .uniqueViolation, .retryable, .invalid:
            logger.error("store error", [("method", "prices.history"), ("error", "\(e)")])
            return .internalError()
        }
    }
}

import Accounts
import JSON
import TestSupport
import Testing

/// Contract 2b through real sockets, on both stores.
@Suite("Portfolios (2b)")
struct PortfolioTests {
    static let secret = "0123456789abcdef0123456789abcdef-test"

    func gateway(_ store: TestStore) throws -> TestGateway {
        try TestGateway(store: try store.backend(), accounts: { $0.jwtSecret = Self.secret })
    }

    /// A client registered and logged in as `email`.
    func user(_ g: TestGateway, _ email: String) throws -> RPCClient {
        let c = try g.client()
        #expect(try c.call("auth.register", #"{"email":"\#(email)","password":"correct horse battery"}"#, timeoutMs: 15_000).result != nil)
        #expect(try c.call("auth.login", #"{"email":"\#(email)","password":"correct horse battery"}"#, timeoutMs: 15_000).result != nil)
        return c
    }

    func create(_ c: RPCClient, _ name: String = "Main") throws -> String {
        let r = try c.call("portfolio.create", #"{"name":"\#(name)"}"#)
        return try #require(r.result?["portfolioId"]?.stringValue, "\(r.value)")
    }

    func add(_ c: RPCClient, _ id: String, _ side: String, _ symbol: String, _ q: String, _ p: String, fee: String? = nil,
             order: String? = nil, executedAt: Int? = nil) throws -> Incoming {
        var params = #"{"portfolioId":"\#(id)","symbol":"\#(symbol)","side":"\#(side)","quantity":"\#(q)","price":"\#(p)""#
        if let fee { params += #","fee":"\#(fee)""# }
        if let order { params += #","clientOrderId":"\#(order)""# }
        if let executedAt { params += #","executedAt":\#(executedAt)"# }
        return try c.call("portfolio.addTransaction", params + "}")
    }

    func string(_ v: JSONValue?) -> String? { v?.stringValue }

    @Test(arguments: TestStore.allCases)
    func createListRenameAndTheirErrors(_ store: TestStore) throws {
        let g = try gateway(store)
        defer { g.stop() }
        let anon = try g.client()
        #expect(try anon.call("portfolio.create", #"{"name":"x"}"#).errorReason == "unauthenticated")
        #expect(try anon.call("portfolio.list").errorReason == "unauthenticated")
        let c = try user(g, "ann@example.com")
        let made = try c.call("portfolio.create", #"{"name":"  Retirement \u00e9  ","baseCurrency":"EUR"}"#)
        #expect(made.result?["name"] == .string("Retirement é"))
        #expect(made.result?["baseCurrency"] == .string("EUR"))
        let id = try #require(made.result?["portfolioId"]?.stringValue)
        #expect(id.utf8.count >= 16)
        #expect(made.result?["createdAt"]?.numberValue?.int64 != nil)
        for bad in [#"{"name":"   "}"#, #"{"name":"a\u0007b"}"#, #"{"name":"a\u200bb"}"#, #"{"name":"\#(String(repeating: "x", count: 101))"}"#,
                    #"{"name":"ok","baseCurrency":"usd"}"#, #"{"name":"ok","baseCurrency":"USDX"}"#] {
            #expect(try c.call("portfolio.create", bad).errorCode == -32602, "\(bad)")
        }
        #expect(try c.call("portfolio.create", #"{"name":"\#(String(repeating: "é", count: 100))"}"#).result != nil)
        let second = try create(c, "Second")
        let list = try c.call("portfolio.list")
        let ids = list.result?["portfolios"]?.arrayValue?.compactMap { $0["portfolioId"]?.stringValue }
        #expect(ids?.count == 3)
        #expect(ids?.first == id)
        #expect(ids?.last == second)
        let renamed = try c.call("portfolio.rename", #"{"portfolioId":"\#(second)","name":" New name "}"#)
        #expect(renamed.result?["name"] == .string("New name"))
        #expect(renamed.result?["portfolioId"] == .string(second))

        // Another user's portfolio, a missing one and a malformed id: the same error object.
        let bob = try user(g, "bob@example.com")
        let errors = try [id, "nope", "bad id!"].map { try bob.call("portfolio.get", #"{"portfolioId":"\#($0)"}"#).error }
        #expect(errors.allSatisfy { $0 == errors[0] })
        #expect(errors[0]?["code"] == .number(JSONNumber(-32004)))
        #expect(errors[0]?["data"]?["reason"] == .string("portfolio_not_found"))
        #expect(try bob.call("portfolio.rename", #"{"portfolioId":"\#(id)","name":"mine"}"#).error == errors[0])
        for (method, params) in [
            ("portfolio.addTransaction", #"{"portfolioId":"\#(id)","symbol":"AAPL","side":"buy","quantity":"1","price":"1"}"#),
            ("portfolio.transactions", #"{"portfolioId":"\#(id)"}"#), ("portfolio.delete", #"{"portfolioId":"\#(id)"}"#),
            ("portfolio.deleteTransaction", #"{"portfolioId":"\#(id)","transactionId":"t"}"#), ("risk.metrics", #"{"portfolioId":"\#(id)"}"#),
        ] {
            #expect(try bob.call(method, params).error == errors[0], "\(method)")
        }
        #expect(try c.call("portfolio.get", #"{"portfolioId":"\#(id)"}"#).result?["holdings"] == .array([]))
        #expect(try bob.call("portfolio.get", #"{"portfolioId":5}"#).errorCode == -32602)
        #expect(try bob.call("portfolio.list").result?["portfolios"] == .array([]))
        // Subscribing to someone else's portfolio channel: −32003, the same for a missing one.
        let s1 = try bob.call("subscribe", #"{"channel":"portfolio:\#(id)"}"#)
        let s2 = try bob.call("subscribe", #"{"channel":"portfolio:nope"}"#)
        #expect(s1.errorCode == -32003)
        #expect(s1.error == s2.error)
        #expect(try c.call("subscribe", #"{"channel":"portfolio:\#(id)"}"#).result?["seq"] == .number(JSONNumber(0)))
    }

    @Test(arguments: TestStore.allCases)
    func weightedAverageCostAndTheEvents(_ store: TestStore) throws {
        let g = try gateway(store)
        defer { g.stop() }
        let c = try user(g, "wac@example.com")
        let id = try create(c)
        let watcher = try g.client()
        let token = try #require(try watcher.call("auth.login", #"{"email":"wac@example.com","password":"correct horse battery"}"#,
                                                  timeoutMs: 15_000).result)
        _ = token
        let sub = try watcher.call("subscribe", #"{"channel":"portfolio:\#(id)"}"#)
        #expect(sub.result?["seq"] == .number(JSONNumber(0)))

        let buy1 = try add(c, id, "buy", "AAPL", "10", "100.50", fee: "1")
        #expect(buy1.result?["holding"]?["quantity"] == .string("10"))
        #expect(buy1.result?["holding"]?["costBasis"] == .string("1006"))
        #expect(buy1.result?["holding"]?["averageCost"] == .string("100.6"))
        #expect(buy1.result?["transaction"]?["price"] == .string("100.5"))
        #expect(buy1.result?["transaction"]?["fee"] == .string("1"))
        #expect(buy1.result?["transaction"]?["clientOrderId"] == .null)
        let buy2 = try add(c, id, "buy", "AAPL", "5", "110")
        #expect(buy2.result?["holding"]?["costBasis"] == .string("1556"))
        #expect(buy2.result?["holding"]?["averageCost"] == .string("103.7333333333"))
        // Sell 4 of 15: removed = round10(1556·4/15) = 414.9333333333.
        let sell = try add(c, id, "sell", "AAPL", "4", "120", fee: "2")
        #expect(sell.result?["holding"]?["quantity"] == .string("11"))
        #expect(sell.result?["holding"]?["costBasis"] == .string("1141.0666666667"))
        let over = try add(c, id, "sell", "AAPL", "11.0000000001", "1")
        #expect(over.errorCode == -32009)
        #expect(over.errorReason == "insufficient_quantity")
        #expect(over.error?["data"]?["held"] == .string("11"))
        #expect(try add(c, id, "sell", "MSFT", "1", "1").error?["data"]?["held"] == .string("0"))
        let out = try add(c, id, "sell", "AAPL", "11", "130")
        #expect(out.result?["holding"] == .null)

        let got = try c.call("portfolio.get", #"{"portfolioId":"\#(id)"}"#)
        // realized = (4·120 − 2 − 414.9333333333) + (11·130 − 0 − 1141.0666666667) = 63.0666666667 + 288.9333333333
        #expect(got.result?["realizedPnl"] == .string("352"))
        #expect(got.result?["holdings"] == .array([]))
        #expect(got.result?["totalValue"] == .string("0"))

        // Four events, in order, seq 1…4, each the transaction and the holding after it.
        try watcher.waitForEvents(4)
        let events = watcher.takeEvents()
        #expect(events.map(\.seq) == [1, 2, 3, 4])
        #expect(events.allSatisfy { $0.params?["data"]?["type"] == .string("transaction") })
        #expect(events[0].params?["data"]?["holding"] == buy1.result?["holding"])
        #expect(events[3].params?["data"]?["transaction"] == out.result?["transaction"])
    }

    @Test(arguments: TestStore.allCases)
    func valuationAtTheLatestPrices(_ store: TestStore) throws {
        let g = try gateway(store)
        defer { g.stop() }
        let c = try user(g, "val@example.com")
        let id = try create(c)
        _ = try add(c, id, "buy", "MSFT", "3", "10")
        _ = try add(c, id, "buy", "AAPL", "2", "50")
        _ = try add(c, id, "buy", "ZZZ", "1", "7")
        let publisher = try g.client(publisher: true)
        #expect(try publisher.call("publish", #"{"channel":"prices:AAPL","data":{"symbol":"AAPL","price":"60.25","ts":1700000000000}}"#).result != nil)
        #expect(try publisher.call("publish", #"{"channel":"prices:MSFT","data":{"symbol":"MSFT","price":"9","ts":1700000000001}}"#).result != nil)
        let got = try #require(try c.call("portfolio.get", #"{"portfolioId":"\#(id)"}"#).result)
        let holdings = try #require(got["holdings"]?.arrayValue)
        #expect(holdings.compactMap { $0["symbol"]?.stringValue } == ["AAPL", "MSFT", "ZZZ"])
        #expect(holdings[0]["marketValue"] == .string("120.5"))
        #expect(holdings[0]["unrealizedPnl"] == .string("20.5"))
        #expect(holdings[0]["priceTs"] == .number(JSONNumber(1700000000000)))
        #expect(holdings[1]["marketValue"] == .string("27"))
        #expect(holdings[1]["unrealizedPnl"] == .string("-3"))
        #expect(holdings[2]["price"] == .null)
        #expect(holdings[2]["weight"] == .null)
        #expect(got["totalCost"] == .string("137"))
        #expect(got["totalValue"] == .string("147.5"))
        #expect(got["unpricedSymbols"] == .array(["ZZZ"]))
        #expect(holdings[0]["weight"]?.numberValue?.double == 120.5 / 147.5)
        #expect(holdings[1]["weight"]?.numberValue?.double == 27 / 147.5)
    }

    @Test(arguments: TestStore.allCases)
    func clientOrderIdIsIdempotent(_ store: TestStore) throws {
        let g = try gateway(store)
        defer { g.stop() }
        let c = try user(g, "idem@example.com")
        let id = try create(c)
        let first = try add(c, id, "buy", "AAPL", "1.50", "10", order: "o-1")
        #expect(first.result?["transaction"]?["clientOrderId"] == .string("o-1"))
        _ = try add(c, id, "buy", "AAPL", "1", "10")
        // The same request (equal as numbers, fee default 0): exactly the first answer, nothing recorded.
        let again = try add(c, id, "buy", "AAPL", "1.5", "10.0", fee: "0", order: "o-1")
        #expect(again.result == first.result)
        let reused = try add(c, id, "buy", "AAPL", "2", "10", order: "o-1")
        #expect(reused.errorCode == -32009)
        #expect(reused.errorReason == "client_order_id_reused")
        // A refused request does not reserve its clientOrderId.
        #expect(try add(c, id, "sell", "AAPL", "100", "10", order: "o-2").errorReason == "insufficient_quantity")
        #expect(try add(c, id, "sell", "AAPL", "1", "10", order: "o-2").result != nil)
        let list = try c.call("portfolio.transactions", #"{"portfolioId":"\#(id)"}"#)
        #expect(list.result?["transactions"]?.arrayValue?.count == 3)
        #expect(list.result?["nextBefore"] == .null)
    }

    @Test(arguments: TestStore.allCases)
    func transactionInputErrors(_ store: TestStore) throws {
        let g = try gateway(store)
        defer { g.stop() }
        let c = try user(g, "bad@example.com")
        let id = try create(c)
        let base = #""portfolioId":"\#(id)","symbol":"AAPL","side":"buy""#
        for params in [
            #"{\#(base),"quantity":"0","price":"1"}"#, #"{\#(base),"quantity":"1","price":"0"}"#,
            #"{\#(base),"quantity":1,"price":"1"}"#, #"{\#(base),"quantity":"01","price":"1"}"#,
            #"{\#(base),"quantity":"1.","price":"1"}"#, #"{\#(base),"quantity":"1e3","price":"1"}"#,
            #"{\#(base),"quantity":"-1","price":"1"}"#, #"{\#(base),"quantity":"1.00000000001","price":"1"}"#,
            #"{\#(base),"quantity":"123456789012345678901","price":"1"}"#, #"{\#(base),"quantity":"1","price":"1","fee":"-1"}"#,
            #"{\#(base),"quantity":"1","price":"1","executedAt":-1}"#, #"{\#(base),"quantity":"1","price":"1","executedAt":1.5}"#,
            #"{\#(base),"quantity":"1","price":"1","executedAt":99999999999999}"#,
            #"{\#(base),"quantity":"1","price":"1","clientOrderId":"has space"}"#,
            #"{"portfolioId":"\#(id)","symbol":"aapl","side":"buy","quantity":"1","price":"1"}"#,
            #"{"portfolioId":"\#(id)","symbol":"AAPL","side":"hold","quantity":"1","price":"1"}"#,
        ] {
            #expect(try c.call("portfolio.addTransaction", params).errorCode == -32602, "\(params)")
        }
        #expect(try c.call("portfolio.addTransaction", #"{\#(base),"quantity":"1","price":"1","clientOrderId":null}"#).result != nil)
        // Over 30 integer digits after it: refused, nothing recorded.
        let big = "99999999999999999999"
        #expect(try add(c, id, "buy", "BIG", big, big).errorCode == -32602)
        #expect(try c.call("portfolio.get", #"{"portfolioId":"\#(id)"}"#).result?["holdings"]?.arrayValue?.count == 1)
    }

    @Test(arguments: TestStore.allCases)
    func transactionsPagesAndDelete(_ store: TestStore) throws {
        let g = try gateway(store)
        defer { g.stop() }
        let c = try user(g, "pages@example.com")
        let id = try create(c)
        var ids: [String] = []
        for i in 1...5 { ids.append(try #require(try add(c, id, "buy", "AAPL", "\(i)", "10").result?["transaction"]?["transactionId"]?.stringValue)) }
        let page1 = try #require(try c.call("portfolio.transactions", #"{"portfolioId":"\#(id)","limit":2}"#).result)
        #expect(page1["transactions"]?.arrayValue?.compactMap { $0["transactionId"]?.stringValue } == [ids[4], ids[3]])
        let cursor = try #require(page1["nextBefore"]?.stringValue)
        let page2 = try #require(try c.call("portfolio.transactions", #"{"portfolioId":"\#(id)","limit":2,"before":"\#(cursor)"}"#).result)
        #expect(page2["transactions"]?.arrayValue?.compactMap { $0["transactionId"]?.stringValue } == [ids[2], ids[1]])
        let cursor2 = try #require(page2["nextBefore"]?.stringValue)
        let page3 = try #require(try c.call("portfolio.transactions", #"{"portfolioId":"\#(id)","limit":2,"before":"\#(cursor2)"}"#).result)
        #expect(page3["transactions"]?.arrayValue?.count == 1)
        #expect(page3["nextBefore"] == .null)
        let other = try create(c, "Other")
        #expect(try c.call("portfolio.transactions", #"{"portfolioId":"\#(other)","before":"\#(cursor)"}"#).errorReason == "invalid_param")
        #expect(try c.call("portfolio.transactions", #"{"portfolioId":"\#(id)","before":"garbage"}"#).errorReason == "invalid_param")
        #expect(try c.call("portfolio.transactions", #"{"portfolioId":"\#(id)","limit":101}"#).errorReason == "invalid_param")

        // Sell 14 of 15, then deleting the buy of 5 would oversell: refused, nothing changes.
        #expect(try add(c, id, "sell", "AAPL", "14", "12").result != nil)
        let refused = try c.call("portfolio.deleteTransaction", #"{"portfolioId":"\#(id)","transactionId":"\#(ids[4])"}"#)
        #expect(refused.errorReason == "insufficient_quantity")
        let deleted = try c.call("portfolio.deleteTransaction", #"{"portfolioId":"\#(id)","transactionId":"\#(ids[0])"}"#)
        #expect(deleted.result?["deleted"] == .bool(true))
        // Remaining: buys 2,3,4,5 (cost 140) then sell 14 of 14: sold out, realized 14·12 − 140 = 28.
        #expect(deleted.result?["holding"] == .null)
        #expect(try c.call("portfolio.get", #"{"portfolioId":"\#(id)"}"#).result?["realizedPnl"] == .string("28"))
        #expect(try c.call("portfolio.deleteTransaction", #"{"portfolioId":"\#(id)","transactionId":"\#(ids[0])"}"#)
            .errorReason == "transaction_not_found")

        #expect(try c.call("portfolio.delete", #"{"portfolioId":"\#(id)"}"#).result?["deleted"] == .bool(true))
        #expect(try c.call("portfolio.get", #"{"portfolioId":"\#(id)"}"#).errorReason == "portfolio_not_found")
        #expect(try c.call("portfolio.list").result?["portfolios"]?.arrayValue?.count == 1)
    }

    /// Deleting a portfolio: its subscribers get `{"type":"deleted"}`, then `unsubscribed`
    /// with reason `deleted`; the channel can no longer be subscribed.
    @Test(arguments: TestStore.allCases)
    func deletingEndsTheSubscriptions(_ store: TestStore) throws {
        let g = try gateway(store)
        defer { g.stop() }
        let c = try user(g, "del@example.com")
        let id = try create(c)
        #expect(try c.call("subscribe", #"{"channel":"portfolio:\#(id)"}"#).result != nil)
        #expect(try add(c, id, "buy", "AAPL", "1", "10").result != nil)
        #expect(try c.call("portfolio.delete", #"{"portfolioId":"\#(id)"}"#).result?["deleted"] == .bool(true))
        try c.waitForEvents(2)
        let events = c.takeEvents()
        #expect(events.map(\.seq) == [1, 2])
        #expect(events.last?.params?["data"] == .object(JSONObject([("type", .string("deleted"))])))
        var note = try c.nextAnswer()
        while note.value["method"] == .string("portfolio.valuation") { note = try c.nextAnswer() }
        #expect(note.value["method"] == .string("unsubscribed"))
        #expect(note.params?["reason"] == .string("deleted"))
        #expect(note.params?["channel"] == .string("portfolio:" + id))
        #expect(try c.call("unsubscribe", #"{"channel":"portfolio:\#(id)"}"#).result?["unsubscribed"] == .bool(false))
        #expect(try c.call("subscribe", #"{"channel":"portfolio:\#(id)"}"#).errorCode == -32003)
    }

    /// The `portfolio.valuation` notifications `c` received within `ms` (with when, ms from now).
    func valuations(_ c: RPCClient, forMs ms: Int) -> [(at: Int, params: JSONValue?)] {
        let start = ContinuousClock.now
        var out: [(at: Int, params: JSONValue?)] = []
        while millis(since: start) < ms {
            do { try c.readOne(timeoutMs: ms - millis(since: start)) } catch { break }
            while let i = c.answers.firstIndex(where: { $0.value["method"] == .string("portfolio.valuation") }) {
                out.append((millis(since: start), c.answers.remove(at: i).params))
            }
        }
        return out
    }

    /// Valuations: none on subscribe; one at once after a price of a held symbol, then at most
    /// one a second carrying the latest state; after a transaction; none once unsubscribed.
    @Test(arguments: TestStore.allCases)
    func valuationNotificationsAreThrottled(_ store: TestStore) throws {
        let g = try gateway(store)
        defer { g.stop() }
        let c = try user(g, "live@example.com")
        let id = try create(c)
        #expect(try c.call("subscribe", #"{"channel":"portfolio:\#(id)"}"#).result != nil)
        #expect(valuations(c, forMs: 300).isEmpty)
        _ = try add(c, id, "buy", "AAPL", "2", "50")
        _ = try add(c, id, "buy", "MSFT", "3", "10")
        // After the transactions: valued (nothing priced yet), then quiet for a second.
        let made = valuations(c, forMs: 1_500)
        #expect((1...2).contains(made.count))
        #expect(made.last?.params?["unpricedSymbols"] == .array(["AAPL", "MSFT"]))
        #expect(made.last?.params?["totalValue"] == .string("0"))
        #expect(valuations(c, forMs: 1_000).isEmpty)
        let publisher = try g.client(publisher: true)
        func price(_ symbol: String, _ p: String) throws {
            #expect(try publisher.call("publish", #"{"channel":"prices:\#(symbol)","data":{"symbol":"\#(symbol)","price":"\#(p)","ts":1700000000000}}"#).result != nil)
        }
        try price("AAPL", "60")
        let first = valuations(c, forMs: 500)
        #expect(first.count == 1)
        let v = try #require(first.first?.params)
        #expect(v["portfolioId"] == .string(id))
        #expect(v["totalValue"] == .string("120"))
        #expect(v["unpricedSymbols"] == .array(["MSFT"]))
        #expect(v["holdings"]?[0]?["marketValue"] == .string("120"))
        #expect(v["holdings"]?[0]?["unrealizedPnl"] == .string("20"))
        #expect(v["holdings"]?[1]?["price"] == .null)
        #expect(v["asOf"]?.numberValue?.int64 != nil)

        // A burst of 20 prices: at most one more within the next second, with the last price.
        for i in 61...80 { try price("AAPL", "\(i)") }
        let burst = valuations(c, forMs: 1_600)
        #expect((1...2).contains(burst.count), "\(burst.count) valuations")
        #expect(burst.last?.params?["holdings"]?[0]?["price"] == .string("80"))
        #expect(burst.last?.params?["totalValue"] == .string("160"))

        // A transaction (from another connection's point of view too) is valued with the cache.
        _ = try add(c, id, "buy", "MSFT", "1", "10")
        try price("MSFT", "9")
        let after = valuations(c, forMs: 2_200)
        #expect(!after.isEmpty)
        #expect(after.last?.params?["totalValue"] == .string("196"))
        #expect(after.last?.params?["unpricedSymbols"] == .array([]))
        // Spaced by at least a second (a little slack for the loop's clock).
        for (a, b) in zip(after, after.dropFirst()) { #expect(b.at - a.at >= 900) }

        // Deleting a transaction is valued too (its holdings read again from the store).
        let msft = try #require(try c.call("portfolio.transactions", #"{"portfolioId":"\#(id)","limit":1}"#)
            .result?["transactions"]?[0]?["transactionId"]?.stringValue)
        _ = valuations(c, forMs: 1_000)
        #expect(try c.call("portfolio.deleteTransaction", #"{"portfolioId":"\#(id)","transactionId":"\#(msft)"}"#).result != nil)
        let afterDelete = valuations(c, forMs: 1_500)
        #expect(afterDelete.last?.params?["totalValue"] == .string("187"), "\(afterDelete.map(\.params))")

        #expect(try c.call("unsubscribe", #"{"channel":"portfolio:\#(id)"}"#).result?["unsubscribed"] == .bool(true))
        _ = valuations(c, forMs: 1_100)
        try price("AAPL", "99")
        #expect(valuations(c, forMs: 1_300).isEmpty)
    }

    @Test(arguments: TestStore.allCases)
    func atMostOneHundredPortfolios(_ store: TestStore) throws {
        let g = try gateway(store)
        defer { g.stop() }
        let c = try user(g, "many@example.com")
        for i in 0..<100 { _ = try create(c, "p\(i)") }
        let refused = try c.call("portfolio.create", #"{"name":"one too many"}"#)
        #expect(refused.errorCode == -32008)
        #expect(refused.errorReason == "too_many_portfolios")
    }

    /// Sellers of the last shares at the same moment, on two connections: exactly one succeeds.
    @Test(arguments: TestStore.allCases)
    func racingSellsNeverOversell(_ store: TestStore) throws {
        let g = try gateway(store)
        defer { g.stop() }
        let a = try user(g, "race@example.com")
        let b = try g.client()
        #expect(try b.call("auth.login", #"{"email":"race@example.com","password":"correct horse battery"}"#, timeoutMs: 15_000).result != nil)
        let id = try create(a)
        for round in 0..<10 {
            #expect(try add(a, id, "buy", "R\(round)", "7", "10").result != nil)
            let sell = #"{"portfolioId":"\#(id)","symbol":"R\#(round)","side":"sell","quantity":"7","price":"11"}"#
            let ia = try a.send("portfolio.addTransaction", sell)
            let ib = try b.send("portfolio.addTransaction", sell)
            let ra = try a.answer(id: ia)
            let rb = try b.answer(id: ib)
            let ok = [ra, rb].filter { $0.result != nil }.count
            let refused = [ra, rb].filter { $0.errorReason == "insufficient_quantity" }.count
            #expect(ok == 1 && refused == 1, "round \(round): \(ra.value) \(rb.value)")
        }
        let got = try #require(try a.call("portfolio.get", #"{"portfolioId":"\#(id)"}"#).result)
        #expect(got["holdings"] == .array([]))
        #expect(got["realizedPnl"] == .string("70"))
    }
}

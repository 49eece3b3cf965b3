import Gateway
import JSON
import Testing

/// Regressions for defects a review found (each reproduced against the server first).
@Suite("Gateway review regressions")
struct GatewayReviewRegressionTests {
    static func publish(_ p: RPCClient, _ symbol: String, _ n: Int) throws -> Incoming {
        try p.call("publish", "{\"channel\":\"prices:\(symbol)\",\"data\":{\"symbol\":\"\(symbol)\",\"price\":\"\(n)\",\"ts\":\(n)}}")
    }

    @Test func aTinyMaxRateIsCappedNotACrash() throws {
        let g = try TestGateway()
        defer { g.stop() }
        let c = try g.client()
        let p = try g.client(publisher: true)
        defer { c.close(); p.close() }
        for rate in ["1e-300", "5e-324", "0.0000001"] {
            #expect(try c.call("subscribe", "{\"channel\":\"prices:TINY\",\"maxRate\":\(rate)}").result != nil, "\(rate)")
        }
        _ = try Self.publish(p, "TINY", 1)
        _ = try Self.publish(p, "TINY", 2)
        try c.waitForEvents(1)
        c.drain(forMs: 50)
        #expect(c.takeEvents().compactMap(\.seq) == [1])   // the first at once, then a day's pause
        #expect(try c.call("unsubscribe", "{\"channel\":\"prices:TINY\"}").result?["unsubscribed"] == .bool(true))
    }

    @Test func subscribingCannotGrowTheChannelTable() throws {
        // Quiet channels (never published) are kept for the history age after their last
        // subscriber leaves (their epoch stays valid), then forgotten: 300 ms here.
        let g = try TestGateway { $0.broker.maxChannels = 20; $0.broker.historyTTL = 300 }
        defer { g.stop() }
        let c = try g.client()
        defer { c.close() }
        // Subscribe and unsubscribe pairs in batches: nothing is left behind past the retention.
        for round in 0..<3 {
            let pairs = (0..<15).map { i in
                "{\"jsonrpc\":\"2.0\",\"id\":\(i),\"method\":\"subscribe\",\"params\":{\"channel\":\"prices:R\(round)X\(i)\"}},"
                    + "{\"jsonrpc\":\"2.0\",\"id\":\(100 + i),\"method\":\"unsubscribe\",\"params\":{\"channel\":\"prices:R\(round)X\(i)\"}}"
            }
            try c.sendText("[" + pairs.joined(separator: ",") + "]")
            let answers = try #require(try c.nextAnswer().value.arrayValue)
            #expect(answers.filter { $0["result"]?["unsubscribed"] == .bool(true) }.count == 15)
            #expect(eventually(within: 3000) { g.gateway.broker.channelCount == 0 }, "round \(round)")
        }
        // Past the limit, subscribing to a new channel is refused with -32008.
        for i in 0..<20 { #expect(try c.call("subscribe", "{\"channel\":\"prices:L\(i)\"}").result != nil) }
        let refused = try c.call("subscribe", "{\"channel\":\"prices:L20\"}")
        #expect(refused.errorCode == -32008)
        #expect(refused.errorReason == "too_many_channels")
        c.close()
        #expect(eventually(within: 2000) { g.gateway.broker.channelCount == 0 })   // the close let go of them all
    }

    @Test func recoveryWithMaxRateReplaysEverything() throws {
        let g = try TestGateway()
        defer { g.stop() }
        let c = try g.client()
        let p = try g.client(publisher: true)
        defer { c.close(); p.close() }
        let epoch = try #require(try Self.publish(p, "RR", 1).result?["epoch"]?.stringValue)
        for n in 2...10 { _ = try Self.publish(p, "RR", n) }
        let r = try c.call("subscribe", "{\"channel\":\"prices:RR\",\"since\":{\"epoch\":\"\(epoch)\",\"seq\":3},\"maxRate\":1}")
        #expect(r.result?["recovered"] == .bool(true))
        try c.waitForEvents(7)
        #expect(c.takeEvents().compactMap(\.seq) == Array(4...10))
    }

    @Test func subscribeUnsubscribeSubscribeInOneBatchUsesTheLastRequest() throws {
        let g = try TestGateway()
        defer { g.stop() }
        let c = try g.client()
        let p = try g.client(publisher: true)
        defer { c.close(); p.close() }
        let epoch = try #require(try Self.publish(p, "BB", 1).result?["epoch"]?.stringValue)
        for n in 2...7 { _ = try Self.publish(p, "BB", n) }
        try c.sendText("""
            [{"jsonrpc":"2.0","id":1,"method":"subscribe","params":{"channel":"prices:BB"}},
             {"jsonrpc":"2.0","id":2,"method":"unsubscribe","params":{"channel":"prices:BB"}},
             {"jsonrpc":"2.0","id":3,"method":"subscribe","params":{"channel":"prices:BB","since":{"epoch":"\(epoch)","seq":3}}}]
            """)
        let answers = try #require(try c.nextAnswer().value.arrayValue)
        #expect(answers.first { $0["id"] == .number(JSONNumber(3)) }?["result"]?["recovered"] == .bool(true))
        try c.waitForEvents(4)
        _ = try Self.publish(p, "BB", 8)
        try c.waitForEvents(5)
        c.drain(forMs: 30)
        #expect(c.takeEvents().compactMap(\.seq) == [4, 5, 6, 7, 8])
    }

    @Test func liveEventsDuringADeferredBatchEntryAreHeldNotLost() throws {
        let g = try TestGateway(modules: GatewayAsyncMethodTests.slowModule)
        defer { g.stop() }
        let c = try g.client()
        let p = try g.client(publisher: true)
        defer { c.close(); p.close() }
        _ = try Self.publish(p, "HELD", 1)
        try c.sendText("""
            [{"jsonrpc":"2.0","id":1,"method":"subscribe","params":{"channel":"prices:HELD"}},
             {"jsonrpc":"2.0","id":2,"method":"test.slow","params":{"ms":600}}]
            """)
        // Publish only once the subscription is on its hub (before, the events would simply
        // precede it); the batch's answer waits for the slow entry meanwhile.
        let held = try #require(ChannelName("prices:HELD"))
        #expect(eventually(within: 5000) { g.gateway.broker.subscriberCount(held) == 1 })
        for n in 2...4 { _ = try Self.publish(p, "HELD", n) }   // while the batch waits
        // The answer first, then the three held events, in order.
        let first = try c.tcp.readFrame(timeoutMs: 3000)
        #expect(try JSONParser().parse(first.payload).arrayValue?.count == 2)
        try c.waitForEvents(3)
        c.drain(forMs: 30)
        #expect(c.takeEvents().compactMap(\.seq) == [2, 3, 4])
    }

    @Test func queryCredentialsAreReadStrictly() throws {
        let g = try TestGateway()
        defer { g.stop() }
        func upgrade(_ target: String, _ extra: [String] = []) throws -> Int {
            let t = try TCPClient(port: g.port)
            defer { t.close() }
            return try t.exchange(rawRequest(target, upgradeHeaders(extra: extra))).status
        }
        #expect(try upgrade("/ws?access_token=%ZZ") == 401)
        #expect(try upgrade("/ws?access%5Ftoken=\(testPublisherKey)&access_token=other") == 400)
        #expect(try upgrade("/ws?access_token=\(testPublisherKey)&access_token=\(testPublisherKey)") == 400)
        #expect(try upgrade("/ws?access%5Ftoken=\(testPublisherKey)") == 101)
        // HTTP publish takes the header only: a key in a URL would end up in access logs.
        let body = "{\"channel\":\"prices:Q\",\"data\":{\"symbol\":\"Q\",\"price\":\"1\",\"ts\":1}}"
        let t = try TCPClient(port: g.port)
        defer { t.close() }
        let r = try t.exchange(rawRequest("POST", "/api/v1/publish?access_token=\(testPublisherKey)",
                                          ["Host: x", "Content-Length: \(body.utf8.count)"]) + Array(body.utf8))
        #expect(r.status == 401)
    }

    @Test func abuseClosesOnceAndStopsTheBatch() throws {
        let g = try TestGateway { $0.abuseLimit = 100 }
        defer { g.stop() }
        let c = try g.client()
        defer { c.close() }
        let entry = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"unsubscribe\",\"params\":{\"channel\":\"prices:X\"}}"
        try c.sendText("[" + Array(repeating: entry, count: 5000).joined(separator: ",") + "]")
        #expect(try c.awaitCloseFrame(timeoutMs: 3000).closeCode == 4029)
        #expect(c.answers.isEmpty)   // the batch was cut short: no answer array
    }

    @Test func httpBatchOverTheRateTakesNoTokens() throws {
        let g = try TestGateway { $0.publisherRequestRate = 1; $0.publisherRequestBurst = 3 }
        defer { g.stop() }
        let item = "{\"channel\":\"prices:R\",\"data\":{\"symbol\":\"R\",\"price\":\"1\",\"ts\":1}}"
        #expect(try g.httpPublish("[\(item),\(item),\(item),\(item)]").status == 429)   // 4 > 3: refused whole
        #expect(try g.httpPublish("[\(item),\(item),\(item)]").status == 200)           // the 3 are still there
    }
}

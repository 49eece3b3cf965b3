import Gateway
import JSON
import Testing

/// One suite, two channel logs (the issue's "one test suite that runs against both"): with
/// Redis, `a` and `b` are two replicas on one redis-server; in-process they are one gateway.
/// Delivery, order, recovery, snapshot, latest values, idempotency and limits must not tell
/// the two apart.
@Suite("Broker: in-process and Redis")
struct BrokerSuiteTests {
    @Test(arguments: BrokerKind.allCases)
    func everyEventOnceInOrderWithThePublishedPositionsOnEveryReplica(_ kind: BrokerKind) throws {
        let r = try Replicas(kind)
        defer { r.stop() }
        let subs = try (0..<6).map { i in try (i % 2 == 0 ? r.a : r.b).client() }
        defer { for s in subs { s.close() } }
        var epochs = Set<String>()
        for s in subs {
            let answer = try s.call("subscribe", #"{"channel":"prices:ORD"}"#)
            epochs.insert(try #require(answer.result?["epoch"]?.stringValue))
            #expect(answer.result?["seq"] == .number(JSONNumber(0)))
        }
        #expect(epochs.count == 1)
        let pubA = try r.a.client(publisher: true), pubB = try r.b.client(publisher: true)
        defer { pubA.close(); pubB.close() }
        var published: [Int64: String] = [:]
        for i in 0..<60 {
            let p = i % 2 == 0 ? pubA : pubB
            let answer = try p.publish("prices:ORD", priceJSON("ORD", "\(100 + i)"))
            let seq = try #require(answer.result?["seq"]?.numberValue?.int64)
            #expect(answer.result?["epoch"]?.stringValue == epochs.first)
            published[seq] = "\(100 + i)"
        }
        #expect(published.keys.sorted() == Array(1...60))
        for s in subs {
            try s.waitForEvents(60)
            let events = s.takeEvents()
            #expect(events.map(\.seq) == (1...60).map { Int64($0) })
            #expect(events.allSatisfy { $0.params?["epoch"]?.stringValue == epochs.first })
            #expect(events.allSatisfy { published[$0.seq ?? 0] == $0.params?["data"]?["price"]?.stringValue })
            s.drain(forMs: 100)
            #expect(s.events.isEmpty)   // nothing twice
        }
    }

    @Test(arguments: BrokerKind.allCases)
    func sinceRecoversOnTheOtherReplica(_ kind: BrokerKind) throws {
        let r = try Replicas(kind)
        defer { r.stop() }
        let pub = try r.a.client(publisher: true)
        defer { pub.close() }
        var last: Incoming?
        for i in 0..<5 { last = try pub.publish("prices:REC", priceJSON("REC", "\(i + 1)")) }
        let epoch = try #require(last?.result?["epoch"]?.stringValue)
        // A client that saw seq 2 on `a` comes back on `b`.
        let sub = try r.b.client()
        defer { sub.close() }
        let answer = try sub.call("subscribe", "{\"channel\":\"prices:REC\",\"since\":{\"epoch\":\"\(epoch)\",\"seq\":2}}")
        #expect(answer.result?["recovered"] == .bool(true))
        #expect(answer.result?["seq"] == .number(JSONNumber(5)))
        try sub.waitForEvents(3)
        #expect(sub.takeEvents().map(\.seq) == [3, 4, 5])
        _ = try pub.publish("prices:REC", priceJSON("REC", "6"))
        try sub.waitForEvents(1)
        #expect(sub.takeEvents().map(\.seq) == [6])
        // An unknown epoch, or a seq ahead of the channel: not recovered.
        let other = try r.b.client()
        defer { other.close() }
        let stale = try other.call("subscribe", #"{"channel":"prices:REC","since":{"epoch":"0000000000000000","seq":1}}"#)
        #expect(stale.result?["recovered"] == .bool(false))
        let ahead = try other.call("subscribe", "{\"channel\":\"prices:REC2\",\"since\":{\"epoch\":\"\(epoch)\",\"seq\":99}}")
        #expect(ahead.result?["recovered"] == .bool(false))
    }

    @Test(arguments: BrokerKind.allCases)
    func historyBoundsWhatCanBeRecovered(_ kind: BrokerKind) throws {
        let r = try Replicas(kind) { $0.broker.historySize = 5 }
        defer { r.stop() }
        let pub = try r.a.client(publisher: true)
        defer { pub.close() }
        var epoch = ""
        for i in 0..<12 { epoch = try pub.publish("prices:HIS", priceJSON("HIS", "\(i + 1)")).result?["epoch"]?.stringValue ?? "" }
        let sub = try r.b.client()
        defer { sub.close() }
        let old = try sub.call("subscribe", "{\"channel\":\"prices:HIS\",\"since\":{\"epoch\":\"\(epoch)\",\"seq\":3}}")
        #expect(old.result?["recovered"] == .bool(false))
        _ = try sub.call("unsubscribe", #"{"channel":"prices:HIS"}"#)
        let recent = try sub.call("subscribe", "{\"channel\":\"prices:HIS\",\"since\":{\"epoch\":\"\(epoch)\",\"seq\":7}}")
        #expect(recent.result?["recovered"] == .bool(true))
        try sub.waitForEvents(5)
        #expect(sub.takeEvents().map(\.seq) == [8, 9, 10, 11, 12])
    }

    @Test(arguments: BrokerKind.allCases)
    func snapshotAndLatestOnTheOtherReplica(_ kind: BrokerKind) throws {
        let r = try Replicas(kind)
        defer { r.stop() }
        let pub = try r.a.client(publisher: true)
        defer { pub.close() }
        _ = try pub.publish("prices:SNP", priceJSON("SNP", "1.5"))
        _ = try pub.publish("prices:SNP", priceJSON("SNP", "2.5"))
        let sub = try r.b.client()
        defer { sub.close() }
        let answer = try sub.call("subscribe", #"{"channel":"prices:SNP","snapshot":true}"#)
        #expect(answer.result?["seq"] == .number(JSONNumber(2)))
        try sub.waitForEvents(1)
        #expect(sub.takeEvents().first?.params?["data"]?["price"] == .string("2.5"))
        let latest = try sub.call("prices.latest", #"{"symbols":["SNP","NONE"]}"#)
        #expect(latest.result?["prices"]?["SNP"]?["seq"] == .number(JSONNumber(2)))
        #expect(latest.result?["prices"]?["SNP"]?["data"]?["price"] == .string("2.5"))
        #expect(latest.result?["prices"]?["NONE"] == .null)
        // A second subscriber on the same replica (the channel is live there now).
        let second = try r.b.client()
        defer { second.close() }
        let again = try second.call("subscribe", #"{"channel":"prices:SNP","snapshot":true}"#)
        #expect(again.result?["seq"] == .number(JSONNumber(2)))
        try second.waitForEvents(1)
        #expect(second.takeEvents().first?.seq == 2)
    }

    @Test(arguments: BrokerKind.allCases)
    func anIdempotentRetryOnTheOtherReplicaPublishesNothing(_ kind: BrokerKind) throws {
        let r = try Replicas(kind)
        defer { r.stop() }
        let sub = try r.a.client()
        defer { sub.close() }
        _ = try sub.call("subscribe", #"{"channel":"prices:IDE"}"#)
        let pubA = try r.a.client(publisher: true), pubB = try r.b.client(publisher: true)
        defer { pubA.close(); pubB.close() }
        let first = try pubA.publish("prices:IDE", priceJSON("IDE", "1"), key: "order-77")
        let retry = try pubB.publish("prices:IDE", priceJSON("IDE", "999"), key: "order-77")
        #expect(retry.result == first.result)
        // Over HTTP too, on either replica.
        let http = try r.b.httpPublish(#"[{"channel":"prices:IDE","data":{"symbol":"IDE","price":"5","ts":1},"idempotencyKey":"order-77"},"#
                                       + #"{"channel":"prices:IDE","data":{"symbol":"IDE","price":"6","ts":1},"idempotencyKey":"order-78"}]"#)
        #expect(http.status == 200)
        let results = try JSONParser().parse(http.body)["results"]?.arrayValue ?? []
        #expect(results.count == 2)
        #expect(results.first?["seq"] == first.result?["seq"])
        #expect(results.last?["seq"] == .number(JSONNumber(2)))
        try sub.waitForEvents(2)
        sub.drain(forMs: 150)
        let events = sub.takeEvents()
        #expect(events.map(\.seq) == [1, 2])
        #expect(events.map { $0.params?["data"]?["price"]?.stringValue } == ["1", "6"])
        // A bad key is refused, on the socket and over HTTP.
        let bad = try pubA.publish("prices:IDE", priceJSON("IDE", "1"), key: "has space")
        #expect(bad.errorCode == -32602)
        let badHTTP = try r.a.httpPublish(#"{"channel":"prices:IDE","data":{"symbol":"IDE","price":"5","ts":1},"idempotencyKey":""}"#)
        #expect(badHTTP.status == 400)
    }

    @Test(arguments: BrokerKind.allCases)
    func limitsAreTheSame(_ kind: BrokerKind) throws {
        let r = try Replicas(kind) { $0.maxSubscriptions = 3 }
        defer { r.stop() }
        let c = try r.b.client()
        defer { c.close() }
        for i in 0..<3 { #expect(try c.call("subscribe", "{\"channel\":\"prices:L\(i)\"}").result != nil) }
        #expect(try c.call("subscribe", #"{"channel":"prices:L9"}"#).errorCode == -32008)
        // Subscribing twice is idempotent; unsubscribing what is not held answers false.
        #expect(try c.call("subscribe", #"{"channel":"prices:L0"}"#).result?["seq"] == .number(JSONNumber(0)))
        #expect(try c.call("unsubscribe", #"{"channel":"prices:L9"}"#).result?["unsubscribed"] == .bool(false))
        #expect(try c.call("unsubscribe", #"{"channel":"prices:L0"}"#).result?["unsubscribed"] == .bool(true))
    }
}

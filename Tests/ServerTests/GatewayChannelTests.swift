import Gateway
import JSON
import Synchronization
import Testing
import WebSocketProtocol

/// Subscribing, publishing, recovery and snapshots over real sockets on two event loops.
@Suite("Gateway channels")
struct GatewayChannelTests {
    static func priceData(_ symbol: String, _ price: String, extra: String = "") -> String {
        "{\"symbol\":\"\(symbol)\",\"price\":\"\(price)\",\"ts\":1764377000000\(extra)}"
    }

    static func publish(_ p: RPCClient, _ channel: String, _ symbol: String, _ price: String, extra: String = "") throws -> Incoming {
        try p.call("publish", "{\"channel\":\"\(channel)\",\"data\":\(priceData(symbol, price, extra: extra))}")
    }

    @Test func subscribePublishDeliversTheEventExactlyAsSpecified() throws {
        let g = try TestGateway()
        defer { g.stop() }
        let sub = try g.client()
        let pub = try g.client(publisher: true)
        defer { sub.close(); pub.close() }

        let answer = try sub.call("subscribe", "{\"channel\":\"prices:AAPL\"}")
        let epoch = try #require(answer.result?["epoch"]?.stringValue)
        #expect(epoch.utf8.count == 16)
        #expect(answer.result?["channel"] == .string("prices:AAPL"))
        #expect(answer.result?["seq"] == .number(JSONNumber(0)))
        #expect(answer.result?["recovered"] == nil)   // only with since

        let published = try Self.publish(pub, "prices:AAPL", "AAPL", "187.25", extra: ",\"venue\":{\"mic\":\"XNAS\",\"lot\":1.50e2}")
        #expect(published.result?["seq"] == .number(JSONNumber(1)))
        #expect(published.result?["epoch"] == .string(epoch))

        try sub.waitForEvents(1)
        let event = sub.takeEvents()[0]
        // Unknown fields pass through with their exact JSON text (1.50e2 is not rewritten).
        let expected = "{\"jsonrpc\":\"2.0\",\"method\":\"event\",\"params\":{\"channel\":\"prices:AAPL\",\"epoch\":\"\(epoch)\",\"seq\":1,"
            + "\"data\":{\"symbol\":\"AAPL\",\"price\":\"187.25\",\"ts\":1764377000000,\"venue\":{\"mic\":\"XNAS\",\"lot\":1.50e2}}}}"
        #expect(String(decoding: event.raw, as: UTF8.self) == expected)
    }

    @Test func manySubscribersOnBothLoopsGetEveryEventInOrderOnce() throws {
        let g = try TestGateway()
        defer { g.stop() }
        let subscribers = try (0..<40).map { _ in try g.client() }
        defer { for s in subscribers { s.close() } }
        for s in subscribers { _ = try s.call("subscribe", "{\"channel\":\"prices:MSFT\"}") }
        let publishers = try (0..<2).map { _ in try g.client(publisher: true) }
        defer { for p in publishers { p.close() } }
        // Two publishers on (likely) different loops, interleaved, 300 events in all.
        for i in 0..<150 {
            for (k, p) in publishers.enumerated() {
                try p.send("publish", "{\"channel\":\"prices:MSFT\",\"data\":\(Self.priceData("MSFT", "\(400 + i).\(k)"))}")
            }
        }
        for p in publishers { for _ in 0..<150 { _ = try p.nextAnswer() } }
        for s in subscribers {
            try s.waitForEvents(300)
            let seqs = s.takeEvents().compactMap(\.seq)
            #expect(seqs == Array(1...300))
            s.drain(forMs: 20)
            #expect(s.events.isEmpty)
        }
    }

    @Test func recoveryAfterADisconnectDeliversExactlyTheMissedEvents() throws {
        let g = try TestGateway()
        defer { g.stop() }
        let pub = try g.client(publisher: true)
        defer { pub.close() }
        let first = try g.client()
        let answer = try first.call("subscribe", "{\"channel\":\"prices:NVDA\"}")
        let epoch = try #require(answer.result?["epoch"]?.stringValue)
        for i in 1...5 { _ = try Self.publish(pub, "prices:NVDA", "NVDA", "\(i)") }
        try first.waitForEvents(5)
        let lastSeen = try #require(first.takeEvents().last?.seq)
        first.close()

        for i in 6...12 { _ = try Self.publish(pub, "prices:NVDA", "NVDA", "\(i)") }
        let again = try g.client()
        defer { again.close() }
        let recovered = try again.call("subscribe", "{\"channel\":\"prices:NVDA\",\"since\":{\"epoch\":\"\(epoch)\",\"seq\":\(lastSeen)},\"snapshot\":true}")
        #expect(recovered.result?["recovered"] == .bool(true))
        #expect(recovered.result?["seq"] == .number(JSONNumber(12)))
        _ = try Self.publish(pub, "prices:NVDA", "NVDA", "13")
        try again.waitForEvents(8)
        again.drain(forMs: 30)
        // 6...12 replayed, then 13 live; no snapshot duplicate after a successful replay.
        #expect(again.takeEvents().compactMap(\.seq) == Array(6...13))
    }

    @Test func recoveryWhilePublishingContinuesHasNoGapAndNoDuplicate() throws {
        let g = try TestGateway()
        defer { g.stop() }
        let pub = try g.client(publisher: true)
        defer { pub.close() }
        let first = try g.client()
        let epoch = try #require(try first.call("subscribe", "{\"channel\":\"prices:TSLA\"}").result?["epoch"]?.stringValue)
        // A second publisher keeps publishing from another thread the whole time.
        let stop = StopFlag()
        let background = BackgroundThread {
            guard let p = try? g.client(publisher: true) else { return }
            var n = 0
            while !stop.isSet && n < 3000 {
                _ = try? p.send("publish", "{\"channel\":\"prices:TSLA\",\"data\":\(Self.priceData("TSLA", "\(n + 1)"))}")
                n += 1
                if n % 50 == 0 { _ = try? p.answer(id: n, timeoutMs: 2000) }
            }
            p.drain(forMs: 50)
            p.close()
        }
        try first.waitForEvents(40)
        let seen = first.takeEvents().compactMap(\.seq)
        first.close()
        let last = try #require(seen.last)
        let again = try g.client()
        defer { again.close() }
        let r = try again.call("subscribe", "{\"channel\":\"prices:TSLA\",\"since\":{\"epoch\":\"\(epoch)\",\"seq\":\(last)}}")
        #expect(r.result?["recovered"] == .bool(true))
        try again.waitForEvents(100)
        stop.set()
        background.join()
        again.drain(forMs: 100)
        let seqs = again.takeEvents().compactMap(\.seq)
        #expect(seqs.first == last + 1)
        #expect(seqs == Array(seqs.indices.map { last + 1 + Int64($0) }))
    }

    @Test func recoveryIsRefusedForAnotherEpochOrLostHistory() throws {
        let g = try TestGateway { $0.broker.historySize = 3 }
        defer { g.stop() }
        let pub = try g.client(publisher: true)
        let c = try g.client()
        defer { pub.close(); c.close() }
        for i in 1...10 { _ = try Self.publish(pub, "prices:AMD", "AMD", "\(i)") }
        let epoch = try #require(try c.call("prices.latest", "{\"symbols\":[\"AMD\"]}").result?["prices"]?["AMD"]?["epoch"]?.stringValue)

        let wrongEpoch = try c.call("subscribe", "{\"channel\":\"prices:AMD\",\"since\":{\"epoch\":\"0000000000000000\",\"seq\":9}}")
        #expect(wrongEpoch.result?["recovered"] == .bool(false))
        #expect(try c.call("unsubscribe", "{\"channel\":\"prices:AMD\"}").result?["unsubscribed"] == .bool(true))
        // History holds 8...10: since 7 is recoverable, since 6 is not.
        let ok = try c.call("subscribe", "{\"channel\":\"prices:AMD\",\"since\":{\"epoch\":\"\(epoch)\",\"seq\":7}}")
        #expect(ok.result?["recovered"] == .bool(true))
        try c.waitForEvents(3)
        #expect(c.takeEvents().compactMap(\.seq) == [8, 9, 10])
        _ = try c.call("unsubscribe", "{\"channel\":\"prices:AMD\"}")
        let tooOld = try c.call("subscribe", "{\"channel\":\"prices:AMD\",\"since\":{\"epoch\":\"\(epoch)\",\"seq\":6},\"snapshot\":true}")
        #expect(tooOld.result?["recovered"] == .bool(false))
        // Not recovered + snapshot: the latest event, once.
        try c.waitForEvents(1)
        c.drain(forMs: 30)
        #expect(c.takeEvents().compactMap(\.seq) == [10])
    }

    @Test func snapshotSendsTheLatestEventRightAfterTheAnswer() throws {
        let g = try TestGateway()
        defer { g.stop() }
        let pub = try g.client(publisher: true)
        let c = try g.client()
        defer { pub.close(); c.close() }
        let empty = try c.call("subscribe", "{\"channel\":\"predictions:AAPL\",\"snapshot\":true}")
        #expect(empty.result?["seq"] == .number(JSONNumber(0)))
        c.drain(forMs: 30)
        #expect(c.events.isEmpty)   // nothing published yet: no snapshot
        _ = try c.call("unsubscribe", "{\"channel\":\"predictions:AAPL\"}")
        _ = try pub.call("publish", "{\"channel\":\"predictions:AAPL\",\"data\":{\"symbol\":\"AAPL\",\"horizon\":\"PT1H\",\"predicted\":\"190.10\",\"model\":\"lstm-v3\",\"ts\":1}}")
        _ = try pub.call("publish", "{\"channel\":\"predictions:AAPL\",\"data\":{\"symbol\":\"AAPL\",\"horizon\":\"P1D\",\"predicted\":\"191.00\",\"lower\":\"185\",\"upper\":\"197.5\",\"model\":\"lstm-v3\",\"ts\":2}}")
        // The answer comes first, then the snapshot (raw order on the wire).
        try c.sendText("{\"jsonrpc\":\"2.0\",\"id\":\"s\",\"method\":\"subscribe\",\"params\":{\"channel\":\"predictions:AAPL\",\"snapshot\":true}}")
        let f1 = try c.tcp.readFrame()
        let f2 = try c.tcp.readFrame()
        let a = try JSONParser().parse(f1.payload)
        let e = try JSONParser().parse(f2.payload)
        #expect(a["id"] == .string("s"))
        #expect(a["result"]?["seq"] == .number(JSONNumber(2)))
        #expect(e["method"] == .string("event"))
        #expect(e["params"]?["seq"] == .number(JSONNumber(2)))
        #expect(e["params"]?["data"]?["horizon"] == .string("P1D"))
        let latest = try c.call("predictions.latest", "{\"symbol\":\"AAPL\"}")
        #expect(latest.result == e["params"])
        #expect(try c.call("predictions.latest", "{\"symbol\":\"MSFT\"}").result == .null)
    }

    @Test func subscribingTwiceIsIdempotentAndUnsubscribingTwiceSaysFalse() throws {
        let g = try TestGateway()
        defer { g.stop() }
        let pub = try g.client(publisher: true)
        let c = try g.client()
        defer { pub.close(); c.close() }
        _ = try c.call("subscribe", "{\"channel\":\"prices:IBM\"}")
        _ = try c.call("subscribe", "{\"channel\":\"prices:IBM\"}")
        _ = try Self.publish(pub, "prices:IBM", "IBM", "150")
        try c.waitForEvents(1)
        c.drain(forMs: 50)
        #expect(c.takeEvents().count == 1)
        #expect(try c.call("unsubscribe", "{\"channel\":\"prices:IBM\"}").result?["unsubscribed"] == .bool(true))
        #expect(try c.call("unsubscribe", "{\"channel\":\"prices:IBM\"}").result?["unsubscribed"] == .bool(false))
        _ = try Self.publish(pub, "prices:IBM", "IBM", "151")
        c.drain(forMs: 50)
        #expect(c.events.isEmpty)
    }

    @Test func pricesLatestAnswersEveryAskedSymbol() throws {
        let g = try TestGateway()
        defer { g.stop() }
        let pub = try g.client(publisher: true)
        let c = try g.client()
        defer { pub.close(); c.close() }
        _ = try Self.publish(pub, "prices:AAPL", "AAPL", "187.25")
        _ = try Self.publish(pub, "prices:AAPL", "AAPL", "187.50")
        let r = try c.call("prices.latest", "{\"symbols\":[\"AAPL\",\"GOOG\"]}")
        let aapl = try #require(r.result?["prices"]?["AAPL"])
        #expect(aapl["seq"] == .number(JSONNumber(2)))
        #expect(aapl["channel"] == .string("prices:AAPL"))
        #expect(aapl["data"]?["price"] == .string("187.50"))
        #expect(r.result?["prices"]?["GOOG"] == .null)
    }

    @Test func maxRateConflatesToTheNewestEvent() throws {
        let g = try TestGateway()
        defer { g.stop() }
        let pub = try g.client(publisher: true)
        let c = try g.client()
        defer { pub.close(); c.close() }
        _ = try c.call("subscribe", "{\"channel\":\"prices:SPY\",\"maxRate\":4}")
        for i in 1...100 { try pub.send("publish", "{\"channel\":\"prices:SPY\",\"data\":\(Self.priceData("SPY", "\(i)"))}") }
        _ = try pub.answer(id: 100)
        c.drain(forMs: 600)
        let seqs = c.takeEvents().compactMap(\.seq)
        // The first at once, then at most one per 250 ms, the newest: 1 and 100 (maybe one between).
        #expect(seqs.first == 1)
        #expect(seqs.last == 100)
        #expect(seqs.count <= 3)
        #expect(seqs == seqs.sorted())
    }
}

final class StopFlag: Sendable {
    private let flag = Synchronization.Atomic<Bool>(false)
    var isSet: Bool { flag.load(ordering: .relaxed) }
    func set() { flag.store(true, ordering: .relaxed) }
}

/// permessage-deflate subscribers: an event large enough is compressed once per loop and the
/// same compressed frame goes to each of them; small events and plain clients get plain frames.
@Suite("Gateway events with permessage-deflate")
struct GatewayDeflateEventTests {
    @Test func largeEventsAreCompressedForDeflateClientsOnly() throws {
        let g = try TestGateway(threads: 1)
        defer { g.stop() }
        let deflate = ["Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits"]
        let zipped = try (0..<3).map { _ in try g.client(headers: deflate) }
        let plain = try g.client()
        let pub = try g.client(publisher: true)
        defer { for c in zipped + [plain, pub] { c.close() } }
        for c in zipped + [plain] { _ = try c.call("subscribe", "{\"channel\":\"prices:ZIP\"}") }
        let note = String(repeating: "compressible ", count: 60)
        _ = try pub.call("publish", "{\"channel\":\"prices:ZIP\",\"data\":{\"symbol\":\"ZIP\",\"price\":\"1\",\"ts\":1,\"note\":\"\(note)\"}}")
        _ = try pub.call("publish", "{\"channel\":\"prices:ZIP\",\"data\":{\"symbol\":\"ZIP\",\"price\":\"2\",\"ts\":2}}")
        let plainBig = try plain.tcp.readFrame()
        let plainSmall = try plain.tcp.readFrame()
        #expect(plainBig.rsv == 0 && plainSmall.rsv == 0)
        var compressedFrames: [[UInt8]] = []
        for c in zipped {
            let big = try c.tcp.readFrame()
            let small = try c.tcp.readFrame()
            #expect(big.rsv == 0x40, "RSV1: compressed")
            #expect(big.payload.count < plainBig.payload.count / 2)
            #expect(try Inflater().inflate(big.payload, limit: 1 << 20) == plainBig.payload)
            #expect(small.rsv == 0 && small.payload == plainSmall.payload)   // under --deflate-min-size
            compressedFrames.append(big.wireBytes)
        }
        #expect(Set(compressedFrames).count == 1)   // one compression, the same bytes for all
    }
}

import Gateway
import JSON
import Server
import Testing

/// Every JSON-RPC error and close code of the contract that the gateway core produces, each
/// through a real socket, and proof that a bad message never disturbs another connection.
@Suite("Gateway errors")
struct GatewayErrorTests {
    static func expectError(_ m: Incoming, _ code: Int64, _ reason: String, id: JSONValue? = nil,
                            sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(m.errorCode == code, "\(m.value)", sourceLocation: sourceLocation)
        #expect(m.errorReason == reason, "\(m.value)", sourceLocation: sourceLocation)
        #expect(m.error?["message"]?.stringValue?.isEmpty == false, sourceLocation: sourceLocation)
        if let id { #expect(m.value["id"] == id, sourceLocation: sourceLocation) }
    }

    @Test func malformedMessagesGetErrorsAndTheConnectionStaysUsable() throws {
        let g = try TestGateway()
        defer { g.stop() }
        let c = try g.client()
        let bystander = try g.client()
        defer { c.close(); bystander.close() }
        _ = try bystander.call("subscribe", "{\"channel\":\"prices:AAPL\"}")

        let cases: [(String, Int64, String)] = [
            ("{not json", -32700, "parse_error"),
            ("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"subscribe\",\"id\":2}", -32700, "parse_error"),   // duplicate key
            ("[]", -32600, "empty_batch"),
            ("42", -32600, "invalid_request"),
            ("{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"subscribe\"}", -32600, "invalid_request"),
            ("{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"subscribe\"}", -32600, "invalid_request"),
            ("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":5}", -32600, "invalid_request"),
            ("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"subscribe\",\"params\":\"x\"}", -32600, "invalid_request"),
        ]
        for (text, code, reason) in cases {
            try c.sendText(text)
            let m = try c.nextAnswer()
            Self.expectError(m, code, reason)
            #expect(m.value["id"] == .null || code == -32600 && text.contains("\"id\":1"), "\(text)")
        }
        // Still usable afterwards, and the other client noticed nothing.
        #expect(try c.call("unsubscribe", "{\"channel\":\"prices:AAPL\"}").result?["unsubscribed"] == .bool(false))
        #expect(try bystander.call("unsubscribe", "{\"channel\":\"prices:AAPL\"}").result?["unsubscribed"] == .bool(true))
    }

    @Test func idsAreEchoedExactly() throws {
        let g = try TestGateway()
        defer { g.stop() }
        let c = try g.client()
        defer { c.close() }
        for id in ["\"abc\"", "null", "1.5e3", "-7", "\"\"", "\"\\u00e9\\n\""] {
            try c.sendText("{\"jsonrpc\":\"2.0\",\"id\":\(id),\"method\":\"unsubscribe\",\"params\":{\"channel\":\"prices:X\"}}")
            let m = try c.nextAnswer()
            #expect(m.value["id"] == (try JSONParser().parse(Array(id.utf8))), "\(id)")
            #expect(m.result?["unsubscribed"] == .bool(false))
        }
        // Method names are case-sensitive.
        Self.expectError(try c.call("Subscribe", "{\"channel\":\"prices:X\"}"), -32601, "method_not_found")
        Self.expectError(try c.call("portfolio.frobnicate", "{\"name\":\"x\"}"), -32601, "method_not_found")
    }

    @Test func paramsAreChecked() throws {
        let g = try TestGateway()
        defer { g.stop() }
        let c = try g.client()
        let p = try g.client(publisher: true)
        defer { c.close(); p.close() }
        Self.expectError(try c.call("subscribe"), -32602, "missing_param")
        Self.expectError(try c.call("subscribe", "{}"), -32602, "missing_param")
        Self.expectError(try c.call("subscribe", "[\"prices:AAPL\"]"), -32602, "invalid_param")
        Self.expectError(try c.call("subscribe", "{\"channel\":5}"), -32602, "invalid_param")
        Self.expectError(try c.call("subscribe", "{\"channel\":\"prices:AAPL\",\"snapshop\":true}"), -32602, "unknown_param")
        Self.expectError(try c.call("subscribe", "{\"channel\":\"orders:AAPL\"}"), -32602, "invalid_channel")
        Self.expectError(try c.call("subscribe", "{\"channel\":\"prices:aapl\"}"), -32602, "invalid_channel")
        Self.expectError(try c.call("subscribe", "{\"channel\":\"prices:AAPL\",\"maxRate\":0}"), -32602, "invalid_param")
        Self.expectError(try c.call("subscribe", "{\"channel\":\"prices:AAPL\",\"maxRate\":1001}"), -32602, "invalid_param")
        Self.expectError(try c.call("subscribe", "{\"channel\":\"prices:AAPL\",\"since\":{\"epoch\":\"x\"}}"), -32602, "invalid_param")
        Self.expectError(try c.call("subscribe", "{\"channel\":\"prices:AAPL\",\"since\":{\"epoch\":\"x\",\"seq\":-1}}"), -32602, "invalid_param")
        Self.expectError(try c.call("prices.latest", "{\"symbols\":[]}"), -32602, "invalid_param")
        Self.expectError(try c.call("prices.latest", "{\"symbols\":[\"bad symbol\"]}"), -32602, "invalid_param")
        // Published data: the contract's types, decimal strings, symbol = channel's.
        let bad: [(String, String)] = [
            ("{\"symbol\":\"AAPL\",\"price\":187.25,\"ts\":1}", "price"),            // a JSON number is not a decimal string
            ("{\"symbol\":\"AAPL\",\"price\":\"01.5\",\"ts\":1}", "price"),
            ("{\"symbol\":\"AAPL\",\"price\":\"0\",\"ts\":1}", "price"),              // prices are > 0
            ("{\"symbol\":\"AAPL\",\"price\":\"1.\",\"ts\":1}", "price"),
            ("{\"symbol\":\"MSFT\",\"price\":\"1\",\"ts\":1}", "symbol"),
            ("{\"symbol\":\"AAPL\",\"price\":\"1\",\"ts\":\"1\"}", "ts"),
            ("{\"symbol\":\"AAPL\",\"price\":\"1\",\"ts\":1.5}", "ts"),
            ("{\"symbol\":\"AAPL\",\"price\":\"1\"}", "ts"),
            ("{\"symbol\":\"AAPL\",\"price\":\"1\",\"volume\":\"-3\",\"ts\":1}", "volume"),
            ("{\"symbol\":\"AAPL\",\"price\":\"1234567890123456789012345678901234567890\",\"ts\":1}", "price"),
        ]
        for (data, field) in bad {
            let m = try p.call("publish", "{\"channel\":\"prices:AAPL\",\"data\":\(data)}")
            Self.expectError(m, -32602, "invalid_data")
            #expect(m.error?["data"]?["field"] == .string(field), "\(data)")
        }
        let m = try p.call("publish", "{\"channel\":\"predictions:AAPL\",\"data\":{\"symbol\":\"AAPL\",\"horizon\":\"1 hour\",\"predicted\":\"1\",\"model\":\"m\",\"ts\":1}}")
        #expect(m.error?["data"]?["field"] == .string("horizon"))
    }

    @Test func rolesAndOwnership() throws {
        let g = try TestGateway()
        defer { g.stop() }
        let c = try g.client()
        let p = try g.client(publisher: true)
        defer { c.close(); p.close() }
        Self.expectError(try c.call("publish", "{\"channel\":\"prices:AAPL\",\"data\":{\"symbol\":\"AAPL\",\"price\":\"1\",\"ts\":1}}"),
                         -32003, "forbidden")
        Self.expectError(try p.call("publish", "{\"channel\":\"portfolio:p1\",\"data\":{\"type\":\"valuation\"}}"), -32003, "forbidden")
        Self.expectError(try c.call("subscribe", "{\"channel\":\"portfolio:p1\"}"), -32001, "unauthenticated")
        Self.expectError(try p.call("subscribe", "{\"channel\":\"portfolio:p1\"}"), -32003, "forbidden")
    }

    @Test func batchesAnswerTogetherAndNotificationsGetNothing() throws {
        let g = try TestGateway()
        defer { g.stop() }
        let c = try g.client()
        defer { c.close() }
        try c.sendText("""
            [{"jsonrpc":"2.0","id":1,"method":"subscribe","params":{"channel":"prices:A"}},
             {"jsonrpc":"2.0","method":"subscribe","params":{"channel":"prices:B"}},
             {"jsonrpc":"2.0","id":"x","method":"nope"},
             7,
             {"jsonrpc":"2.0","id":3,"method":"unsubscribe","params":{"channel":"prices:B"}}]
            """)
        let answer = try c.nextAnswer()
        let entries = try #require(answer.value.arrayValue)
        #expect(entries.count == 4)   // the notification gets no entry
        func entry(_ id: JSONValue) -> JSONValue? { entries.first { $0["id"] == id } }
        #expect(entry(.number(JSONNumber(1)))?["result"]?["channel"] == .string("prices:A"))
        #expect(entry(.string("x"))?["error"]?["code"] == .number(JSONNumber(-32601)))
        #expect(entry(.null)?["error"]?["code"] == .number(JSONNumber(-32600)))
        // The notification subscribed B before the unsubscribe ran.
        #expect(entry(.number(JSONNumber(3)))?["result"]?["unsubscribed"] == .bool(true))

        try c.sendText("[{\"jsonrpc\":\"2.0\",\"method\":\"unsubscribe\",\"params\":{\"channel\":\"prices:A\"}}]")
        c.drain(forMs: 100)
        #expect(c.answers.isEmpty)
        #expect(try c.call("unsubscribe", "{\"channel\":\"prices:A\"}").result?["unsubscribed"] == .bool(false))
    }

    @Test func subscriptionLimitIsEnforced() throws {
        let g = try TestGateway { $0.maxSubscriptions = 5 }
        defer { g.stop() }
        let c = try g.client()
        defer { c.close() }
        for i in 0..<5 { #expect(try c.call("subscribe", "{\"channel\":\"prices:S\(i)\"}").result != nil) }
        Self.expectError(try c.call("subscribe", "{\"channel\":\"prices:S5\"}"), -32008, "too_many_subscriptions")
        #expect(try c.call("subscribe", "{\"channel\":\"prices:S0\"}").result != nil)   // re-subscribe: no new slot
    }

    @Test func theDefaultLimitIs256Subscriptions() throws {
        let g = try TestGateway()
        defer { g.stop() }
        let c = try g.client()
        defer { c.close() }
        // One batch of 256 (under the 200 burst? no: 256 entries > burst 200), so two batches.
        for range in [0..<128, 128..<256] {
            let batch = range.map { "{\"jsonrpc\":\"2.0\",\"id\":\($0),\"method\":\"subscribe\",\"params\":{\"channel\":\"prices:S\($0)\"}}" }
            try c.sendText("[" + batch.joined(separator: ",") + "]")
            let a = try c.nextAnswer()
            #expect(a.value.arrayValue?.allSatisfy { $0["result"] != nil } == true)
            sleepMillis(700)   // refill the rate bucket
        }
        Self.expectError(try c.call("subscribe", "{\"channel\":\"prices:S256\"}"), -32008, "too_many_subscriptions")
    }

    @Test func requestRateIsLimitedThenAbuseCloses4029() throws {
        let g = try TestGateway { $0.abuseLimit = 50 }
        defer { g.stop() }
        let c = try g.client()
        let other = try g.client()
        defer { c.close(); other.close() }
        // 200 burst + what refills meanwhile are served; then -32029.
        var limited = 0
        var served = 0
        for _ in 0..<220 { try c.send("unsubscribe", "{\"channel\":\"prices:X\"}") }
        for id in 1...220 {
            let m = try c.answer(id: id)
            if m.errorCode == -32029 { limited += 1; #expect(m.errorReason == "rate_limited") } else { served += 1 }
        }
        #expect(served >= 200 && limited >= 1)
        // Keep going far past the limit: closed with 4029.
        for _ in 0..<100 { _ = try? c.send("unsubscribe", "{\"channel\":\"prices:X\"}") }
        let close = try c.awaitCloseFrame()
        #expect(close.closeCode == 4029)
        // The other client is unaffected.
        #expect(try other.call("unsubscribe", "{\"channel\":\"prices:X\"}").result != nil)
    }

    @Test func binaryFramesClose1003() throws {
        let g = try TestGateway()
        defer { g.stop() }
        let c = try g.client()
        defer { c.close() }
        try c.tcp.send(WSFrame.binary([1, 2, 3]))
        #expect(try c.awaitCloseFrame().closeCode == 1003)
    }

    @Test func silentConnectionsClose4000() throws {
        let g = try TestGateway(server: { $0.pingInterval = 300; $0.idleTimeout = 600 })
        defer { g.stop() }
        let c = try g.client()
        defer { c.close() }
        // Pings are not answered (readFrame only records them when readOne is not used).
        let start = ContinuousClock.now
        var closeCode: UInt16?
        while millis(since: start) < 3000 && closeCode == nil {
            let f = try c.tcp.readFrame(timeoutMs: 3000)
            if f.opcode == Op.close { closeCode = f.closeCode }
        }
        #expect(closeCode == 4000)
    }
}

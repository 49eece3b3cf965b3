import Gateway
import JSON
import Testing

/// /ws handshake credentials and Origin, and POST /api/v1/publish.
@Suite("Gateway handshake and HTTP publish")
struct GatewayHandshakeAndHTTPTests {
    func upgrade(_ g: TestGateway, _ extra: [String]) throws -> HTTPReply { try upgrade(g, "/ws", extra) }

    func upgrade(_ g: TestGateway, _ target: String, _ extra: [String]) throws -> HTTPReply {
        let c = try TCPClient(port: g.port)
        defer { c.close() }
        return try c.exchange(rawRequest(target, upgradeHeaders(extra: extra)))
    }

    @Test func credentialsOnTheHandshake() throws {
        let g = try TestGateway()
        defer { g.stop() }
        #expect(try upgrade(g, []).status == 101)   // anonymous
        #expect(try upgrade(g, ["Authorization: Bearer \(testPublisherKey)"]).status == 101)
        #expect(try upgrade(g, "/ws?access_token=\(testPublisherKey)", []).status == 101)
        let wrong = try upgrade(g, ["Authorization: Bearer not-a-key"])
        #expect(wrong.status == 401)
        #expect(wrong.value("WWW-Authenticate")?.hasPrefix("Bearer") == true)
        #expect(!wrong.bodyText.contains("not-a-key"))
        #expect(try upgrade(g, "/ws?access_token=wrong", []).status == 401)
        #expect(try upgrade(g, ["Authorization: Basic dXNlcjpwYXNz"]).status == 401)
        #expect(try upgrade(g, "/ws?access_token=other", ["Authorization: Bearer \(testPublisherKey)"]).status == 400)
        // The query-string key really grants the publisher role.
        let c = RPCClient(try TCPClient.webSocket(port: g.port, path: "/ws?access_token=\(testPublisherKey)"))
        defer { c.close() }
        #expect(try c.call("publish", "{\"channel\":\"prices:Q\",\"data\":{\"symbol\":\"Q\",\"price\":\"1\",\"ts\":1}}").result != nil)
    }

    @Test func originAllowlist() throws {
        let g = try TestGateway { $0.allowedOrigins = ["https://app.quantumvest.example"] }
        defer { g.stop() }
        #expect(try upgrade(g, ["Origin: https://app.quantumvest.example"]).status == 101)
        #expect(try upgrade(g, ["Origin: http://127.0.0.1"]).status == 101)   // same origin as Host
        #expect(try upgrade(g, ["Origin: https://evil.example"]).status == 403)
        let any = try TestGateway { $0.allowedOrigins = ["*"] }
        defer { any.stop() }
        #expect(try upgrade(any, ["Origin: https://evil.example"]).status == 101)
    }

    @Test func subprotocolIsEchoed() throws {
        let g = try TestGateway()
        defer { g.stop() }
        let r = try upgrade(g, ["Sec-WebSocket-Protocol: qv.v1.json"])
        #expect(r.status == 101)
        #expect(r.value("Sec-WebSocket-Protocol") == "qv.v1.json")
    }

    @Test func httpPublishSingleAndBatchReachSubscribers() throws {
        let g = try TestGateway()
        defer { g.stop() }
        let c = try g.client()
        defer { c.close() }
        _ = try c.call("subscribe", "{\"channel\":\"prices:AAPL\"}")
        let one = try g.httpPublish("{\"channel\":\"prices:AAPL\",\"data\":{\"symbol\":\"AAPL\",\"price\":\"1.5\",\"ts\":1}}")
        #expect(one.status == 200)
        #expect(one.value("Content-Type") == "application/json")
        let body = try JSONParser().parse(one.body)
        #expect(body["results"]?[0]?["seq"] == .number(JSONNumber(1)))
        #expect(body["results"]?[0]?["channel"] == .string("prices:AAPL"))
        let batch = try g.httpPublish("""
            [{"channel":"prices:AAPL","data":{"symbol":"AAPL","price":"1.6","ts":2}},
             {"channel":"predictions:AAPL","data":{"symbol":"AAPL","horizon":"PT15M","predicted":"1.7","model":"m","ts":2}},
             {"channel":"prices:AAPL","data":{"symbol":"AAPL","price":"1.7","ts":3}}]
            """)
        #expect(batch.status == 200)
        let results = try #require(try JSONParser().parse(batch.body)["results"]?.arrayValue)
        #expect(results.map { $0["seq"] } == [.number(JSONNumber(2)), .number(JSONNumber(1)), .number(JSONNumber(3))])
        try c.waitForEvents(3)
        #expect(c.takeEvents().compactMap(\.seq) == [1, 2, 3])
    }

    @Test func httpPublishErrors() throws {
        let g = try TestGateway()
        defer { g.stop() }
        func check(_ r: HTTPReply, _ status: Int, _ reason: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
            #expect(r.status == status, "\(r)", sourceLocation: sourceLocation)
            let e = try JSONParser().parse(r.body)["error"]
            #expect(e?["code"] == .number(JSONNumber(status)), sourceLocation: sourceLocation)
            #expect(e?["reason"] == .string(reason), "\(r)", sourceLocation: sourceLocation)
        }
        let good = "{\"channel\":\"prices:AAPL\",\"data\":{\"symbol\":\"AAPL\",\"price\":\"1\",\"ts\":1}}"
        try check(try g.httpPublish(good, key: nil), 401, "unauthenticated")
        try check(try g.httpPublish(good, key: "wrong-key-wrong-key"), 401, "unauthenticated")
        try check(try g.httpPublish("{nope"), 400, "parse_error")
        try check(try g.httpPublish("[]"), 400, "invalid_request")
        try check(try g.httpPublish("{\"channel\":\"portfolio:p1\",\"data\":{\"type\":\"x\"}}"), 403, "forbidden")
        try check(try g.httpPublish("{\"channel\":\"prices:AAPL\",\"data\":{\"symbol\":\"AAPL\",\"price\":1,\"ts\":1}}"), 400, "invalid_data")
        // One bad item refuses the whole batch, and names it; nothing is published.
        let r = try g.httpPublish("[\(good),{\"channel\":\"nope:X\",\"data\":{}}]")
        try check(r, 400, "invalid_channel")
        #expect(try JSONParser().parse(r.body)["error"]?["index"] == .number(JSONNumber(1)))
        let c = try g.client()
        defer { c.close() }
        #expect(try c.call("prices.latest", "{\"symbols\":[\"AAPL\"]}").result?["prices"]?["AAPL"] == .null)
        // Over 1 MiB: 413 from the HTTP layer.
        let big = try TCPClient(port: g.port)
        defer { big.close() }
        let reply = try big.exchange(rawRequest("POST", "/api/v1/publish", ["Host: x", "Content-Length: 2000000",
                                                                           "Authorization: Bearer \(testPublisherKey)"]))
        #expect(reply.status == 413)
    }

    @Test func httpPublishIsRateLimited() throws {
        let g = try TestGateway { $0.publisherRequestRate = 1; $0.publisherRequestBurst = 3 }
        defer { g.stop() }
        let item = "{\"channel\":\"prices:R\",\"data\":{\"symbol\":\"R\",\"price\":\"1\",\"ts\":1}}"
        #expect(try g.httpPublish("[\(item),\(item),\(item)]").status == 200)
        let limited = try g.httpPublish(item)
        #expect(limited.status == 429)
        #expect(try JSONParser().parse(limited.body)["error"]?["reason"] == .string("rate_limited"))
    }
}

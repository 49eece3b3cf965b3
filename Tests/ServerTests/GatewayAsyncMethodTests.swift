import Gateway
import JSON
import Testing

/// A method whose work happens off the loop (as database handlers will): the loop keeps serving
/// meanwhile, and the answer arrives when the work is done, alone or inside a batch.
@Suite("Gateway deferred answers")
struct GatewayAsyncMethodTests {
    static func slowModule(_ modules: inout GatewayModules) {
        modules.methods.register(MethodSpec("test.slow", params: [.required("ms", .integer)]) { call in
            let ms = Int(call.params["ms"]?.numberValue?.int64 ?? 0)
            let answer = call.deferred()
            // A plain thread stands in for a database connection's worker.
            _ = BackgroundThread {
                sleepMillis(ms)
                answer.succeed(.object(JSONObject([("slept", .number(JSONNumber(ms)))])))
            }
        })
    }

    static func lostModule(_ modules: inout GatewayModules) {
        slowModule(&modules)
        // A handler that takes a deferred answer and drops it (a lost callback).
        modules.methods.register(MethodSpec("test.lost") { call in
            _ = call.deferred()
        })
    }

    @Test func aDroppedDeferredAnswerBecomesAnInternalError() throws {
        let g = try TestGateway(threads: 1, modules: Self.lostModule)
        defer { g.stop() }
        let c = try g.client()
        defer { c.close() }
        let m = try c.call("test.lost")
        #expect(m.errorCode == -32603)
        #expect(m.errorReason == "internal")
        // In a batch, the other entries still come back.
        try c.sendText("[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"test.lost\"},{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"test.slow\",\"params\":{\"ms\":10}}]")
        let batch = try #require(try c.nextAnswer().value.arrayValue)
        #expect(batch.count == 2)
        #expect(batch.contains { $0["error"]?["code"] == .number(JSONNumber(-32603)) })
    }

    @Test func otherRequestsAreServedWhileADeferredOneRuns() throws {
        let g = try TestGateway(threads: 1, modules: Self.slowModule)
        defer { g.stop() }
        let c = try g.client()
        defer { c.close() }
        let slow = try c.send("test.slow", "{\"ms\":400}")
        let start = ContinuousClock.now
        let quick = try c.call("unsubscribe", "{\"channel\":\"prices:X\"}")
        #expect(quick.result?["unsubscribed"] == .bool(false))
        #expect(millis(since: start) < 300)   // not queued behind the slow call
        let answer = try c.answer(id: slow)
        #expect(answer.result?["slept"] == .number(JSONNumber(400)))
    }

    @Test func aBatchAnswersOnceItsSlowestEntryIsDone() throws {
        let g = try TestGateway(threads: 1, modules: Self.slowModule)
        defer { g.stop() }
        let c = try g.client()
        defer { c.close() }
        try c.sendText("""
            [{"jsonrpc":"2.0","id":1,"method":"test.slow","params":{"ms":200}},
             {"jsonrpc":"2.0","id":2,"method":"subscribe","params":{"channel":"prices:B"}}]
            """)
        let start = ContinuousClock.now
        let answer = try c.nextAnswer()
        #expect(millis(since: start) >= 150)
        #expect(answer.value.arrayValue?.count == 2)
    }
}

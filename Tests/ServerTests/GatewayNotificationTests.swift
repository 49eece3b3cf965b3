import Gateway
import JSON
import Testing

/// Notifications are never answered, whatever is wrong with them (protocol/gateway.md §2.4).
@Suite("Gateway notifications")
struct GatewayNotificationTests {
    @Test(arguments: [
        #"{"jsonrpc":"2.0","method":"subscribe","params":["prices:AAPL"]}"#,   // positional params
        #"{"jsonrpc":"2.0","method":"no.such.method","params":[1,2]}"#,
        #"{"jsonrpc":"2.0","method":"subscribe","params":{"channel":"prices:aapl"}}"#,
        #"{"jsonrpc":"2.0","method":"subscribe","params":{"nope":1}}"#,
    ])
    func aBadNotificationIsNotAnswered(_ notification: String) throws {
        let g = try TestGateway(threads: 1)
        defer { g.stop() }
        let c = try g.client()
        defer { c.close() }
        try c.sendText(notification)
        let id = try c.send("unsubscribe", "{\"channel\":\"prices:X\"}")
        // The first answer on the socket must be the request's: nothing came for the notification.
        let first = try c.nextAnswer()
        #expect(first.value["id"] == .number(JSONNumber(id)), "\(String(decoding: first.raw, as: UTF8.self))")
        #expect(first.result?["unsubscribed"] == .bool(false))
    }

    @Test func aRequestWithPositionalParamsIsStillRefused() throws {
        let g = try TestGateway(threads: 1)
        defer { g.stop() }
        let c = try g.client()
        defer { c.close() }
        let m = try c.call("subscribe", "[\"prices:AAPL\"]")
        #expect(m.errorCode == -32602)
        #expect(m.error?["data"]?["param"] == .string("params"))
        // The method name is checked first (§2.5 order): unknown beats positional.
        #expect(try c.call("no.such.method", "[1]").errorCode == -32601)
    }
}

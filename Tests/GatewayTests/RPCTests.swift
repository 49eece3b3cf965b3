@testable import Gateway
import JSON
import Testing

@Suite("JSON-RPC envelope and params")
struct RPCTests {
    func decode(_ text: String) throws -> Result<RPCRequest, RPCRequest.Failure> {
        RPCRequest.decode(try JSONParser().parse(Array(text.utf8)))
    }

    @Test func requestsAndNotifications() throws {
        let r = try decode("{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"subscribe\",\"params\":{\"channel\":\"prices:A\"}}").get()
        #expect(r.id == .number(JSONNumber(7)))
        #expect(r.method == "subscribe")
        #expect(r.params?["channel"] == .string("prices:A"))
        let n = try decode("{\"jsonrpc\":\"2.0\",\"method\":\"x\"}").get()
        #expect(n.id == nil)
        #expect(n.params == nil)
        let nullID = try decode("{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"x\"}").get()
        #expect(nullID.id == .null)   // "id":null is a request
    }

    @Test(arguments: [
        ("[]", -32600), ("{\"method\":\"x\"}", -32600), ("{\"jsonrpc\":\"2.0\"}", -32600), ("{\"jsonrpc\":2,\"method\":\"x\"}", -32600),
        ("{\"jsonrpc\":\"2.0\",\"id\":[1],\"method\":\"x\"}", -32600), ("{\"jsonrpc\":\"2.0\",\"id\":true,\"method\":\"x\"}", -32600),
        ("{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"params\":1}", -32600),
    ])
    func invalid(_ text: String, _ code: Int) throws {
        guard case .failure(let f) = try decode(text) else {
            Issue.record("accepted \(text)")
            return
        }
        #expect(f.error.code == code)
    }

    /// Positional params are valid JSON-RPC: the envelope is accepted and the params step
    /// refuses them, so a notification carrying them is never answered.
    @Test func positionalParamsPassTheEnvelope() throws {
        for text in ["{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"params\":[1]}", "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"x\",\"params\":[]}"] {
            let r = try decode(text).get()
            #expect(r.paramsArePositional, "\(text)")
            #expect(r.params == nil)
        }
        #expect(try decode("{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"params\":{}}").get().paramsArePositional == false)
    }

    @Test func paramSpecs() throws {
        let spec = MethodSpec("m", params: [.required("a", .string), .optional("b", .integer), .optional("c", .number)]) { _ in }
        func check(_ text: String) throws -> String? {
            spec.check(try JSONParser().parse(Array(text.utf8)).objectValue)?.reason
        }
        #expect(try check("{\"a\":\"x\"}") == nil)
        #expect(try check("{\"a\":\"x\",\"b\":3,\"c\":1.5}") == nil)
        #expect(try check("{}") == "missing_param")
        #expect(spec.check(nil)?.reason == "missing_param")
        #expect(try check("{\"a\":1}") == "invalid_param")
        #expect(try check("{\"a\":\"x\",\"b\":1.5}") == "invalid_param")
        #expect(try check("{\"a\":\"x\",\"z\":1}") == "unknown_param")
    }

    @Test func errorObjectsCarryTheReasonAndDetails() {
        let bytes = RPCResponse.failure(id: .string("q"), .invalidData(field: "price", "price must be a decimal string"))
        #expect(String(decoding: bytes, as: UTF8.self)
                == "{\"jsonrpc\":\"2.0\",\"id\":\"q\",\"error\":{\"code\":-32602,\"message\":\"price must be a decimal string\",\"data\":{\"reason\":\"invalid_data\",\"field\":\"price\"}}}")
    }
}

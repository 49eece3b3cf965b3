import JSON

/// One JSON-RPC 2.0 request or notification, checked for shape (not yet for its params).
public struct RPCRequest: Sendable {
    /// The id exactly as sent (number, string or null); nil for a notification, which gets no answer.
    public let id: JSONValue?
    public let method: String
    /// nil when the request had no `params` member (or positional ones, see below).
    public let params: JSONObject?
    /// `"params":[…]`: valid JSON-RPC that our methods do not take. Refused at the params step
    /// (−32602), so a notification carrying them is dropped unanswered like any other.
    let paramsArePositional: Bool

    /// Decodes one batch entry or single message. On failure, the id to answer with (null when
    /// the id itself is unusable) and the error.
    public static func decode(_ value: JSONValue) -> Result<RPCRequest, Failure> {
        guard case .object(let o) = value else {
            return .failure(Failure(id: .null, error: .invalidRequest("a request must be a JSON object")))
        }
        var id: JSONValue?
        if let raw = o["id"] {
            switch raw {
            case .string, .number, .null: id = raw
            default: return .failure(Failure(id: .null, error: .invalidRequest("id must be a string, a number or null")))
            }
        }
        guard case .string("2.0")? = o["jsonrpc"] else {
            return .failure(Failure(id: id ?? .null, error: .invalidRequest("jsonrpc must be \"2.0\"")))
        }
        guard case .string(let method)? = o["method"] else {
            return .failure(Failure(id: id ?? .null, error: .invalidRequest("method must be a string")))
        }
        // Anything else in the envelope is a mistake we say out loud (a misspelt "params"
        // would otherwise be ignored silently).
        if let extra = o.keys.first(where: { !["jsonrpc", "id", "method", "params"].contains($0) }) {
            let shown = String(decoding: extra.utf8.prefix(32), as: UTF8.self)
            return .failure(Failure(id: id ?? .null, error: .invalidRequest("unknown member '\(shown)' in the request")))
        }
        var params: JSONObject?
        var positional = false
        switch o["params"] {
        case nil: break
        case .object(let p)?: params = p
        case .array?: positional = true
        default:
            return .failure(Failure(id: id ?? .null, error: .invalidRequest("params must be an object")))
        }
        return .success(RPCRequest(id: id, method: method, params: params, paramsArePositional: positional))
    }

    public struct Failure: Error, Sendable {
        public let id: JSONValue
        public let error: RPCError
    }
}

/// Writes JSON-RPC responses.
enum RPCResponse {
    static func success(id: JSONValue, _ write: (inout JSONWriter) -> Void) -> [UInt8] {
        var w = JSONWriter(reservingCapacity: 128)
        w.writeRaw("{\"jsonrpc\":\"2.0\",\"id\":")
        w.write(id)
        w.writeRaw(",\"result\":")
        write(&w)
        w.writeRaw("}")
        return w.bytes
    }

    static func failure(id: JSONValue, _ error: RPCError) -> [UInt8] {
        var w = JSONWriter(reservingCapacity: 160)
        w.writeRaw("{\"jsonrpc\":\"2.0\",\"id\":")
        w.write(id)
        w.writeRaw(",\"error\":")
        error.write(to: &w)
        w.writeRaw("}")
        return w.bytes
    }
}

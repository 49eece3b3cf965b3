import JSON

/// A JSON-RPC error as the contract defines it: a code, a stable machine-readable reason word
/// (`error.data.reason`) and a message for people. Messages never carry secrets or raw input.
public struct RPCError: Error, Sendable {
    public let code: Int
    public let reason: String
    public let message: String
    /// More members of `error.data` (e.g. `"param"`, `"field"`).
    public var details: [(String, JSONValue)]

    public init(code: Int, reason: String, message: String, details: [(String, JSONValue)] = []) {
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
    }

    public static let parseErrorCode = -32700
    public static let invalidRequestCode = -32600
    public static let methodNotFoundCode = -32601
    public static let invalidParamsCode = -32602
    public static let internalErrorCode = -32603
    public static let unauthenticatedCode = -32001
    public static let forbiddenCode = -32003
    public static let notFoundCode = -32004
    public static let conflictCode = -32009
    public static let limitExceededCode = -32008
    public static let rateLimitedCode = -32029
    public static let unavailableCode = -32013

    public static func parseError(_ message: String) -> RPCError {
        RPCError(code: parseErrorCode, reason: "parse_error", message: message)
    }

    public static func invalidRequest(_ message: String, reason: String = "invalid_request") -> RPCError {
        RPCError(code: invalidRequestCode, reason: reason, message: message)
    }

    public static func methodNotFound(_ method: String) -> RPCError {
        // The name is echoed only when it is short and printable: it is client input.
        let shown = method.utf8.count <= 64 && method.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7F } ? " '\(method)'" : ""
        return RPCError(code: methodNotFoundCode, reason: "method_not_found", message: "no method\(shown)")
    }

    public static func invalidParam(_ param: String, _ message: String, reason: String = "invalid_param") -> RPCError {
        RPCError(code: invalidParamsCode, reason: reason, message: message, details: [("param", .string(param))])
    }

    public static let positionalParams = invalidParam("params", "params must be an object (by-name)")

    public static func invalidChannel(_ message: String = "unknown channel prefix or bad channel name") -> RPCError {
        RPCError(code: invalidParamsCode, reason: "invalid_channel", message: message)
    }

    public static func invalidData(field: String, _ message: String) -> RPCError {
        RPCError(code: invalidParamsCode, reason: "invalid_data", message: message, details: [("field", .string(field))])
    }

    public static func internalError(_ message: String = "internal error") -> RPCError {
        RPCError(code: internalErrorCode, reason: "internal", message: message)
    }

    public static func unauthenticated(_ message: String = "log in first") -> RPCError {
        RPCError(code: unauthenticatedCode, reason: "unauthenticated", message: message)
    }

    public static func forbidden(_ message: String) -> RPCError {
        RPCError(code: forbiddenCode, reason: "forbidden", message: message)
    }

    public static func limitExceeded(_ reason: String, _ message: String) -> RPCError {
        RPCError(code: limitExceededCode, reason: reason, message: message)
    }

    public static let rateLimited = RPCError(code: rateLimitedCode, reason: "rate_limited", message: "too many requests; slow down")

    public static func unavailable(_ message: String) -> RPCError {
        RPCError(code: unavailableCode, reason: "unavailable", message: message)
    }

    /// `{"code":…,"message":…,"data":{"reason":…,…}}`
    func write(to w: inout JSONWriter) {
        w.writeRaw("{\"code\":")
        w.writeInt(Int64(code))
        w.writeRaw(",\"message\":")
        w.writeString(message)
        w.writeRaw(",\"data\":{\"reason\":")
        w.writeString(reason)
        for (k, v) in details {
            w.writeRaw(",")
            w.writeString(k)
            w.writeRaw(":")
            w.write(v)
        }
        w.writeRaw("}}")
    }
}

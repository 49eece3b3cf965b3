import JSON

/// The JSON type a parameter must have.
public enum ParamKind: Sendable {
    case string, integer, number, bool, object, array, any

    func admits(_ v: JSONValue) -> Bool {
        switch (self, v) {
        case (.any, _), (.string, .string), (.bool, .bool), (.object, .object), (.array, .array), (.number, .number): true
        case (.integer, .number(let n)): n.isInteger
        default: false
        }
    }

    var name: String {
        switch self {
        case .string: "a string"
        case .integer: "an integer"
        case .number: "a number"
        case .bool: "a boolean"
        case .object: "an object"
        case .array: "an array"
        case .any: "a value"
        }
    }
}

/// One named parameter a method takes.
public struct ParamSpec: Sendable {
    public let name: String
    public let kind: ParamKind
    public let required: Bool

    public static func required(_ name: String, _ kind: ParamKind) -> ParamSpec { ParamSpec(name: name, kind: kind, required: true) }
    public static func optional(_ name: String, _ kind: ParamKind) -> ParamSpec { ParamSpec(name: name, kind: kind, required: false) }
}

/// A method: its name, the params it expects (checked before the handler runs: missing,
/// mistyped and unknown params are answered with -32602 by the dispatcher) and its handler.
/// The handler answers through the call, now or later (on the session's loop).
public struct MethodSpec: Sendable {
    public let name: String
    public let params: [ParamSpec]
    public let handler: @Sendable (RPCCall) -> Void
    /// Changes of money or identity (`auth.*`, portfolio writes) are never executed as
    /// notifications: a client must be able to confirm each one (contract 2a).
    public let requiresID: Bool

    public init(_ name: String, params: [ParamSpec] = [], requiresID: Bool = false,
                handler: @escaping @Sendable (RPCCall) -> Void) {
        self.name = name
        self.params = params
        self.requiresID = requiresID
        self.handler = handler
    }

    /// nil when `params` fit the spec.
    func check(_ params: JSONObject?) -> RPCError? {
        let given = params ?? JSONObject()
        for spec in self.params {
            guard let v = given[spec.name] else {
                if spec.required { return .invalidParam(spec.name, "\(spec.name) is required", reason: "missing_param") }
                continue
            }
            if !spec.kind.admits(v) { return .invalidParam(spec.name, "\(spec.name) must be \(spec.kind.name)") }
        }
        for key in given.keys where !self.params.contains(where: { $0.name == key }) {
            let shown = key.utf8.count <= 64 ? key : String(decoding: key.utf8.prefix(64), as: UTF8.self)
            return .invalidParam(shown, "unknown param '\(shown)'", reason: "unknown_param")
        }
        return nil
    }
}

/// Every method the gateway serves. Handler modules (channels, auth, portfolio, risk) each add
/// theirs; dispatch only looks names up here, so a new module touches no dispatch code.
public struct MethodRegistry: Sendable {
    private var methods: [String: MethodSpec] = [:]

    public init() {}

    public mutating func register(_ spec: MethodSpec) {
        precondition(methods[spec.name] == nil, "method \(spec.name) registered twice")
        methods[spec.name] = spec
    }

    public func method(_ name: String) -> MethodSpec? { methods[name] }

    public var names: [String] { methods.keys.sorted() }
}

/// A JSON value as parsed from the wire (RFC 8259). Numbers keep their exact source text, so a
/// publisher's fields pass through the gateway unchanged and decimals are never rounded
/// through binary floating point.
public enum JSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    case number(JSONNumber)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)
}

/// A JSON number, held as its (grammar-checked) source text.
public struct JSONNumber: Equatable, Hashable, Sendable, CustomStringConvertible {
    /// Exactly as it appeared, e.g. `-0.5e10`.
    public let text: String

    /// `text` must match the RFC 8259 number grammar (the parser guarantees it).
    public init(uncheckedText text: String) { self.text = text }

    public init(_ value: Int) { self.text = String(value) }

    public var description: String { text }
}

/// A JSON object: members in their source order, looked up by key.
public struct JSONObject: Equatable, Sendable {
    public private(set) var members: [(key: String, value: JSONValue)]

    public init(_ members: [(key: String, value: JSONValue)] = []) { self.members = members }

    public static func == (a: JSONObject, b: JSONObject) -> Bool {
        a.members.count == b.members.count && zip(a.members, b.members).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    }
}

// In this file because `set` needs the private setter of `members`.
extension JSONObject {
    /// The value of the member named `key`. A linear scan: our objects are small.
    public subscript(key: String) -> JSONValue? {
        members.first { $0.key == key }?.value
    }

    public var count: Int { members.count }

    /// The keys in source order.
    public var keys: [String] { members.map(\.key) }

    /// Replaces the value of `key` where it stands, or appends the member.
    public mutating func set(_ key: String, _ value: JSONValue) {
        if let index = members.firstIndex(where: { $0.key == key }) {
            members[index].value = value
        } else {
            members.append((key, value))
        }
    }
}

import CHiredis

/// A Redis reply as a checked value, copied out of hiredis's reply tree before hiredis frees it.
/// Replies are untrusted input: code reading them asks for the shape it expects and treats
/// anything else as `RedisError.unexpectedReply`, never a crash.
public indirect enum RedisReply: Sendable, Equatable {
    case status(String)
    case error(String)
    case integer(Int64)
    case bulk([UInt8])
    case null
    case array([RedisReply])

    /// Deeper trees than any reply we ask for are refused (hiredis itself stops at 9 levels).
    static let maxDepth = 8

    /// nil: a type hiredis 0.14 does not define, or too deep.
    init?(_ r: UnsafePointer<redisReply>, depth: Int = 0) {
        guard depth <= Self.maxDepth else { return nil }
        let p = r.pointee
        switch p.type {
        case REDIS_REPLY_STATUS: self = .status(Self.text(p.str, p.len))
        case REDIS_REPLY_ERROR: self = .error(Self.text(p.str, p.len))
        case REDIS_REPLY_INTEGER: self = .integer(Int64(p.integer))
        case REDIS_REPLY_NIL: self = .null
        case REDIS_REPLY_STRING: self = .bulk(Self.bytes(p.str, p.len))
        case REDIS_REPLY_ARRAY:
            var out: [RedisReply] = []
            out.reserveCapacity(Int(p.elements))
            for i in 0..<Int(p.elements) {
                guard let child = p.element?[i], let v = RedisReply(UnsafePointer(child), depth: depth + 1) else { return nil }
                out.append(v)
            }
            self = .array(out)
        default: return nil
        }
    }

    private static func bytes(_ s: UnsafeMutablePointer<CChar>?, _ len: Int) -> [UInt8] {
        guard let s, len > 0 else { return [] }
        return Array(UnsafeRawBufferPointer(start: s, count: len))
    }

    private static func text(_ s: UnsafeMutablePointer<CChar>?, _ len: Int) -> String {
        String(decoding: bytes(s, len), as: UTF8.self)
    }

    // MARK: Reading an expected shape

    public var integer: Int64? { if case .integer(let n) = self { n } else { nil } }
    public var array: [RedisReply]? { if case .array(let a) = self { a } else { nil } }
    /// A bulk or status reply's bytes.
    public var bytes: [UInt8]? {
        switch self {
        case .bulk(let b): b
        case .status(let s): Array(s.utf8)
        default: nil
        }
    }
    public var string: String? { bytes.map { String(decoding: $0, as: UTF8.self) } }
    /// A bulk reply holding a decimal integer (what Lua numbers become when a script returns them as strings).
    public var decimal: Int64? {
        if case .integer(let n) = self { return n }
        guard let s = string, !s.isEmpty, s.utf8.count <= 19 else { return nil }
        return Int64(s)
    }
    public var errorMessage: String? { if case .error(let e) = self { e } else { nil } }
}

/// What a Redis call can fail with.
public enum RedisError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Not connected (never was, or lost): the command was not sent.
    case notConnected
    /// The connection was lost after the command was sent: whether Redis executed it is unknown.
    case connectionLost(String)
    /// No reply within the command's deadline (the connection is then dropped, as for `connectionLost`).
    case timeout
    /// Redis answered with an error.
    case server(String)
    /// A reply of a shape the caller did not expect (untrusted input).
    case unexpectedReply(String)
    /// Too many commands waiting for replies (bounded queues).
    case overloaded

    public var description: String {
        switch self {
        case .notConnected: "not connected to Redis"
        case .connectionLost(let why): "Redis connection lost: \(why)"
        case .timeout: "Redis did not answer in time"
        case .server(let e): "Redis error: \(e.prefix(200))"
        case .unexpectedReply(let what): "unexpected Redis reply: \(what)"
        case .overloaded: "too many Redis commands waiting"
        }
    }

    /// Whether the command may have run (a lost reply): such a publish is checked, not failed.
    public var outcomeUnknown: Bool {
        switch self {
        case .connectionLost, .timeout: true
        default: false
        }
    }
}

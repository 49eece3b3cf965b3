/// WebSocket close status codes: RFC 6455 §7.4 and the contract's 4xxx codes.
public struct CloseCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    public init(_ raw: UInt16) { self.rawValue = raw }

    public static let normal = CloseCode(1000)
    public static let goingAway = CloseCode(1001)
    public static let protocolError = CloseCode(1002)
    public static let unsupportedData = CloseCode(1003)
    /// Never sent: stands for "the close frame had no status code".
    public static let noStatus = CloseCode(1005)
    public static let invalidPayload = CloseCode(1007)
    public static let policyViolation = CloseCode(1008)
    public static let messageTooBig = CloseCode(1009)
    public static let internalError = CloseCode(1011)
    public static let idleTimeout = CloseCode(4000)
    public static let tokenExpired = CloseCode(4001)
    public static let slowConsumer = CloseCode(4008)
    public static let rateLimitAbuse = CloseCode(4029)

    /// Whether a peer may send this code in a close frame (§7.4.1/§7.4.2): the defined codes
    /// except those reserved for local use (1004-1006, 1015), plus the registered 1012-1014, and
    /// the library/application ranges 3000-4999.
    public static func isValidOnWire(_ code: UInt16) -> Bool {
        switch code {
        case 1000...1003, 1007...1014, 3000...4999: return true
        default: return false
        }
    }

    public var description: String { String(rawValue) }
}

/// Everything a peer can get wrong on an established WebSocket, each with its close code in
/// one place.
public enum ProtocolViolation: Error, Equatable, Sendable {
    case reservedBitsSet
    case unknownOpcode(UInt8)
    case fragmentedControlFrame
    case controlFrameTooLong
    case unmaskedFrame
    /// 64-bit length with the most significant bit set (§5.2 forbids it).
    case lengthOverflow
    case nonMinimalLength
    case frameTooLarge(declared: UInt64)
    case messageTooLarge
    case unexpectedContinuation
    case expectedContinuation
    case invalidUTF8
    case invalidClosePayload
    case invalidCloseCode(UInt16)

    public var closeCode: CloseCode {
        switch self {
        case .invalidUTF8: .invalidPayload
        case .frameTooLarge, .messageTooLarge: .messageTooBig
        default: .protocolError
        }
    }

    /// A short reason for the close frame and the logs (never includes payload bytes).
    public var reason: String {
        switch self {
        case .reservedBitsSet: "reserved bits set"
        case .unknownOpcode(let op): "unknown opcode \(op)"
        case .fragmentedControlFrame: "fragmented control frame"
        case .controlFrameTooLong: "control frame longer than 125 bytes"
        case .unmaskedFrame: "client frame not masked"
        case .lengthOverflow: "payload length has the most significant bit set"
        case .nonMinimalLength: "payload length not minimally encoded"
        case .frameTooLarge: "frame too large"
        case .messageTooLarge: "message too large"
        case .unexpectedContinuation: "continuation frame without a message in progress"
        case .expectedContinuation: "new data frame while a fragmented message is in progress"
        case .invalidUTF8: "invalid UTF-8 in text message"
        case .invalidClosePayload: "invalid close frame payload"
        case .invalidCloseCode(let c): "invalid close code \(c)"
        }
    }
}

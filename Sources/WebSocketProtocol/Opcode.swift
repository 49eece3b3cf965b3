/// RFC 6455 §5.2 opcodes.
public enum Opcode: UInt8, Sendable {
    case continuation = 0x0
    case text = 0x1
    case binary = 0x2
    case close = 0x8
    case ping = 0x9
    case pong = 0xA

    @inline(__always) public var isControl: Bool { rawValue & 0x8 != 0 }
}

/// A decoded frame header (server role: the mask key is present on every valid frame).
public struct FrameHeader: Equatable, Sendable {
    public var fin: Bool
    public var rsv1: Bool
    public var opcode: Opcode
    public var payloadLength: Int
    /// The four mask bytes as they were on the wire, loaded little-endian.
    public var maskKey: UInt32

    public init(fin: Bool, rsv1: Bool = false, opcode: Opcode, payloadLength: Int, maskKey: UInt32) {
        self.fin = fin
        self.rsv1 = rsv1
        self.opcode = opcode
        self.payloadLength = payloadLength
        self.maskKey = maskKey
    }
}

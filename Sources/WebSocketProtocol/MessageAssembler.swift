/// A complete inbound WebSocket message or control frame.
public enum InboundMessage: Equatable, Sendable {
    case text(MessagePayload)
    case binary(MessagePayload)
    case ping([UInt8])
    case pong([UInt8])
    /// `code` is nil when the close frame carried no status (1005).
    case close(code: CloseCode?, reason: String)
}

/// Where a data message's bytes are: still in the caller's input buffer (a single-frame
/// message that arrived whole: zero copies), or assembled from fragments or partial reads.
public enum MessagePayload: Equatable, Sendable {
    case inPlace(Range<Int>)
    case assembled([UInt8])

    /// The bytes, given the buffer that was passed to `MessageAssembler.next`.
    @inline(__always)
    public func withBytes<R>(in buffer: UnsafeMutableRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        switch self {
        case .inPlace(let r): return body(UnsafeRawBufferPointer(rebasing: buffer[r]))
        case .assembled(let a): return a.withUnsafeBytes(body)
        }
    }

    public var count: Int {
        switch self {
        case .inPlace(let r): r.count
        case .assembled(let a): a.count
        }
    }
}

/// Turns frames into messages: continuation rules, the total message size limit, UTF-8 of text
/// messages (checked chunk by chunk as bytes arrive, so invalid text fails fast), and parsing of
/// close frames. The layer above receives whole messages, never frames.
public struct MessageAssembler: Sendable {
    public var decoder: FrameDecoder
    /// Bound on a whole message, fragments included; checked against each frame's declared
    /// length before its payload is buffered.
    public var maxMessageSize: Int {
        didSet { decoder.maxFrameSize = maxMessageSize }
    }
    /// Whether the data message `next` just returned had RSV1 on its first frame
    /// (permessage-deflate: still compressed; UTF-8 is checked only after inflating).
    public private(set) var messageIsCompressed = false

    private var frame = FrameHeader(fin: true, opcode: .binary, payloadLength: 0, maskKey: 0)
    private var frameStartedMessage = false
    private var frameHasData = false
    /// Opcode of the data message in progress (text/binary), if any.
    private var messageOpcode: Opcode?
    private var messageSize = 0
    private var messageBuffer: [UInt8] = []
    private var utf8 = UTF8Validator()
    private var control: [UInt8] = []

    public init(maxMessageSize: Int) {
        self.maxMessageSize = maxMessageSize
        self.decoder = FrameDecoder(maxFrameSize: maxMessageSize)
    }

    /// True when no message or frame is partly received.
    public var isIdle: Bool { messageOpcode == nil && decoder.isAtFrameBoundary }

    /// The next complete message from `buffer[index...]`, or nil when all input is consumed.
    /// Payload in the buffer is unmasked in place. Throws on the first protocol violation.
    public mutating func next(_ buffer: UnsafeMutableRawBufferPointer, _ index: inout Int) throws(ProtocolViolation) -> InboundMessage? {
        while let event = try decoder.next(buffer, &index) {
            switch event {
            case .header(let h):
                try begin(h)
            case .payload(let range, let isLast):
                if let message = try payload(buffer, range, isLast: isLast) { return message }
            }
        }
        return nil
    }

    private mutating func begin(_ h: FrameHeader) throws(ProtocolViolation) {
        frame = h
        frameHasData = false
        if h.opcode.isControl {
            control.removeAll(keepingCapacity: true)
            return
        }
        if h.opcode == .continuation {
            guard messageOpcode != nil else { throw .unexpectedContinuation }
            frameStartedMessage = false
        } else {
            guard messageOpcode == nil else { throw .expectedContinuation }
            messageOpcode = h.opcode
            messageSize = 0
            utf8.reset()
            frameStartedMessage = true
            messageIsCompressed = h.rsv1
        }
        // Refuse on the declared length, before buffering anything.
        if h.payloadLength > maxMessageSize - messageSize { throw .messageTooLarge }
    }

    private mutating func payload(_ buffer: UnsafeMutableRawBufferPointer, _ range: Range<Int>, isLast: Bool) throws(ProtocolViolation) -> InboundMessage? {
        let chunk = UnsafeRawBufferPointer(rebasing: buffer[range])
        if frame.opcode.isControl {
            control.append(contentsOf: chunk)
            return isLast ? try controlMessage() : nil
        }
        let checksUTF8 = messageOpcode == .text && !messageIsCompressed
        if checksUTF8 && !utf8.validate(chunk) { throw .invalidUTF8 }
        let wholeFrameHere = !frameHasData && isLast
        frameHasData = true
        if wholeFrameHere && frameStartedMessage && frame.fin {
            // One frame, all in this buffer: hand out the range, no copy.
            let op = messageOpcode
            messageOpcode = nil
            if checksUTF8 && !utf8.isComplete { throw .invalidUTF8 }
            return op == .text ? .text(.inPlace(range)) : .binary(.inPlace(range))
        }
        if messageBuffer.isEmpty && frame.fin && frameStartedMessage {
            messageBuffer.reserveCapacity(frame.payloadLength)
        }
        messageBuffer.append(contentsOf: chunk)
        messageSize += chunk.count
        guard isLast && frame.fin else { return nil }
        if checksUTF8 && !utf8.isComplete { throw .invalidUTF8 }
        let op = messageOpcode
        let bytes = messageBuffer
        messageBuffer = []
        messageOpcode = nil
        messageSize = 0
        return op == .text ? .text(.assembled(bytes)) : .binary(.assembled(bytes))
    }

    private func controlMessage() throws(ProtocolViolation) -> InboundMessage {
        switch frame.opcode {
        case .ping: return .ping(control)
        case .pong: return .pong(control)
        default: return try MessageAssembler.parseClose(control)
        }
    }

    /// Close payload: empty, or a valid 2-byte code plus a UTF-8 reason (§5.5.1, §7.4).
    public static func parseClose(_ payload: [UInt8]) throws(ProtocolViolation) -> InboundMessage {
        if payload.isEmpty { return .close(code: nil, reason: "") }
        guard payload.count >= 2 else { throw .invalidClosePayload }
        let code = UInt16(payload[0]) << 8 | UInt16(payload[1])
        guard CloseCode.isValidOnWire(code) else { throw .invalidCloseCode(code) }
        let reasonBytes = Array(payload[2...])
        guard UTF8Validator.isValid(reasonBytes) else { throw .invalidUTF8 }
        return .close(code: CloseCode(code), reason: String(decoding: reasonBytes, as: UTF8.self))
    }
}

/// Incremental RFC 6455 frame decoder, server role (every client frame must be masked).
///
/// Pull-based and I/O-free: give it whatever bytes arrived, in any split, and it yields a
/// `.header` for each frame followed by one or more `.payload` ranges of the input, unmasked in
/// place; the last range of a frame has `isLast` (a zero-length frame yields one empty range).
/// Payload is never buffered here; only a partial header (at most 14 bytes) is kept between
/// calls, so a connection waiting for data holds no buffer.
public struct FrameDecoder: Sendable {
    public enum Event: Equatable, Sendable {
        case header(FrameHeader)
        case payload(Range<Int>, isLast: Bool)
    }

    /// Frames declaring more than this are refused with 1009 before any payload is read.
    public var maxFrameSize: Int
    /// Set when permessage-deflate is negotiated: RSV1 then marks a compressed message.
    public var allowsRSV1 = false

    private var header = FrameHeader(fin: true, opcode: .binary, payloadLength: 0, maskKey: 0)
    private var inPayload = false
    private var remaining = 0
    private var maskPhase = 0
    /// A header split across reads (2 + 8 + 4 bytes at most).
    private var spill: (UInt64, UInt64) = (0, 0)
    private var spillCount = 0

    public init(maxFrameSize: Int) {
        self.maxFrameSize = maxFrameSize
    }

    /// True between frames (no partial header, no payload outstanding).
    public var isAtFrameBoundary: Bool { !inPayload && spillCount == 0 }

    /// The next event from `buffer[index...]`, advancing `index`; `nil` when more bytes are needed.
    public mutating func next(_ buffer: UnsafeMutableRawBufferPointer, _ index: inout Int) throws(ProtocolViolation) -> Event? {
        if inPayload {
            if remaining == 0 {
                inPayload = false
                return .payload(index..<index, isLast: true)
            }
            let available = buffer.count - index
            guard available > 0, let base = buffer.baseAddress else { return nil }
            let n = min(available, remaining)
            unmask(base + index, count: n, key: header.maskKey, phase: maskPhase)
            maskPhase = (maskPhase + n) & 3
            remaining -= n
            let range = index..<(index + n)
            index += n
            if remaining == 0 { inPayload = false }
            return .payload(range, isLast: remaining == 0)
        }
        guard let h = try readHeader(buffer, &index) else { return nil }
        header = h
        remaining = h.payloadLength
        maskPhase = 0
        inPayload = true
        return .header(h)
    }

    // MARK: Header

    private mutating func readHeader(_ buffer: UnsafeMutableRawBufferPointer, _ index: inout Int) throws(ProtocolViolation) -> FrameHeader? {
        let available = buffer.count - index
        guard available > 0, let base = buffer.baseAddress else { return nil }
        if spillCount == 0 && available >= 2 {
            let needed = try FrameDecoder.headerLength(base.load(fromByteOffset: index, as: UInt8.self),
                                                      base.load(fromByteOffset: index + 1, as: UInt8.self))
            if available >= needed {
                let h = try parseHeader(UnsafeRawPointer(base + index))
                index += needed
                return h
            }
        }
        // Slow path: gather the header into `spill` across reads.
        var gathered = spill
        var count = spillCount
        defer {
            spill = gathered
            spillCount = count
        }
        return try withUnsafeMutableBytes(of: &gathered) { spillBytes throws(ProtocolViolation) -> FrameHeader? in
            while count < 2 && index < buffer.count {
                spillBytes[count] = buffer[index]
                count += 1
                index += 1
            }
            guard count >= 2 else { return nil }
            let needed = try FrameDecoder.headerLength(spillBytes[0], spillBytes[1])
            while count < needed && index < buffer.count {
                spillBytes[count] = buffer[index]
                count += 1
                index += 1
            }
            guard count == needed, let spillBase = spillBytes.baseAddress else { return nil }
            count = 0
            return try parseHeader(UnsafeRawPointer(spillBase))
        }
    }

    /// Header size from its first two bytes; refuses what is wrong already there.
    @inline(__always)
    private static func headerLength(_ b0: UInt8, _ b1: UInt8) throws(ProtocolViolation) -> Int {
        guard b1 & 0x80 != 0 else { throw .unmaskedFrame }
        let len7 = b1 & 0x7F
        return 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + 4
    }

    private func parseHeader(_ p: UnsafeRawPointer) throws(ProtocolViolation) -> FrameHeader {
        let b0 = p.load(as: UInt8.self)
        let b1 = p.load(fromByteOffset: 1, as: UInt8.self)
        let fin = b0 & 0x80 != 0
        let rsv1 = b0 & 0x40 != 0
        if b0 & 0x30 != 0 || (rsv1 && !allowsRSV1) { throw .reservedBitsSet }
        guard let opcode = Opcode(rawValue: b0 & 0x0F) else { throw .unknownOpcode(b0 & 0x0F) }
        let len7 = Int(b1 & 0x7F)
        if opcode.isControl {
            if !fin { throw .fragmentedControlFrame }
            if len7 > 125 { throw .controlFrameTooLong }
            // RSV1 marks a compressed *message*; never valid on control frames.
            if rsv1 { throw .reservedBitsSet }
        } else if opcode == .continuation && rsv1 {
            throw .reservedBitsSet
        }
        var length = len7
        var offset = 2
        if len7 == 126 {
            length = Int(UInt16(bigEndianBytesAt: p + 2))
            if length < 126 { throw .nonMinimalLength }
            offset = 4
        } else if len7 == 127 {
            let wide = UInt64(bigEndianBytesAt: p + 2)
            if wide & (1 << 63) != 0 { throw .lengthOverflow }
            guard let l = Int(exactly: wide) else { throw .lengthOverflow }
            if l <= 0xFFFF { throw .nonMinimalLength }
            length = l
            offset = 10
        }
        // Control frames are bounded by the 125-byte rule above, whatever the message limit.
        if length > maxFrameSize && !opcode.isControl { throw .frameTooLarge(declared: UInt64(length)) }
        let key = p.loadUnaligned(fromByteOffset: offset, as: UInt32.self)
        return FrameHeader(fin: fin, rsv1: rsv1, opcode: opcode, payloadLength: length, maskKey: key)
    }
}

extension FixedWidthInteger {
    @inline(__always)
    init(bigEndianBytesAt p: UnsafeRawPointer) {
        self.init(bigEndian: p.loadUnaligned(as: Self.self))
    }
}

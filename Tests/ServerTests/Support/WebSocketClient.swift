// Client side of RFC 6455 for tests: masked frames built byte by byte (including deliberately
// broken ones) and a reader for the server's frames that records exactly what arrived.

enum Op {
    static let continuation: UInt8 = 0x0
    static let text: UInt8 = 0x1
    static let binary: UInt8 = 0x2
    static let close: UInt8 = 0x8
    static let ping: UInt8 = 0x9
    static let pong: UInt8 = 0xA
}

/// A frame as the server sent it.
struct ReceivedFrame: CustomStringConvertible {
    var fin: Bool
    /// RSV1-3 bits, still in place (0x70 mask of the first byte).
    var rsv: UInt8
    var opcode: UInt8
    var masked: Bool
    /// The header bytes exactly as received.
    var header: [UInt8]
    /// Payload, unmasked if it was masked.
    var payload: [UInt8]

    /// Header plus payload, for exact comparisons (server frames are never masked).
    var wireBytes: [UInt8] { header + payload }

    /// The status code of a close frame (nil when absent or not a close frame).
    var closeCode: UInt16? {
        guard opcode == Op.close, payload.count >= 2 else { return nil }
        return UInt16(payload[0]) << 8 | UInt16(payload[1])
    }

    var closeReason: [UInt8] { opcode == Op.close && payload.count > 2 ? Array(payload[2...]) : [] }

    var description: String {
        var s = "frame(op \(opcode), fin \(fin), rsv \(rsv), masked \(masked), \(payload.count) bytes"
        if let c = closeCode { s += ", close \(c) '\(String(decoding: closeReason, as: UTF8.self))'" }
        return s + ")"
    }
}

/// How the payload length is spelled; non-minimal forms are protocol violations.
enum LengthEncoding {
    case minimal, sixteen, sixtyFour
}

enum WSFrame {
    /// A client frame. `mask: nil` builds an (illegal) unmasked frame; `declaredLength` overrides
    /// the length field (to announce more than is sent); `rsv` is already shifted (0x40, 0x20, 0x10).
    static func build(_ opcode: UInt8, _ payload: [UInt8], fin: Bool = true, rsv: UInt8 = 0,
                      mask: [UInt8]? = [0x5A, 0xC3, 0x17, 0xE9], length: LengthEncoding = .minimal,
                      declaredLength: UInt64? = nil) -> [UInt8] {
        var out: [UInt8] = [(fin ? 0x80 : 0) | rsv | (opcode & 0x0F)]
        let maskBit: UInt8 = mask == nil ? 0 : 0x80
        let n = declaredLength ?? UInt64(payload.count)
        let form: LengthEncoding = length != .minimal ? length : (n < 126 ? .minimal : n <= 0xFFFF ? .sixteen : .sixtyFour)
        switch form {
        case .minimal:
            out.append(maskBit | UInt8(n))
        case .sixteen:
            out.append(maskBit | 126)
            out += [UInt8(truncatingIfNeeded: n >> 8), UInt8(truncatingIfNeeded: n)]
        case .sixtyFour:
            out.append(maskBit | 127)
            for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: n >> UInt64(shift))) }
        }
        if let mask {
            out += mask
            out.reserveCapacity(out.count + payload.count)
            var i = 0
            for b in payload {
                out.append(b ^ mask[i & 3])
                i += 1
            }
        } else {
            out += payload
        }
        return out
    }

    static func text(_ s: String, fin: Bool = true) -> [UInt8] { build(Op.text, Array(s.utf8), fin: fin) }
    static func binary(_ b: [UInt8], fin: Bool = true) -> [UInt8] { build(Op.binary, b, fin: fin) }

    /// A close frame with an optional code and a raw reason.
    static func close(_ code: UInt16?, reason: [UInt8] = []) -> [UInt8] {
        guard let code else { return build(Op.close, []) }
        return build(Op.close, [UInt8(code >> 8), UInt8(code & 0xFF)] + reason)
    }

    /// The exact bytes an unmasked server frame must have: FIN, no RSV, minimal length.
    static func expectedServerFrame(_ opcode: UInt8, _ payload: [UInt8]) -> [UInt8] {
        build(opcode, payload, mask: nil)
    }
}

/// Deterministic payloads that are not all the same byte (so a shifted or truncated copy shows).
func patternBytes(_ count: Int, seed: UInt8 = 0) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: count)
    var x = UInt32(seed) &* 2_654_435_761 | 1
    for i in 0..<count {
        x ^= x << 13
        x ^= x >> 17
        x ^= x << 5
        out[i] = UInt8(truncatingIfNeeded: x)
    }
    return out
}

extension TCPClient {
    /// Parses one frame from the inbox without I/O; nil when incomplete.
    func takeFrame() -> ReceivedFrame? {
        guard inbox.count >= 2 else { return nil }
        let b0 = inbox[0], b1 = inbox[1]
        var length = UInt64(b1 & 0x7F)
        var offset = 2
        if length == 126 {
            guard inbox.count >= 4 else { return nil }
            length = UInt64(inbox[2]) << 8 | UInt64(inbox[3])
            offset = 4
        } else if length == 127 {
            guard inbox.count >= 10 else { return nil }
            length = 0
            for i in 2..<10 { length = length << 8 | UInt64(inbox[i]) }
            offset = 10
        }
        let masked = b1 & 0x80 != 0
        if masked { offset += 4 }
        guard length < UInt64(Int.max / 2), inbox.count >= offset + Int(length) else { return nil }
        let header = inbox.take(offset)
        var payload = inbox.take(Int(length))
        if masked {
            let key = Array(header[(offset - 4)...])
            for i in payload.indices { payload[i] ^= key[i & 3] }
        }
        return ReceivedFrame(fin: b0 & 0x80 != 0, rsv: b0 & 0x70, opcode: b0 & 0x0F, masked: masked,
                             header: header, payload: payload)
    }

    /// The next server frame, waiting at most `timeoutMs`.
    func readFrame(timeoutMs: Int = 2000) throws -> ReceivedFrame {
        let start = ContinuousClock.now
        while true {
            if let f = takeFrame() { return f }
            let left = timeoutMs - millis(since: start)
            guard left > 0 else { throw ClientError("no complete frame within \(timeoutMs) ms (\(inbox.count) bytes pending)") }
            switch fill(timeoutMs: left) {
            case .data, .timeout: continue
            case .eof: throw ClientError("EOF before a complete frame (\(inbox.count) bytes pending)")
            case .failed(let e): throw ClientError("read error errno \(e) before a complete frame")
            }
        }
    }

    /// Sends one message and returns the next frame (the echo).
    func roundTrip(_ frame: [UInt8], timeoutMs: Int = 2000) throws -> ReceivedFrame {
        try send(frame)
        return try readFrame(timeoutMs: timeoutMs)
    }

    /// Connects and completes the opening handshake; the client is ready for frames.
    static func webSocket(port: Int, path: String = "/echo", extraHeaders: [String] = [],
                          receiveBuffer: Int32? = nil, sendBuffer: Int32? = nil) throws -> TCPClient {
        let c = try TCPClient(port: port, receiveBuffer: receiveBuffer, sendBuffer: sendBuffer)
        let reply = try c.exchange(rawRequest(path, upgradeHeaders(extra: extraHeaders)))
        guard reply.status == 101 else { throw ClientError("upgrade refused: \(reply)") }
        return c
    }
}

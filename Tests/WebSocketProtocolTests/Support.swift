import Testing
@testable import WebSocketProtocol

// MARK: - Deterministic randomness

/// SplitMix64: tiny, seedable, identical on every platform, so failures reproduce.
struct SeededRNG: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func bytes(_ count: Int) -> [UInt8] {
        (0..<count).map { _ in UInt8.random(in: 0...255, using: &self) }
    }
}

// MARK: - Building client (masked) frames

/// How the payload length is spelled on the wire; non-minimal forms are for hostile tests.
enum LengthForm: Sendable {
    case minimal, sixteen, sixtyFour
}

let rfcKey: [UInt8] = [0x37, 0xFA, 0x21, 0x3D]

/// XOR with a 4-byte key, byte at a time: the reference everything else is checked against.
func masked(_ payload: [UInt8], key: [UInt8], phase: Int = 0) -> [UInt8] {
    payload.enumerated().map { $0.element ^ key[($0.offset + phase) & 3] }
}

/// A client frame. `opcode` is raw so reserved opcodes can be built; `rsv` is the 3 RSV bits
/// already shifted into place (0x40/0x20/0x10); `key: nil` builds an unmasked frame.
func clientFrame(_ opcode: UInt8, fin: Bool = true, rsv: UInt8 = 0, _ payload: [UInt8],
                 key: [UInt8]? = rfcKey, length: LengthForm = .minimal) -> [UInt8] {
    var out: [UInt8] = [(fin ? 0x80 : 0) | rsv | (opcode & 0x0F)]
    let maskBit: UInt8 = key == nil ? 0 : 0x80
    let n = payload.count
    let form: LengthForm = length == .minimal ? (n < 126 ? .minimal : n <= 0xFFFF ? .sixteen : .sixtyFour) : length
    switch form {
    case .minimal:
        out.append(maskBit | UInt8(n))
    case .sixteen:
        out.append(maskBit | 126)
        out += [UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF)]
    case .sixtyFour:
        out.append(maskBit | 127)
        out += (0..<8).reversed().map { UInt8(truncatingIfNeeded: UInt64(n) >> (UInt64($0) * 8)) }
    }
    if let key {
        out += key
        out += masked(payload, key: key)
    } else {
        out += payload
    }
    return out
}

func text(_ s: String, fin: Bool = true, key: [UInt8] = rfcKey) -> [UInt8] { clientFrame(0x1, fin: fin, Array(s.utf8), key: key) }
func cont(_ bytes: [UInt8], fin: Bool = true, key: [UInt8] = rfcKey) -> [UInt8] { clientFrame(0x0, fin: fin, bytes, key: key) }
func cont(_ s: String, fin: Bool = true) -> [UInt8] { cont(Array(s.utf8), fin: fin) }
func binary(_ bytes: [UInt8], fin: Bool = true) -> [UInt8] { clientFrame(0x2, fin: fin, bytes) }
func ping(_ bytes: [UInt8] = []) -> [UInt8] { clientFrame(0x9, bytes) }
func pong(_ bytes: [UInt8] = []) -> [UInt8] { clientFrame(0xA, bytes) }
func close(_ code: UInt16?, _ reason: [UInt8] = []) -> [UInt8] {
    guard let code else { return clientFrame(0x8, reason) }
    return clientFrame(0x8, [UInt8(code >> 8), UInt8(code & 0xFF)] + reason)
}

/// Just a header (2 + extended length + mask key): for "refused before any payload" tests.
func headerOnly(_ b0: UInt8, declaring length: UInt64, form: LengthForm, key: [UInt8] = rfcKey) -> [UInt8] {
    switch form {
    case .minimal: return [b0, 0x80 | UInt8(length)] + key
    case .sixteen: return [b0, 0x80 | 126, UInt8(length >> 8 & 0xFF), UInt8(length & 0xFF)] + key
    case .sixtyFour: return [b0, 0x80 | 127] + (0..<8).reversed().map { UInt8(truncatingIfNeeded: length >> (UInt64($0) * 8)) } + key
    }
}

// MARK: - Messages, copied out of the chunk buffer

/// An `InboundMessage` with its bytes copied out (in-place ranges die with the chunk buffer).
enum Msg: Equatable, Sendable, CustomStringConvertible {
    case text([UInt8])
    case binary([UInt8])
    case ping([UInt8])
    case pong([UInt8])
    case close(UInt16?, String)

    static func text(_ s: String) -> Msg { .text(Array(s.utf8)) }

    var description: String {
        func show(_ b: [UInt8]) -> String {
            b.count <= 32 ? b.map { String($0, radix: 16) }.joined(separator: " ") : "\(b.count) bytes"
        }
        switch self {
        case .text(let b): return "text(\(String(validating: b, as: UTF8.self).map { $0.count <= 32 ? "\"\($0)\"" : "\(b.count) bytes" } ?? show(b)))"
        case .binary(let b): return "binary(\(show(b)))"
        case .ping(let b): return "ping(\(show(b)))"
        case .pong(let b): return "pong(\(show(b)))"
        case .close(let c, let r): return "close(\(c.map(String.init) ?? "nil"), \"\(r)\")"
        }
    }
}

/// What a byte stream should produce: messages, or messages then a violation.
struct Expected: Sendable {
    var messages: [Msg]
    var violation: ProtocolViolation?

    static func messages(_ m: Msg...) -> Expected { Expected(messages: m, violation: nil) }
    static func messages(_ m: [Msg]) -> Expected { Expected(messages: m, violation: nil) }
    static func violation(_ v: ProtocolViolation, after m: [Msg] = []) -> Expected { Expected(messages: m, violation: v) }
}

/// What one run produced, plus everything the harness noticed along the way.
struct RunResult: Equatable, CustomStringConvertible {
    var messages: [Msg] = []
    var violation: ProtocolViolation?
    /// Harness findings: sentinel damage, ranges outside the window, unconsumed input.
    var problems: [String] = []
    var idleAtEnd = false

    var description: String {
        "messages: \(messages), violation: \(violation.map { "\($0)" } ?? "none")" + (problems.isEmpty ? "" : ", problems: \(problems)")
    }
}

// MARK: - Feeding the assembler

let sentinelLength = 16
let sentinelByte: UInt8 = 0xA5

/// Feeds `chunks` in order to one assembler. Each chunk is copied into a fresh allocation with
/// `sentinelLength` guard bytes either side, and only the window between them is passed in.
func feed(_ chunks: [ArraySlice<UInt8>], maxMessageSize: Int, allowsRSV1: Bool = false) -> RunResult {
    var assembler = MessageAssembler(maxMessageSize: maxMessageSize)
    assembler.decoder.allowsRSV1 = allowsRSV1
    var result = RunResult()
    for (n, chunk) in chunks.enumerated() {
        let whole = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk.count + 2 * sentinelLength, alignment: 1)
        defer { whole.deallocate() }
        whole.initializeMemory(as: UInt8.self, repeating: sentinelByte)
        let window = UnsafeMutableRawBufferPointer(rebasing: whole[sentinelLength..<(sentinelLength + chunk.count)])
        chunk.withUnsafeBytes { src in
            if let s = src.baseAddress, let d = window.baseAddress, src.count > 0 { d.copyMemory(from: s, byteCount: src.count) }
        }
        var index = 0
        var failed = false
        do {
            while true {
                let before = index
                guard let message = try assembler.next(window, &index) else { break }
                if index < before || index > window.count {
                    result.problems.append("chunk \(n): index moved from \(before) to \(index) (count \(window.count))")
                }
                result.messages.append(copyOut(message, window, chunk: n, problems: &result.problems))
            }
            if index != window.count {
                result.problems.append("chunk \(n): next returned nil at index \(index) of \(window.count)")
            }
        } catch {
            result.violation = error
            failed = true
        }
        for i in 0..<sentinelLength where whole[i] != sentinelByte || whole[whole.count - 1 - i] != sentinelByte {
            result.problems.append("chunk \(n): sentinel byte changed")
            break
        }
        if failed { return result }
    }
    result.idleAtEnd = assembler.isIdle
    return result
}

func copyOut(_ m: InboundMessage, _ buffer: UnsafeMutableRawBufferPointer, chunk n: Int, problems: inout [String]) -> Msg {
    func bytes(_ p: MessagePayload) -> [UInt8] {
        if case .inPlace(let r) = p, r.lowerBound < 0 || r.upperBound > buffer.count {
            problems.append("chunk \(n): in-place range \(r) outside window of \(buffer.count)")
            return []
        }
        return p.withBytes(in: buffer) { Array($0) }
    }
    switch m {
    case .text(let p): return .text(bytes(p))
    case .binary(let p): return .binary(bytes(p))
    case .ping(let b): return .ping(b)
    case .pong(let b): return .pong(b)
    case .close(let code, let reason): return .close(code?.rawValue, reason)
    }
}

// MARK: - Splitting

func chunks(_ input: [UInt8], at cuts: [Int]) -> [ArraySlice<UInt8>] {
    var out: [ArraySlice<UInt8>] = []
    var start = 0
    for c in cuts.sorted() where c >= start && c <= input.count {
        out.append(input[start..<c])
        start = c
    }
    out.append(input[start...])
    return out
}

/// Random cut points: mostly small chunks (headers straddle them), sometimes big ones.
func randomCuts(_ count: Int, using rng: inout SeededRNG) -> [Int] {
    var cuts: [Int] = []
    var at = 0
    while true {
        let step: Int
        switch Int.random(in: 0..<10, using: &rng) {
        case 0..<6: step = Int.random(in: 1...4, using: &rng)
        case 6..<9: step = Int.random(in: 1...32, using: &rng)
        default: step = Int.random(in: 1...max(1, count / 2), using: &rng)
        }
        at += step
        if at >= count { return cuts }
        cuts.append(at)
    }
}

/// Two-way split points: all of them for small inputs, otherwise both ends plus a stride.
func twoWaySplitPoints(_ count: Int) -> [Int] {
    if count <= 3000 { return Array(0...count) }
    let stride = Swift.stride(from: 0, through: count, by: max(1, count / 500))
    return Array(Set(Array(0...64) + Array((count - 64)...count) + Array(stride))).sorted()
}

// MARK: - The verifier

/// Like SwiftNIO's ByteToMessageDecoderVerifier: the same bytes, fed every way, must give the
/// same messages (or the same violation after the same messages), never touch bytes outside the
/// window, consume every byte, and leave the assembler idle after a clean stream.
func verifyEveryWay(_ input: [UInt8], _ expected: Expected, maxMessageSize: Int = 1 << 20, allowsRSV1: Bool = false,
                    randomSplits: Int = 40, seed: UInt64 = 0x5EED, sourceLocation: SourceLocation = #_sourceLocation) {
    func check(_ how: @autoclosure () -> String, _ chunkList: [ArraySlice<UInt8>]) -> Bool {
        let r = feed(chunkList, maxMessageSize: maxMessageSize, allowsRSV1: allowsRSV1)
        let ok = r.messages == expected.messages && r.violation == expected.violation && r.problems.isEmpty
            && (expected.violation != nil || r.idleAtEnd)
        if !ok {
            Issue.record("""
                fed \(how()):
                  got      \(r)\(expected.violation == nil && !r.idleAtEnd ? " (assembler not idle at end)" : "")
                  expected messages: \(expected.messages), violation: \(expected.violation.map { "\($0)" } ?? "none")
                """, sourceLocation: sourceLocation)
        }
        return ok
    }
    // Stop at the first failing way of each kind: one good report beats a thousand.
    guard check("whole", [input[...]]) else { return }
    guard check("byte by byte", input.indices.map { input[$0...$0] }) else { return }
    for cut in twoWaySplitPoints(input.count) {
        guard check("split at \(cut)", chunks(input, at: [cut])) else { return }
    }
    var rng = SeededRNG(seed: seed)
    for _ in 0..<randomSplits {
        let cuts = randomCuts(input.count, using: &rng)
        guard check("random cuts \(cuts.count <= 40 ? "\(cuts)" : "(\(cuts.count) cuts)")", chunks(input, at: cuts)) else { return }
    }
}

/// The message stream a single valid case stands for, concatenated.
func concatenated(_ cases: [([UInt8], [Msg])]) -> ([UInt8], [Msg]) {
    (cases.flatMap(\.0), cases.flatMap(\.1))
}

// MARK: - Raw event/message collection (for tests that look at ranges and events)

/// All decoder events from one buffer, and where the index ended.
func decodeEvents(_ bytes: inout [UInt8], _ decoder: inout FrameDecoder) -> (events: [FrameDecoder.Event], end: Int, error: ProtocolViolation?) {
    bytes.withUnsafeMutableBytes { buf in
        var out: [FrameDecoder.Event] = []
        var index = 0
        do {
            while let e = try decoder.next(buf, &index) { out.append(e) }
        } catch {
            return (out, index, error as? ProtocolViolation)
        }
        return (out, index, nil)
    }
}

/// All messages (uncopied) from one buffer, and where the index ended.
func assembleRaw(_ bytes: inout [UInt8], _ assembler: inout MessageAssembler) -> (messages: [InboundMessage], end: Int, error: ProtocolViolation?) {
    bytes.withUnsafeMutableBytes { buf in
        var out: [InboundMessage] = []
        var index = 0
        do {
            while let m = try assembler.next(buf, &index) { out.append(m) }
        } catch {
            return (out, index, error as? ProtocolViolation)
        }
        return (out, index, nil)
    }
}

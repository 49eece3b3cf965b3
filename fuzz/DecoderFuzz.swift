// libFuzzer target: FrameDecoder + MessageAssembler (server role).
//
// Input layout: byte 0 configures the assembler (low nibble: message size limit from `limits`,
// bit 4: RSV1 allowed). The rest is cut into chunks uWS-style: the first byte of each chunk
// gives its size (0 = everything that remains), then that many stream bytes follow.
//
// Invariants checked (any failure traps, which libFuzzer records as a crash):
//  - the index only moves forward, stays within the buffer, and ends at its end when `next`
//    returns nil; in-place ranges lie within the buffer given;
//  - every message respects the limit, text is valid UTF-8, control payloads are ≤ 125 bytes,
//    close codes are valid on the wire; violations map to 1002/1007/1009;
//  - the same stream fed as one buffer gives the same messages and the same violation
//    (chunking must not change the outcome).
// Each chunk is copied into an allocation of exactly its size, so ASan sees any read or write
// outside the window.

enum FuzzMessage: Equatable {
    case text([UInt8]), binary([UInt8]), ping([UInt8]), pong([UInt8]), close(UInt16?, String)
}

struct FuzzOutcome: Equatable {
    var messages: [FuzzMessage] = []
    var violation: ProtocolViolation?
}

// Up to the default 1 MiB: `reserveCapacity` of a declared length is bounded by the limit, and a
// far larger limit would only make the fuzzer measure the allocator.
let fuzzLimits = [0, 1, 2, 3, 16, 125, 126, 127, 200, 1000, 4096, 65535, 65536, 100_000, 1 << 18, 1 << 20]

@inline(never)
func fuzzCheck(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("invariant violated: \(message())") }
}

func fuzzAssemble(_ chunks: [ArraySlice<UInt8>], maxMessageSize: Int, allowsRSV1: Bool) -> FuzzOutcome {
    var assembler = MessageAssembler(maxMessageSize: maxMessageSize)
    assembler.decoder.allowsRSV1 = allowsRSV1
    var outcome = FuzzOutcome()
    for chunk in chunks {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk.count, alignment: 1)
        defer { buffer.deallocate() }
        chunk.withUnsafeBytes { src in
            if let s = src.baseAddress, let d = buffer.baseAddress, src.count > 0 { d.copyMemory(from: s, byteCount: src.count) }
        }
        var index = 0
        do {
            while true {
                let before = index
                let next = try assembler.next(buffer, &index)
                fuzzCheck(index >= before && index <= buffer.count, "index \(before) -> \(index) of \(buffer.count)")
                guard let message = next else {
                    fuzzCheck(index == buffer.count, "nil at \(index) of \(buffer.count)")
                    break
                }
                outcome.messages.append(fuzzCopy(message, buffer, maxMessageSize: maxMessageSize, allowsRSV1: allowsRSV1))
            }
        } catch {
            let code = error.closeCode.rawValue
            fuzzCheck(code == 1002 || code == 1007 || code == 1009, "close code \(code) for \(error)")
            outcome.violation = error
            return outcome
        }
    }
    return outcome
}

func fuzzCopy(_ m: InboundMessage, _ buffer: UnsafeMutableRawBufferPointer, maxMessageSize: Int, allowsRSV1: Bool) -> FuzzMessage {
    func bytes(_ p: MessagePayload) -> [UInt8] {
        if case .inPlace(let r) = p {
            fuzzCheck(r.lowerBound >= 0 && r.upperBound <= buffer.count, "range \(r) outside \(buffer.count)")
        }
        let b = p.withBytes(in: buffer) { Array($0) }
        fuzzCheck(b.count == p.count, "count mismatch")
        fuzzCheck(b.count <= maxMessageSize, "message of \(b.count) over limit \(maxMessageSize)")
        return b
    }
    switch m {
    case .text(let p):
        let b = bytes(p)
        // With RSV1 allowed a text message may be compressed: UTF-8 is only checkable after inflating.
        fuzzCheck(allowsRSV1 || String(validating: b, as: UTF8.self) != nil, "invalid UTF-8 text delivered: \(b)")
        return .text(b)
    case .binary(let p):
        return .binary(bytes(p))
    case .ping(let b):
        fuzzCheck(b.count <= 125, "ping of \(b.count)")
        return .ping(b)
    case .pong(let b):
        fuzzCheck(b.count <= 125, "pong of \(b.count)")
        return .pong(b)
    case .close(let code, let reason):
        if let code { fuzzCheck(CloseCode.isValidOnWire(code.rawValue), "close code \(code) delivered") }
        fuzzCheck(reason.utf8.count <= 123, "close reason of \(reason.utf8.count)")
        return .close(code?.rawValue, reason)
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func decoderFuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data, size > 0 else { return 0 }
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    let config = input[0]
    let maxMessageSize = fuzzLimits[Int(config & 0x0F)]
    let allowsRSV1 = config & 0x10 != 0

    let (chunks, stream) = fuzzChunks(input, from: 1)

    let chunked = fuzzAssemble(chunks, maxMessageSize: maxMessageSize, allowsRSV1: allowsRSV1)
    let whole = fuzzAssemble([stream[...]], maxMessageSize: maxMessageSize, allowsRSV1: allowsRSV1)
    fuzzCheck(chunked == whole, "chunked \(chunked) != whole \(whole)")
    return 0
}

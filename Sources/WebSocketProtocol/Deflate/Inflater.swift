import CZlib

/// Why an inbound compressed message could not be inflated.
public enum InflateError: Error, Equatable, Sendable {
    /// The message inflates to more than the limit (1009). Detected as soon as the output
    /// passes the limit: no more than limit + 1 bytes are ever allocated for it.
    case tooLarge
    /// Not valid raw deflate data (1007).
    case invalidData
    /// zlib could not allocate its window (1011).
    case outOfMemory

    public var closeCode: CloseCode {
        switch self {
        case .tooLarge: .messageTooBig
        case .invalidData: .invalidPayload
        case .outOfMemory: .internalError
        }
    }

    public var reason: String {
        switch self {
        case .tooLarge: "message too large"
        case .invalidData: "invalid compressed data"
        case .outOfMemory: "out of memory"
        }
    }
}

/// Raw-deflate decompressor for permessage-deflate messages (RFC 7692 §7.2.2), with a hard
/// output limit and an output buffer it owns and reuses.
///
/// zlib keeps pointers into its `z_stream` (its internal state points back at the stream),
/// so the stream must stay at one address from `inflateInit2` to `inflateEnd`. A Swift struct
/// may be moved or copied at any time, so the stream lives in memory allocated here and only
/// the pointer is stored; `deinit` ends and frees it. That is also why this is a class.
///
/// Not thread-safe: one event loop's thread uses an instance.
public final class Inflater {
    private let stream: UnsafeMutablePointer<z_stream>
    private var buffer: UnsafeMutableRawPointer?
    /// Bytes allocated for inflated output (kept between messages up to `retainedCapacity`).
    public private(set) var outputCapacity = 0
    /// The largest `outputCapacity` during the last `inflate` (what a bomb made us allocate).
    public private(set) var peakOutputCapacity = 0
    /// The stream ended with a final block; the next message needs a reset first.
    private var streamEnded = false

    /// Output buffers larger than this are freed after the message, so an idle connection
    /// (or loop) does not keep the memory of its largest message.
    static let retainedCapacity = 64 << 10

    /// The RFC 7692 §7.2.2 tail the sender removed: an empty stored block.
    private static let tail: [UInt8] = [0x00, 0x00, 0xFF, 0xFF]

    /// `windowBits` 8...15: the largest window the peer compresses with (15 accepts every peer).
    public init(windowBits: Int = 15) {
        precondition((8...15).contains(windowBits), "window bits \(windowBits)")
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        let rc = qv_inflateInit2(stream, -Int32(windowBits))
        precondition(rc == Z_OK, "inflateInit2 failed: \(rc)")
    }

    deinit {
        inflateEnd(stream)
        stream.deinitialize(count: 1)
        stream.deallocate()
        buffer?.deallocate()
    }

    /// Forgets the history (the LZ77 window): for messages compressed without context takeover.
    public func reset() {
        inflateReset(stream)
        streamEnded = false
    }

    /// Inflates one whole message (its payload as sent, without the tail) and passes the result
    /// to `body`; the bytes are valid only during the call. More than `limit` bytes of output
    /// throws `.tooLarge` as soon as the limit is crossed. With context takeover (no `reset`
    /// between messages), the history carries over to the next call.
    public func inflate<R>(_ input: UnsafeRawBufferPointer, limit: Int,
                           _ body: (UnsafeRawBufferPointer) -> R) throws(InflateError) -> R {
        precondition(limit >= 0, "negative limit")
        if streamEnded { restartKeepingHistory() }
        peakOutputCapacity = outputCapacity
        defer { releaseLargeBuffer() }
        var produced = 0
        do throws(InflateError) {
            try run(input, limit: limit, produced: &produced)
            if !streamEnded {
                let fed = Inflater.tail.withUnsafeBytes { t in
                    Result { () throws(InflateError) in try run(t, limit: limit, produced: &produced) }
                }
                try fed.get()
            }
        } catch {
            // Leave the stream usable for a shared inflater's next user.
            reset()
            throw error
        }
        return body(UnsafeRawBufferPointer(start: buffer, count: produced))
    }

    /// Feeds `input`, growing the output buffer (at most to limit + 1) as zlib needs room.
    private func run(_ input: UnsafeRawBufferPointer, limit: Int, produced: inout Int) throws(InflateError) {
        var remaining = input
        while true {
            if streamEnded {
                // A final block ended the stream; only the tail we add may follow it.
                guard remaining.isEmpty else { throw .invalidData }
                return
            }
            let chunk = min(remaining.count, Int(UInt32.max >> 1))
            stream.pointee.next_in = UnsafeMutablePointer(mutating: remaining.baseAddress?.assumingMemoryBound(to: Bytef.self))
            stream.pointee.avail_in = uInt(chunk)
            if produced == outputCapacity {
                guard produced <= limit else { throw .tooLarge }
                grow(toAtMost: min(limit, Int.max - 1) + 1, hint: input.count)
            }
            let room = outputCapacity - produced
            stream.pointee.next_out = buffer.map { ($0 + produced).assumingMemoryBound(to: Bytef.self) }
            stream.pointee.avail_out = uInt(min(room, Int(UInt32.max >> 1)))
            let before = Int(stream.pointee.avail_out)
            let rc = CZlib.inflate(stream, Z_SYNC_FLUSH)
            produced += before - Int(stream.pointee.avail_out)
            let consumed = chunk - Int(stream.pointee.avail_in)
            remaining = UnsafeRawBufferPointer(rebasing: remaining[consumed...])
            switch rc {
            case Z_OK, Z_BUF_ERROR:
                if produced > limit { throw .tooLarge }
                // Done when all input is in and zlib stopped with room to spare (it has
                // nothing pending); Z_BUF_ERROR with room left means no progress is possible.
                if remaining.isEmpty && stream.pointee.avail_out > 0 { return }
                if rc == Z_BUF_ERROR && stream.pointee.avail_out > 0 { throw .invalidData }
            case Z_STREAM_END:
                if produced > limit { throw .tooLarge }
                streamEnded = true
            case Z_MEM_ERROR:
                throw .outOfMemory
            default:   // Z_DATA_ERROR, Z_NEED_DICT
                throw .invalidData
            }
        }
    }

    /// Doubles the buffer (starting near 4x the compressed size), never past `cap`.
    private func grow(toAtMost cap: Int, hint: Int) {
        let wanted = outputCapacity == 0 ? max(4096, hint &* 4) : outputCapacity &* 2
        let capacity = min(cap, max(wanted, outputCapacity + 1))
        let new = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
        if let old = buffer {
            new.copyMemory(from: old, byteCount: outputCapacity)
            old.deallocate()
        }
        buffer = new
        outputCapacity = capacity
        peakOutputCapacity = max(peakOutputCapacity, capacity)
    }

    private func releaseLargeBuffer() {
        guard outputCapacity > Inflater.retainedCapacity else { return }
        buffer?.deallocate()
        buffer = nil
        outputCapacity = 0
    }

    /// After a final block (BFINAL) ended the deflate stream, a context-takeover peer still
    /// expects its earlier messages as history: restart the stream with that window.
    private func restartKeepingHistory() {
        var window = [UInt8](repeating: 0, count: 32 << 10)
        var length: uInt = 0
        let rc = window.withUnsafeMutableBufferPointer { inflateGetDictionary(stream, $0.baseAddress, &length) }
        inflateReset(stream)
        if rc == Z_OK && length > 0 {
            _ = window.withUnsafeBufferPointer { inflateSetDictionary(stream, $0.baseAddress, length) }
        }
        streamEnded = false
    }
}

import CSystem

#if canImport(Glibc)
import Glibc
#endif

/// What a connection still has to send, in order: its own bytes (appended to an owned tail
/// chunk) interleaved with shared sealed chunks. Flushed with one gathered `sendmsg`.
struct OutboundQueue {
    /// Chunks waiting; `chunks[head]` is partly sent up to `headOffset`.
    private var chunks: [ByteChunk] = []
    private var head = 0
    private var headOffset = 0
    /// Bytes queued and not yet sent.
    private(set) var byteCount = 0

    /// Largest iovec batch per sendmsg (the kernel's IOV_MAX is 1024; 64 covers any pass).
    static let maxIOVecs = 64
    /// First size of an owned tail chunk; it grows by doubling.
    static let initialTailCapacity = 2048

    var isEmpty: Bool { byteCount == 0 }

    /// The owned tail to append to, created on demand.
    @inline(__always)
    mutating func tail(reserving n: Int) -> ByteChunk {
        if let last = chunks.last, !last.isSealed {
            return last
        }
        let chunk = ByteChunk(capacity: max(n, OutboundQueue.initialTailCapacity))
        chunks.append(chunk)
        return chunk
    }

    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 0 else { return }
        tail(reserving: bytes.count).append(bytes)
        byteCount += bytes.count
    }

    /// Records `n` bytes that were written straight into `tail(reserving:)`.
    @inline(__always)
    mutating func didAppend(_ n: Int) { byteCount += n }

    /// Queues a sealed chunk by reference (no copy).
    mutating func append(shared chunk: ByteChunk) {
        precondition(chunk.isSealed, "only sealed chunks are shared")
        guard chunk.count > 0 else { return }
        chunks.append(chunk)
        byteCount += chunk.count
    }

    /// Queues the rest of a sealed chunk whose first `skip` bytes were already sent. Only the
    /// first chunk of an empty queue can be partly sent.
    mutating func append(shared chunk: ByteChunk, skipping skip: Int) {
        guard skip > 0 else {
            append(shared: chunk)
            return
        }
        precondition(byteCount == 0 && skip < chunk.count, "a partly sent chunk must come first")
        chunks.removeAll(keepingCapacity: true)
        head = 0
        chunks.append(chunk)
        headOffset = skip
        byteCount = chunk.count - skip
    }

    /// Drops every chunk behind the first, which stays whole: it may be partly sent, or held by
    /// a TLS write that must be retried with the same bytes. Returns the bytes dropped.
    mutating func discardAfterHead() -> Int {
        guard head + 1 < chunks.count else { return 0 }
        let kept = chunks[head].count - headOffset
        let dropped = byteCount - kept
        chunks.removeSubrange((head + 1)...)
        byteCount = kept
        return dropped
    }

    /// Drops everything queued (connection closing without flush).
    mutating func removeAll() {
        chunks = []
        head = 0
        headOffset = 0
        byteCount = 0
    }

    enum FlushResult {
        case drained
        case partial
    }

    /// Writes as much as the socket takes. `send` performs one gathered write.
    mutating func flush(_ send: (UnsafePointer<iovec>, Int) throws(SystemError) -> IOResult<Int>) throws(SystemError) -> FlushResult {
        while byteCount > 0 {
            let n = min(chunks.count - head, OutboundQueue.maxIOVecs)
            let result: IOResult<Int> = try withUnsafeTemporaryAllocation(of: iovec.self, capacity: n) { iov throws(SystemError) -> IOResult<Int> in
                for i in 0..<n {
                    let c = chunks[head + i]
                    let skip = i == 0 ? headOffset : 0
                    iov[i] = iovec(iov_base: c.base + skip, iov_len: c.count - skip)
                }
                // n >= 1 here (byteCount > 0 means a chunk is queued), so the allocation has an address.
                guard let base = iov.baseAddress else { return .wouldBlock }
                return try send(UnsafePointer(base), n)
            }
            switch result {
            case .wouldBlock:
                return .partial
            case .processed(let written):
                advance(by: written)
                if byteCount > 0 && written == 0 { return .partial }
            }
        }
        return .drained
    }

    private mutating func advance(by written: Int) {
        var left = written
        byteCount -= written
        while left > 0 {
            let c = chunks[head]
            let remaining = c.count - headOffset
            if left >= remaining {
                left -= remaining
                head += 1
                headOffset = 0
            } else {
                headOffset += left
                left = 0
            }
        }
        if head == chunks.count {
            // Everything sent: drop the chunks (a spare tail per idle connection would cost RSS)
            // but keep a small array, so a subscriber's next event does not allocate one again.
            chunks.removeAll(keepingCapacity: chunks.capacity <= 8)
            head = 0
        } else if head >= 32 && head * 2 >= chunks.count {
            chunks.removeFirst(head)
            head = 0
        }
    }
}

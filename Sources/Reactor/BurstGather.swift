#if canImport(Glibc)
import Glibc
#endif

/// The shared chunks one connection's burst borrowed (see `Connection.write(borrowed:)`),
/// as iovecs ready for one `sendmsg`. Nothing is retained: the caller keeps every chunk alive
/// until the burst ends, so a fan-out delivery that the kernel takes at once costs no
/// reference counting at all. One per loop, since only one connection bursts at a time.
struct BurstGather {
    static let capacity = OutboundQueue.maxIOVecs

    private let iov: UnsafeMutablePointer<iovec>
    /// Owner of each: the caller of `Connection.write(borrowed:)`, until the burst ends.
    private let chunks: UnsafeMutablePointer<Unretained<ByteChunk>>
    private(set) var count = 0
    private(set) var byteCount = 0

    init() {
        iov = .allocate(capacity: BurstGather.capacity)
        chunks = .allocate(capacity: BurstGather.capacity)
    }

    /// Called once, by the owning loop's deinit.
    func deallocate() {
        iov.deallocate()
        chunks.deallocate()
    }

    var isEmpty: Bool { count == 0 }
    var isFull: Bool { count == BurstGather.capacity }

    @inline(__always)
    mutating func append(_ chunk: Unretained<ByteChunk>) {
        precondition(count < BurstGather.capacity)
        let n = chunk.with { c in
            iov[count] = iovec(iov_base: c.base, iov_len: c.count)
            return c.count
        }
        chunks[count] = chunk
        count += 1
        byteCount += n
    }

    /// One gathered write of everything borrowed.
    func send(_ write: (UnsafePointer<iovec>, Int) throws(SystemError) -> IOResult<Int>) throws(SystemError) -> IOResult<Int> {
        try write(UnsafePointer(iov), count)
    }

    /// Moves what the kernel did not take (all of it when `written` is 0) into `queue`,
    /// retained there, and empties the gather.
    mutating func spill(into queue: inout OutboundQueue, skipping written: Int) {
        var skip = written
        for i in 0..<count {
            let chunk = chunks[i].object
            if skip >= chunk.count {
                skip -= chunk.count
                continue
            }
            queue.append(shared: chunk, skipping: skip)
            skip = 0
        }
        reset()
    }

    mutating func reset() {
        count = 0
        byteCount = 0
    }
}

/// A heap block of bytes at a fixed address, so it can sit in an `iovec` across a `sendmsg`.
///
/// Two uses: the growable tail of a connection's outbound queue (owned, appended to), and
/// sealed immutable bytes shared by many queues (one event framed once, queued to every
/// subscriber by reference). A sealed chunk is never written again, so sharing it across
/// event loops is safe. Outside this module the bytes are read-only (`bytes`); writes go
/// through `append`/`withUnsafeTail`, which refuse a sealed chunk.
// @unchecked: an unsealed chunk stays on one loop; a sealed one is never written again.
public final class ByteChunk: @unchecked Sendable {
    /// Mutable only inside the module (iovecs want a mutable pointer; nothing writes through it).
    private(set) var base: UnsafeMutableRawPointer
    public private(set) var capacity: Int
    public private(set) var count: Int
    public private(set) var isSealed: Bool

    public init(capacity: Int) {
        let cap = max(capacity, 16)
        self.base = UnsafeMutableRawPointer.allocate(byteCount: cap, alignment: 16)
        self.capacity = cap
        self.count = 0
        self.isSealed = false
    }

    /// Sealed copy of `bytes`, for sharing.
    public convenience init(sealing bytes: UnsafeRawBufferPointer) {
        self.init(capacity: bytes.count)
        append(bytes)
        isSealed = true
    }

    public convenience init(sealing bytes: [UInt8]) {
        self.init(capacity: bytes.count)
        bytes.withUnsafeBytes { append($0) }
        isSealed = true
    }

    deinit { base.deallocate() }

    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    public func seal() { isSealed = true }

    public var freeSpace: Int { capacity - count }

    /// Makes room for `extra` more bytes (doubling), so appends are amortised O(1).
    public func reserve(_ extra: Int) {
        precondition(!isSealed, "write to a sealed chunk")
        let needed = count + extra
        guard needed > capacity else { return }
        var newCap = max(capacity * 2, 256)
        while newCap < needed { newCap *= 2 }
        let newBase = UnsafeMutableRawPointer.allocate(byteCount: newCap, alignment: 16)
        newBase.copyMemory(from: base, byteCount: count)
        base.deallocate()
        base = newBase
        capacity = newCap
    }

    @inline(__always)
    public func append(_ src: UnsafeRawBufferPointer) {
        guard let s = src.baseAddress, src.count > 0 else { return }
        reserve(src.count)
        (base + count).copyMemory(from: s, byteCount: src.count)
        count += src.count
    }

    @inline(__always)
    public func append(byte: UInt8) {
        reserve(1)
        base.storeBytes(of: byte, toByteOffset: count, as: UInt8.self)
        count += 1
    }

    /// Lets a writer fill `maxBytes` directly; `body` returns how many it wrote.
    @inline(__always)
    public func withUnsafeTail(reserving maxBytes: Int, _ body: (UnsafeMutableRawBufferPointer) -> Int) {
        reserve(maxBytes)
        let written = body(UnsafeMutableRawBufferPointer(start: base + count, count: maxBytes))
        precondition(written >= 0 && written <= maxBytes)
        count += written
    }
}

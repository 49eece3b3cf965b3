import CSystem

/// A counter with one slot per event loop, each on its own cache line: a loop adds to its
/// own slot with a relaxed load and store (it is the only writer, so no read-modify-write,
/// no lock, no shared line bouncing between cores), and a scrape from any thread sums the
/// slots. A sum read while loops count is a value the counter had recently, never torn.
// @unchecked: each slot has one writer (its loop, asserted) and is only ever accessed with
// relaxed atomics (the `cgw_atomic_*` box), so concurrent reads are defined.
public final class PerLoopCounter: @unchecked Sendable {
    public let name: String
    public let loops: Int
    /// Words per slot: 64 bytes, a cache line on x86-64 and most arm64 cores.
    private static let stride = 8
    private let slots: UnsafeMutablePointer<UInt64>

    /// A counter for loops with indices `0..<loops` (an `EventLoopGroup`'s).
    public init(name: String, loops: Int) {
        precondition(loops >= 1)
        self.name = name
        self.loops = loops
        let raw = UnsafeMutableRawPointer.allocate(byteCount: loops * PerLoopCounter.stride * 8, alignment: 64)
        slots = raw.initializeMemory(as: UInt64.self, repeating: 0, count: loops * PerLoopCounter.stride)
    }

    deinit { slots.deallocate() }

    /// Adds `n` for `loop`. Only on `loop`'s thread (its slot has no other writer).
    @inline(__always)
    public func add(_ n: UInt64 = 1, on loop: EventLoop) {
        loop.assertInLoop()
        let p = slot(loop.index)
        cgw_atomic_store_relaxed(p, cgw_atomic_load_relaxed(p) &+ n)
    }

    /// One loop's count (any thread).
    public func value(loop index: Int) -> UInt64 { cgw_atomic_load_relaxed(slot(index)) }

    /// The sum over every loop (any thread).
    public var total: UInt64 {
        var sum: UInt64 = 0
        for i in 0..<loops { sum &+= cgw_atomic_load_relaxed(slot(i)) }
        return sum
    }

    @inline(__always)
    private func slot(_ index: Int) -> UnsafeMutablePointer<UInt64> {
        precondition(index >= 0 && index < loops, "loop index outside the counter")
        return slots + index * PerLoopCounter.stride
    }
}

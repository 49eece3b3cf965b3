/// Where a connection lives in its loop's slab, plus a generation that changes every time the
/// slot is reused. Packed into `epoll_event.data`, it lets the loop skip stale events for a
/// connection closed earlier in the same pass (SwiftNIO's registration id, nginx's `instance`).
public struct ConnectionID: Hashable, Sendable, CustomStringConvertible {
    public let slot: UInt32
    public let generation: UInt32

    @inline(__always) var packed: UInt64 { UInt64(generation) << 32 | UInt64(slot) }

    @inline(__always) init(slot: UInt32, generation: UInt32) {
        self.slot = slot
        self.generation = generation
    }

    @inline(__always) init(packed: UInt64) {
        self.slot = UInt32(truncatingIfNeeded: packed)
        self.generation = UInt32(truncatingIfNeeded: packed >> 32)
    }

    public var description: String { "\(slot).\(generation)" }
}

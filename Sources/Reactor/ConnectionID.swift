/// Where a connection lives in its loop's slab, plus a generation that changes every time the
/// slot is reused. Packed into `epoll_event.data` (see `EventToken`), it lets the loop skip
/// stale events for a connection closed earlier in the same pass (SwiftNIO's registration id,
/// nginx's `instance`).
public struct ConnectionID: Hashable, Sendable, CustomStringConvertible {
    public let slot: UInt32
    /// Below `ConnectionID.generationLimit`; wraps to 0 after it.
    public let generation: UInt32

    /// Generations count modulo this (2^30): the token's other bits name its kind.
    public static let generationLimit = UInt32(EventToken.generationMask) + 1

    @inline(__always) var packed: UInt64 { EventToken(.connection, slot: slot, generation: generation).raw }

    @inline(__always) init(slot: UInt32, generation: UInt32) {
        self.slot = slot
        self.generation = generation
    }

    @inline(__always) init(packed: UInt64) {
        let token = EventToken(raw: packed)
        self.slot = token.slot
        self.generation = token.generation
    }

    public var description: String { "\(slot).\(generation)" }
}

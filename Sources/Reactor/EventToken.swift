/// The 64 bits the loop keeps in `epoll_event.data`: `kind` (2 bits) | `generation` (30 bits) |
/// `slot` (32 bits). The kind has bits of its own, so no connection's generation, however
/// often its slot is reused, can ever read as the loop's own token or a watch (before, a
/// generation reaching 2^31 set the loop's tag bit and its events were dropped while
/// level-triggered epoll spun). Generations wrap within their 30 bits; a stale event needs
/// its slot reused 2^30 times within one pass to slip through.
struct EventToken: Equatable {
    enum Kind: UInt64 {
        case connection = 0
        /// The loop's own fds: slot 0 is the wake eventfd, slot i + 1 listener i.
        case loop = 1
        case watch = 2
    }

    static let generationMask: UInt32 = (1 << 30) - 1

    let raw: UInt64

    @inline(__always) init(raw: UInt64) { self.raw = raw }

    @inline(__always) init(_ kind: Kind, slot: UInt32, generation: UInt32) {
        assert(generation <= EventToken.generationMask, "generation outside its 30 bits")
        raw = kind.rawValue << 62 | UInt64(generation & EventToken.generationMask) << 32 | UInt64(slot)
    }

    /// The one check per event on the connection path.
    @inline(__always) var isConnection: Bool { raw >> 62 == Kind.connection.rawValue }
    @inline(__always) var kind: Kind? { Kind(rawValue: raw >> 62) }
    @inline(__always) var slot: UInt32 { UInt32(truncatingIfNeeded: raw) }
    @inline(__always) var generation: UInt32 { UInt32(truncatingIfNeeded: raw >> 32) & EventToken.generationMask }

    /// The generation a slot gets on reuse: wraps within 30 bits.
    @inline(__always) static func next(_ generation: UInt32) -> UInt32 { (generation &+ 1) & generationMask }
}

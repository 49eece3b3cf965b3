import CSystem

/// The one box for references the hot path reads without reference counting.
///
/// **Lifetime rule** (stated here once, for every use): an `Unretained` never keeps its object
/// alive. Whoever stores one must name, where it is stored, the owner that keeps the object
/// alive for at least as long as the `Unretained` is used — the loop's slab for connections,
/// a connection for its handler, a session for its subscriptions, a hub's batch for the
/// events of a pass. Reading it after that owner let go is a use after free; AddressSanitizer
/// (`swift test --sanitize=address`) is how the suite checks the rule holds.
///
/// Why not `unowned(unsafe)`: the same cost, but the rule would be restated at every field and
/// `_withUnsafeGuaranteedRef` (no retain/release around a call, a sixth of the CPU at 1M
/// deliveries/s) would be spelled out at every use.
@frozen
public struct Unretained<Object: AnyObject>: @unchecked Sendable {
    // @unchecked: carrying the address across threads is fine; dereferencing it follows the
    // object's own thread rules and the lifetime rule above.
    @usableFromInline let ref: Unmanaged<Object>

    @inlinable @inline(__always)
    public init(_ object: Object) { ref = .passUnretained(object) }

    /// The object (a +0 load: the compiler may retain it for the caller's scope).
    @inlinable @inline(__always)
    public var object: Object { ref.takeUnretainedValue() }

    /// Runs `body` with the object and no retain/release around it.
    @inlinable @inline(__always)
    public func with<R>(_ body: (Object) throws -> R) rethrows -> R {
        try ref._withUnsafeGuaranteedRef(body)
    }

    /// Asks the CPU to start loading the object's first `bytes` (a hint; never faults).
    @inlinable @inline(__always)
    public func prefetch(bytes: Int = 192) { cgw_prefetch(UnsafeRawPointer(ref.toOpaque()), bytes) }
}

/// A strong reference counted once, when it is made, and released once, by `release()`:
/// reading it costs no reference counting. For an owner that must keep an object alive and
/// reads it on every event (a WebSocket holding its connection). The owner calls `release()`
/// exactly once, in its `deinit`.
@frozen
public struct Retained<Object: AnyObject> {
    // Not Sendable: the owner releases it on its own thread, once.
    @usableFromInline let ref: Unmanaged<Object>

    @inlinable
    public init(_ object: Object) { ref = .passRetained(object) }

    @inlinable @inline(__always)
    public var object: Object { ref.takeUnretainedValue() }

    @inlinable @inline(__always)
    public func with<R>(_ body: (Object) throws -> R) rethrows -> R {
        try ref._withUnsafeGuaranteedRef(body)
    }

    /// Gives the reference back; the owner's `deinit` calls it exactly once.
    @inlinable
    public func release() { ref.release() }
}

import Synchronization

/// The one drain switch of a process (SIGTERM): once `begin()` is called, `/readyz` answers
/// 503, new WebSocket upgrades and keep-alive are refused, and the gateway's HTTP publish answers
/// 503 (the server and the gateway both read it). Any thread.
public final class DrainCoordinator: Sendable {
    private let draining = Atomic<Bool>(false)

    public init() {}

    public var isDraining: Bool { draining.load(ordering: .relaxed) }

    /// Starts the drain; later calls do nothing.
    public func begin() {
        draining.store(true, ordering: .relaxed)
    }
}

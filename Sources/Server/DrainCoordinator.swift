import Synchronization

/// The one drain switch of a process (SIGTERM): once `begin()` is called, `/readyz` answers
/// 503, new WebSocket upgrades and keep-alive are refused, and every action registered with
/// `onDrain` runs once (the gateway's HTTP publish turns to 503, the loops start closing).
/// Any thread.
public final class DrainCoordinator: Sendable {
    private let draining = Atomic<Bool>(false)
    private let actions = Mutex<[@Sendable () -> Void]>([])

    public init() {}

    public var isDraining: Bool { draining.load(ordering: .relaxed) }

    /// Runs `action` when the drain begins (at once if it has already).
    public func onDrain(_ action: @escaping @Sendable () -> Void) {
        let runNow = actions.withLock { list -> Bool in
            if draining.load(ordering: .acquiring) { return true }
            list.append(action)
            return false
        }
        if runNow { action() }
    }

    /// Starts the drain; later calls do nothing.
    public func begin() {
        let toRun = actions.withLock { list -> [@Sendable () -> Void] in
            guard !draining.exchange(true, ordering: .acquiringAndReleasing) else { return [] }
            defer { list = [] }
            return list
        }
        for action in toRun { action() }
    }
}

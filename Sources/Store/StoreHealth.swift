import Log
import Synchronization

/// `isUp`, and its transitions logged once each (not every failing second): unavailable
/// failures set it false, successes true. Any thread.
final class StoreHealth: Sendable {
    private let up = Atomic<Bool>(true)
    private let logger: Logger

    init(logger: Logger) { self.logger = logger }

    var isUp: Bool { up.load(ordering: .acquiring) }

    func record<T>(_ result: Result<T, StoreError>) {
        switch result {
        case .success:
            if !up.exchange(true, ordering: .acquiringAndReleasing) { logger.notice("store up again", []) }
        case .failure(.unavailable(let reason)):
            if up.exchange(false, ordering: .acquiringAndReleasing) { logger.warning("store down", [("reason", reason)]) }
        case .failure:
            break   // the database answered: a refused write or a bad query says nothing of reachability
        }
    }
}

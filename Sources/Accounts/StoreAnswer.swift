import Gateway
import Log
import Store

/// What a client is told when the store fails a request, for every module's methods: −32013
/// `busy` (queue full) or `unavailable` (down, timed out) — try again — or −32603 for a failure
/// that is a bug or a damaged database, logged with the method (never with values).
public enum StoreAnswer {
    public static let busy = RPCError(code: RPCError.unavailableCode, reason: "busy", message: "the server is busy; try again shortly")

    /// A store transaction for `call`, on its loop: `then` with the value, or the call answered
    /// with the failure.
    public static func transaction<T: Sendable>(_ call: RPCCall, _ store: Store, logger: Logger, write: Bool = true,
                                                _ body: @escaping @Sendable (any SQLConnection) throws(StoreError) -> T,
                                                then: @escaping (T) -> Void) {
        store.transaction(on: call.client.loop, write: write, body) { result in
            switch result {
            case .success(let v): then(v)
            case .failure(let e): call.fail(error(e, logger: logger, method: call.method))
            }
        }
    }

    public static func error(_ e: StoreError, logger: Logger, method: String) -> RPCError {
        switch e {
        case .busy: return busy
        case .unavailable: return .unavailable("the store is unavailable; try again shortly")
        case .uniqueViolation, .retryable, .invalid:
            logger.error("store error", [("method", method), ("error", "\(e)")])
            return .internalError()
        }
    }
}

import Reactor
import Synchronization

/// The way back for a deferred HTTP answer. `respond` may be called from any thread; the
/// answer hops to the connection's loop and goes out if the connection is still waiting for
/// exactly this request (the peer may have left, or the timeout answered already: then it is
/// dropped). Only the first call counts.
public final class HTTPResponder: Sendable {
    private let loop: EventLoop
    private let connectionID: ConnectionID
    /// Which request of the connection this answers (a slot reused by a new connection, or a
    /// later request on the same one, never takes it).
    let sequence: Int
    private let answered = Atomic<Bool>(false)

    init(loop: EventLoop, connectionID: ConnectionID, sequence: Int) {
        self.loop = loop
        self.connectionID = connectionID
        self.sequence = sequence
    }

    /// Whether an answer was given (or the request timed out).
    public var isAnswered: Bool { answered.load(ordering: .acquiring) }

    public func respond(_ response: HTTPResponse) {
        guard !answered.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let loop = self.loop
        let id = connectionID
        let sequence = self.sequence
        // Always through the task queue, even on the loop thread: the handler that called us
        // may still be on the stack.
        loop.execute {
            guard let connection = loop.connection(id), let http = connection.handler as? HTTPConnection else { return }
            http.deliverDeferred(response, sequence: sequence)
        }
    }

    /// The timeout answered instead; a later `respond` is ignored.
    func expire() -> Bool {
        !answered.exchange(true, ordering: .acquiringAndReleasing)
    }
}

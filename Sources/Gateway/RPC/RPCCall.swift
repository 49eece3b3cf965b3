import JSON
import Log
import Reactor
import Synchronization

/// One request being handled. The handler answers exactly once with `succeed` or `fail`, on the
/// session's event loop thread (work done elsewhere answers through `deferred()`). A
/// notification's answer is dropped, as JSON-RPC says. What the handler may do with its
/// connection is `client`; the session itself stays inside the gateway.
public final class RPCCall {
    public let request: RPCRequest
    let session: GatewaySession
    private let collector: ReplyCollector
    private var answered = false

    init(request: RPCRequest, session: GatewaySession, collector: ReplyCollector) {
        self.request = request
        self.session = session
        self.collector = collector
    }

    public var method: String { request.method }
    /// The connection this request came on: identity, loop, notifications.
    public var client: ClientContext { ClientContext(session: session) }
    public var params: JSONObject { request.params ?? JSONObject() }

    public func succeed(_ result: JSONValue) {
        succeed { $0.write(result) }
    }

    /// Answers with a result written straight to the response (no intermediate JSONValue).
    public func succeed(writing result: (inout JSONWriter) -> Void) {
        guard begin() else { return }
        collector.add(request.id.map { RPCResponse.success(id: $0, result) })
    }

    public func fail(_ error: RPCError) {
        guard begin() else { return }
        collector.add(request.id.map { RPCResponse.failure(id: $0, error) })
    }

    /// A notification that is not executed (nothing is answered to a notification anyway):
    /// only its place in the batch is released.
    func ignore() {
        guard begin() else { return }
        collector.add(nil)
    }

    /// Runs `action` once this call's answer (the whole batch's, in a batch) is queued: e.g. a
    /// subscription starts delivering only after the client has read its answer.
    public func afterReply(_ action: @escaping () -> Void) {
        collector.afterReply.append(action)
    }

    /// For work done off the loop (a database query): a token any thread may answer with; the
    /// answer is carried back to the session's loop. The loop never waits for it.
    public func deferred() -> DeferredAnswer {
        DeferredAnswer(call: self, loop: session.eventLoop)
    }

    private func begin() -> Bool {
        session.assertInLoop()
        guard !answered else {
            assertionFailure("\(request.method) answered twice")
            return false
        }
        answered = true
        return true
    }
}

/// Gathers the answers of one message: a single request's, or every entry of a batch, which
/// go out together as one array once the last entry is answered.
final class ReplyCollector {
    private let isBatch: Bool
    private var outstanding: Int
    private var parts: [[UInt8]] = []
    var afterReply: [() -> Void] = []
    private unowned let session: GatewaySession

    init(session: GatewaySession, entries: Int, isBatch: Bool) {
        self.session = session
        self.outstanding = entries
        self.isBatch = isBatch
    }

    /// One entry's answer (nil for a notification).
    func add(_ response: [UInt8]?) {
        if let response { parts.append(response) }
        outstanding -= 1
        guard outstanding == 0 else { return }
        if !parts.isEmpty {
            if isBatch {
                var out: [UInt8] = [UInt8(ascii: "[")]
                out.reserveCapacity(parts.reduce(2) { $0 + $1.count + 1 })
                for (i, p) in parts.enumerated() {
                    if i > 0 { out.append(UInt8(ascii: ",")) }
                    out.append(contentsOf: p)
                }
                out.append(UInt8(ascii: "]"))
                session.sendReply(out)
            } else {
                session.sendReply(parts[0])
            }
        }
        parts = []
        let actions = afterReply
        afterReply = []
        for action in actions { action() }
    }
}

/// Answers an `RPCCall` from any thread (see `RPCCall.deferred`). The call itself never leaves
/// its loop: the token only carries it across, and it is touched again on that loop.
// @unchecked: `call` is not Sendable but is only touched inside tasks run on its own `loop`.
public final class DeferredAnswer: @unchecked Sendable {
    // Only dereferenced inside tasks that run on `loop` (the call's own thread).
    private let call: RPCCall
    private let loop: EventLoop
    private let answered = Atomic<Bool>(false)

    init(call: RPCCall, loop: EventLoop) {
        self.call = call
        self.loop = loop
    }

    public func succeed(_ result: JSONValue) {
        guard claim() else { return }
        nonisolated(unsafe) let call = self.call   // touched on its loop only (inside the task)
        loop.execute { call.succeed(result) }
    }

    public func fail(_ error: RPCError) {
        guard claim() else { return }
        nonisolated(unsafe) let call = self.call
        loop.execute { call.fail(error) }
    }

    private func claim() -> Bool {
        !answered.exchange(true, ordering: .acquiringAndReleasing)
    }

    /// A token dropped unanswered (a handler bug, a lost callback) still answers: -32603, so
    /// the client is never left waiting and a batch is never stuck.
    deinit {
        guard !answered.load(ordering: .acquiring) else { return }
        nonisolated(unsafe) let call = self.call   // touched on its loop only (inside the task)
        loop.execute {
            call.session.logger.error("a deferred call was never answered", [("method", call.method)])
            call.fail(.internalError("the request was lost inside the gateway"))
        }
    }
}

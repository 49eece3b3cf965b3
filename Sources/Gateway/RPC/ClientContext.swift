import JSON
import Reactor
import WebSocketProtocol

/// What a method handler may do with the connection it serves, on that connection's loop
/// (not Sendable: work done elsewhere answers through `RPCCall.deferred()`).
public struct ClientContext {
    let session: GatewaySession

    /// Who the connection is now.
    public var role: Role { session.role }

    /// The access token's session and expiry (users authenticated with a token).
    public var grant: AccessGrant? { session.grant }

    /// The TCP peer's address, without the port.
    public var peerAddress: String { session.peerAddress }

    /// The upgrade request's `X-Forwarded-For` values (empty when it had none).
    public var forwardedFor: [String] { session.forwardedFor }

    /// The loop the connection lives on (completions and deferred answers come back to it).
    public var loop: EventLoop { session.eventLoop }

    /// Open and not closing.
    public var isOpen: Bool { session.isActive }

    /// The connection's id, for log lines.
    public var connectionID: String { session.connectionID }

    /// Sends `{"jsonrpc":"2.0","method":M,"params":P}` to this client (it counts toward the
    /// outgoing bound like answers).
    public func notify(_ method: String, _ params: JSONValue) {
        session.notify(method, params)
    }

    /// Logs the connection in as another user, or out (`.anonymous`): the session registry
    /// follows, and `portfolio:` subscriptions of the earlier user end with an `unsubscribed`
    /// notification (reason `identity_changed` or `logged_out`).
    /// `grant`: the access token's session and expiry, whose schedule (`auth.expiring`, the
    /// 4001 close) restarts from it; a new token of the same user keeps the subscriptions.
    public func changeIdentity(to role: Role, grant: AccessGrant? = nil) {
        session.changeIdentity(to: role, grant: grant)
    }

    /// Closes this connection (e.g. 4001 when its session is revoked).
    public func close(_ code: CloseCode, reason: String) {
        session.close(code, reason: reason)
    }
}

import Reactor
import WebSocketProtocol

/// The gateway's sockets by user and by access-token session (`sid`), so a revocation (logout
/// elsewhere, a reused refresh token, a changed password) can find and close them. Any thread may ask; each loop's sessions are touched
/// only on that loop (the request travels to every loop as a task).
public final class SessionRegistry: Sendable {
    private let tables: [LoopSessions]

    init(loops: Int) {
        tables = (0..<max(1, loops)).map { _ in LoopSessions() }
    }

    func attach(_ loops: [EventLoop]) {
        precondition(loops.count == tables.count, "one session table per event loop")
        for (table, loop) in zip(tables, loops) { table.loop = loop }
    }

    /// Closes every socket of `user`, on every loop, with `code` (e.g. 4001) and `reason`.
    /// Returns at once; the closes happen on the sockets' loops within their next pass.
    public func close(user: String, code: CloseCode, reason: String) {
        for table in tables {
            guard let loop = table.loop else { continue }
            loop.execute {
                for session in table.sessions(of: user) { session.close(code, reason: reason) }
            }
        }
    }

    /// Closes every socket authenticated with access-token session `sessionID`, on every loop
    /// (a socket that logged out first has left the index and stays open).
    public func close(session sessionID: String, code: CloseCode, reason: String) {
        for table in tables {
            guard let loop = table.loop else { continue }
            loop.execute {
                for session in table.bySession[sessionID] ?? [] { session.close(code, reason: reason) }
            }
        }
    }

    /// Calls `body` on each loop's thread with how many sockets `user` has there (metrics, tests).
    public func count(user: String, _ body: @escaping @Sendable (Int) -> Void) {
        for table in tables {
            guard let loop = table.loop else { continue }
            loop.execute { body(table.sessions(of: user).count) }
        }
    }

    // MARK: Loop thread (the session's)

    func enter(_ session: GatewaySession, user: String, session sessionID: String?, loop: Int) {
        let table = tables[loop]
        table.byUser[user, default: []].append(session)
        if let sessionID { table.bySession[sessionID, default: []].append(session) }
    }

    func leave(_ session: GatewaySession, user: String, session sessionID: String?, loop: Int) {
        let table = tables[loop]
        LoopSessions.remove(session, at: user, from: &table.byUser)
        if let sessionID { LoopSessions.remove(session, at: sessionID, from: &table.bySession) }
    }
}

/// One loop's sessions by user.
// @unchecked: `byUser` is touched only on `loop`'s thread; `loop` is set before the loop starts.
final class LoopSessions: @unchecked Sendable {
    var loop: EventLoop?
    /// Strong: a session leaves in `webSocketDidClose` (or when its identity changes).
    var byUser: [String: [GatewaySession]] = [:]
    /// The same sessions by access-token session id (users authenticated with a token).
    var bySession: [String: [GatewaySession]] = [:]

    static func remove(_ session: GatewaySession, at key: String, from index: inout [String: [GatewaySession]]) {
        guard var list = index[key], let i = list.firstIndex(where: { $0 === session }) else { return }
        list.swapAt(i, list.count - 1)
        list.removeLast()
        index[key] = list.isEmpty ? nil : list
    }

    func sessions(of user: String) -> [GatewaySession] { byUser[user] ?? [] }
}

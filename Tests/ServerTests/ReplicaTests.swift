#if canImport(Glibc)
import Glibc
#endif
import Accounts
import Gateway
import JSON
import TestSupport
import Testing

/// Replicas as a whole (contract 2d): revocations everywhere, portfolio events through the
/// shared log, and separate `quantumvest serve` processes on one Redis.
@Suite("Replicas")
struct ReplicaTests {
    static let secret = String(repeating: "r", count: 40)
    static let password = "correct horse battery"

    static func user(_ g: TestGateway, _ email: String, register: Bool = true) throws -> (RPCClient, String) {
        let c = try g.client()
        if register { _ = try c.call("auth.register", "{\"email\":\"\(email)\",\"password\":\"\(password)\"}", timeoutMs: 15_000) }
        let login = try c.call("auth.login", "{\"email\":\"\(email)\",\"password\":\"\(password)\"}", timeoutMs: 15_000)
        return (c, try #require(login.result?["accessToken"]?.stringValue, "\(login.value)"))
    }

    /// The store's poll is set to a minute: only the signal through Redis can close the socket in time.
    @Test func aLogoutOnOneReplicaClosesTheSessionsSocketOnAnotherWithinASecond() throws {
        let backend = try TestStore.postgres.backend()
        let r = try Replicas(.redis, store: backend, accounts: { $0.jwtSecret = Self.secret; $0.revocationPoll = 60_000 })
        defer { r.stop() }
        for round in 0..<3 {
            let (c, token) = try Self.user(r.a, "rev\(round)@example.com")
            defer { c.close() }
            let remote = try r.b.client(headers: ["Authorization: Bearer \(token)"])
            defer { remote.close() }
            #expect(try remote.call("auth.me").result?["email"] == .string("rev\(round)@example.com"))
            let start = ContinuousClock.now
            #expect(try c.call("auth.logout").result?["loggedOut"] == .bool(true))
            let close = try remote.awaitCloseFrame(timeoutMs: 3_000)
            #expect(close.closeCode == 4001)
            #expect(millis(since: start) < 1_000, "closed after \(millis(since: start)) ms")
        }
    }

    @Test func portfolioEventsGoThroughTheSharedLogAndRecoverOnAnyReplica() throws {
        let backend = try TestStore.postgres.backend()
        let r = try Replicas(.redis, store: backend, accounts: { $0.jwtSecret = Self.secret })
        defer { r.stop() }
        let (owner, token) = try Self.user(r.a, "pf@example.com")
        defer { owner.close() }
        let made = try owner.call("portfolio.create", #"{"name":"Main"}"#)
        let id = try #require(made.result?["portfolioId"]?.stringValue, "\(made.value)")
        let watcher = try r.b.client(headers: ["Authorization: Bearer \(token)"])
        defer { watcher.close() }
        let answer = try watcher.call("subscribe", "{\"channel\":\"portfolio:\(id)\"}")
        let epoch = try #require(answer.result?["epoch"]?.stringValue, "\(answer.value)")
        for (i, q) in ["10", "5", "2"].enumerated() {
            let add = try owner.call("portfolio.addTransaction",
                                     "{\"portfolioId\":\"\(id)\",\"symbol\":\"AAPL\",\"side\":\"buy\",\"quantity\":\"\(q)\",\"price\":\"100\",\"clientOrderId\":\"o\(i)\"}")
            #expect(add.result != nil, "\(add.value)")
        }
        // Both replicas' relays drain the same outbox: every event once, in order.
        try watcher.waitForEvents(3, timeoutMs: 10_000)
        watcher.drain(forMs: 1_500)
        let events = watcher.takeEvents()
        #expect(events.map(\.seq) == [1, 2, 3])
        #expect(events.allSatisfy { $0.params?["epoch"]?.stringValue == epoch })
        // A phone that saw seq 1 on b comes back on a.
        let phone = try r.a.client(headers: ["Authorization: Bearer \(token)"])
        defer { phone.close() }
        let back = try phone.call("subscribe", "{\"channel\":\"portfolio:\(id)\",\"since\":{\"epoch\":\"\(epoch)\",\"seq\":1}}")
        #expect(back.result?["recovered"] == .bool(true))
        try phone.waitForEvents(2)
        #expect(phone.takeEvents().map(\.seq) == [2, 3])
    }

    @Test func aRedisThatMayEvictTheGatewaysKeysIsWarnedAboutAtStart() throws {
        let redis = try RedisServer.start(extraConfig: ["--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru"])
        defer { redis.destroy() }
        let exe = try #require(quantumvestExecutable())
        let child = try ChildProcess(exe, ["serve", "--port", "0", "--log-level", "warning", "--data-dir", try TemporaryDirectory.make(prefix: "qv-rep"),
                                           "--redis", redis.url])
        _ = try #require(child.readLine(timeoutMs: 15_000))
        child.signal(SIGTERM)
        _ = child.waitForExit(timeoutMs: 5_000)
        let err = child.readAll(timeoutMs: 1_000).stderr
        #expect(err.contains("Redis may evict the gateway's channel keys"), "\(err)")
        #expect(err.contains("allkeys-lru"))
    }

    @Test func separateProcessesBehaveAsOne() throws {
        let redis = try RedisServer.start()
        defer { redis.destroy() }
        let exe = try #require(quantumvestExecutable())
        func serve() throws -> (ChildProcess, Int) {
            let child = try ChildProcess(exe, ["serve", "--port", "0", "--threads", "2", "--log-level", "warning",
                                               "--data-dir", try TemporaryDirectory.make(prefix: "qv-rep"),
                                               "--redis", redis.url, "--publisher-key", testPublisherKey])
            let line = try #require(child.readLine(timeoutMs: 15_000), "no 'listening on' line: \(child.readAll(timeoutMs: 500))")
            return (child, try #require(Int(line.dropFirst("listening on 127.0.0.1:".count)), "\(line)"))
        }
        let processes = try (0..<3).map { _ in try serve() }
        defer { for (p, _) in processes { p.signal(SIGTERM); _ = p.waitForExit(timeoutMs: 5_000) } }
        let subs = try processes.map { try RPCClient(TCPClient.webSocket(port: $0.1, path: "/ws")) }
        defer { for s in subs { s.close() } }
        for s in subs { #expect(try s.call("subscribe", #"{"channel":"prices:PROC"}"#).result != nil) }
        let pubs = try processes.map {
            try RPCClient(TCPClient.webSocket(port: $0.1, path: "/ws", extraHeaders: ["Authorization: Bearer \(testPublisherKey)"]))
        }
        defer { for p in pubs { p.close() } }
        var positions: [Int64] = []
        for i in 0..<30 {
            let a = try pubs[i % 3].publish("prices:PROC", priceJSON("PROC", "\(i + 1)"))
            positions.append(try #require(a.result?["seq"]?.numberValue?.int64, "\(a.value)"))
        }
        #expect(positions == (1...30).map { Int64($0) })
        for s in subs {
            try s.waitForEvents(30)
            s.drain(forMs: 100)
            #expect(s.takeEvents().map(\.seq) == positions)
        }
        // The idempotent retry on another process publishes nothing new.
        let first = try pubs[0].publish("prices:PROC", priceJSON("PROC", "1"), key: "proc-key")
        let retry = try pubs[2].publish("prices:PROC", priceJSON("PROC", "2"), key: "proc-key")
        #expect(retry.result == first.result)
    }
}

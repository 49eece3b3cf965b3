import Accounts
import JSON
import Testing

/// Contract 2a's limits through real sockets. Peers are told apart by `X-Forwarded-For` behind
/// a trusted proxy (every test client connects from 127.0.0.1, the "proxy").
@Suite("Login and registration limits (2a)")
struct AuthLimitsTests {
    func gateway(_ store: TestStore, _ adjust: (inout AccountsConfiguration) -> Void = { _ in }) throws -> TestGateway {
        try TestGateway(store: try store.backend(), accounts: { a in
            a.jwtSecret = "0123456789abcdef0123456789abcdef-test"
            a.trustedProxies = ["127.0.0.0/8"]
            adjust(&a)
        })
    }

    func client(_ g: TestGateway, peer: String) throws -> RPCClient {
        try g.client(headers: ["X-Forwarded-For: \(peer)"])
    }

    func login(_ c: RPCClient, _ email: String, _ password: String = "correct horse battery") throws -> Incoming {
        try c.call("auth.login", #"{"email":"\#(email)","password":"\#(password)"}"#, timeoutMs: 15_000)
    }

    func register(_ c: RPCClient, _ email: String) throws -> Incoming {
        try c.call("auth.register", #"{"email":"\#(email)","password":"correct horse battery"}"#, timeoutMs: 15_000)
    }

    func retryAfter(_ m: Incoming) -> Int64 { m.error?["data"]?["retryAfterMs"]?.numberValue?.int64 ?? -1 }

    @Test(arguments: TestStore.allCases)
    func tenRegistrationsPerPeerAMinute(_ store: TestStore) throws {
        let g = try gateway(store)
        defer { g.stop() }
        let p = try client(g, peer: "203.0.113.1")
        for i in 0..<10 { #expect(try register(p, "r\(i)@example.com").result != nil, "registration \(i)") }
        let refused = try register(p, "r10@example.com")
        #expect(refused.errorCode == -32029)
        #expect(refused.errorReason == "too_many_attempts")
        #expect((1...60_000).contains(retryAfter(refused)))
        // Another peer is not affected; the refused email was not taken.
        let q = try client(g, peer: "203.0.113.2")
        #expect(try register(q, "r10@example.com").result?["email"] == .string("r10@example.com"))
    }

    /// 30 failed logins from one peer in a minute (any emails): that peer is refused, even with
    /// a correct password; another peer is not.
    @Test(arguments: TestStore.allCases)
    func thirtyFailuresFromOnePeer(_ store: TestStore) throws {
        let g = try gateway(store)
        defer { g.stop() }
        let setup = try client(g, peer: "198.51.100.9")
        #expect(try register(setup, "peer@example.com").result != nil)
        let p = try client(g, peer: "198.51.100.1")
        for i in 0..<30 { #expect(try login(p, "nobody\(i)@example.com", "wrong password!").errorReason == "invalid_credentials", "\(i)") }
        let refused = try login(p, "peer@example.com")
        #expect(refused.errorReason == "too_many_attempts")
        #expect((1...60_000).contains(retryAfter(refused)))
        #expect(try login(client(g, peer: "198.51.100.2"), "peer@example.com").result?["accessToken"] != nil)
    }

    /// 5 failures for one email from one peer lock that pair; 50 from all peers lock the email
    /// everywhere; a success clears only its own peer's failures.
    @Test(arguments: TestStore.allCases)
    func perEmailLimitsAcrossPeers(_ store: TestStore) throws {
        let g = try gateway(store)
        defer { g.stop() }
        let email = "target@example.com"
        #expect(try register(client(g, peer: "192.0.2.200"), email).result != nil)
        let first = try client(g, peer: "192.0.2.1")
        for _ in 0..<5 { #expect(try login(first, email, "wrong password!").errorReason == "invalid_credentials") }
        #expect(try login(first, email).errorReason == "too_many_attempts")
        #expect(try login(client(g, peer: "192.0.2.2"), email).result != nil)

        for peer in 2...10 {
            let c = try client(g, peer: "192.0.2.\(peer)")
            for _ in 0..<5 { #expect(try login(c, email, "wrong password!").errorReason == "invalid_credentials", "peer \(peer)") }
        }
        // 50 failures for this email now: a new peer with the right password is refused too.
        let fresh = try client(g, peer: "192.0.2.11")
        let refused = try login(fresh, email)
        #expect(refused.errorReason == "too_many_attempts")
        #expect((1...(15 * 60_000)).contains(retryAfter(refused)))
        // Other emails from that peer are fine.
        #expect(try register(fresh, "other@example.com").result != nil)
        #expect(try login(fresh, "other@example.com").result != nil)
    }

    /// A full hash queue answers −32013 `busy` (not a login failure) and answers every request.
    @Test func aFullHashQueueAnswersBusy() throws {
        let g = try gateway(.sqlite) { a in
            AuthTests.realHashCost(&a)   // ~20 ms a hash: the queue of one fills
            a.hashQueue = 1
            a.hashThreads = 1
        }
        defer { g.stop() }
        let c = try client(g, peer: "203.0.113.50")
        #expect(try register(c, "busy@example.com").result != nil)
        // 12 logins in one write: one hashes, one waits, the rest find the queue full.
        var ids: [Int] = []
        var burst = ""
        for i in 0..<12 {
            ids.append(1000 + i)
            burst += #"{"jsonrpc":"2.0","id":\#(1000 + i),"method":"auth.login","params":{"email":"nobody\#(i)@example.com","password":"wrong password!"}}"#
            burst += i == 11 ? "" : ","
        }
        try c.sendText("[" + burst + "]")
        let answer = try c.nextAnswer(timeoutMs: 10_000)
        let items = try #require(answer.value.arrayValue)
        #expect(items.count == 12)
        let reasons = items.compactMap { $0["error"]?["data"]?["reason"]?.stringValue }
        #expect(reasons.count == 12)
        let busy = items.filter { $0["error"]?["code"] == .number(JSONNumber(-32013)) && $0["error"]?["data"]?["reason"] == .string("busy") }
        #expect(busy.count >= 1, "\(reasons)")
        #expect(reasons.allSatisfy { $0 == "busy" || $0 == "invalid_credentials" }, "\(reasons)")
        // Busy answers were not counted as failures: at most 12 - busy failures from this peer.
        #expect(try login(c, "busy@example.com").result != nil)
    }
}

import Gateway
import JSON
import Reactor
import Server
import Synchronization
import Testing
import WebSocketProtocol

/// Handlers change a connection's identity through their narrow context, and the registry of
/// sessions by user finds and closes a user's sockets on their own loops, from any thread.
@Suite("Gateway sessions by user")
struct GatewaySessionRegistryTests {
    /// A stand-in for the auth module: `test.login {userId}`, `test.logout`, `test.whoami`,
    /// `test.poke` (a notification to the caller).
    static func identityModule(_ modules: inout GatewayModules) {
        modules.methods.register(MethodSpec("test.login", params: [.required("userId", .string)]) { call in
            guard case .string(let id)? = call.params["userId"] else { return call.fail(.invalidParam("userId", "a string")) }
            call.client.changeIdentity(to: .user(id: id))
            call.succeed(.object(JSONObject([("userId", .string(id))])))
        })
        modules.methods.register(MethodSpec("test.logout") { call in
            call.client.changeIdentity(to: .anonymous)
            call.succeed(.object(JSONObject([("loggedOut", .bool(true))])))
        })
        modules.methods.register(MethodSpec("test.whoami") { call in
            switch call.client.role {
            case .user(let id): call.succeed(.string(id))
            case .anonymous: call.succeed(.string("anonymous"))
            case .publisher: call.succeed(.string("publisher"))
            }
        })
        modules.methods.register(MethodSpec("test.poke") { call in
            call.client.notify("test.poked", .object(JSONObject([("loop", .number(JSONNumber(call.client.loop.index)))])))
            call.succeed(.bool(true))
        })
    }

    func login(_ c: RPCClient, _ user: String) throws {
        #expect(try c.call("test.login", "{\"userId\":\"\(user)\"}").result?["userId"] == .string(user))
    }

    /// How many sockets `user` has over all loops (asked on each loop, as the registry answers).
    func count(_ g: TestGateway, _ user: String) -> Int {
        let total = Mutex<(answers: Int, sockets: Int)>((0, 0))
        g.gateway.sessions.count(user: user) { n in total.withLock { $0.answers += 1; $0.sockets += n } }
        _ = eventually(within: 2000) { total.withLock { $0.answers } == g.server.loops.count }
        return total.withLock { $0.sockets }
    }

    @Test func aRevocationClosesEverySocketOfTheUserAndNoOther() throws {
        let g = try TestGateway(modules: Self.identityModule)
        defer { g.stop() }
        // Sockets until both loops hold some of alice's (the kernel spreads connections).
        var alice: [RPCClient] = []
        var loops = Set<Int>()
        while loops.count < 2 && alice.count < 40 {
            let c = try g.client()
            alice.append(c)
            #expect(try c.call("test.poke").result == .bool(true))
            loops.insert(Int(try c.nextAnswer().value["params"]?["loop"]?.numberValue?.int64 ?? -1))
        }
        #expect(loops == [0, 1])
        let bob = try g.client(), anonymous = try g.client(), former = try g.client()
        defer { (alice + [bob, anonymous, former]).forEach { $0.close() } }
        for c in alice { try login(c, "alice") }
        try login(bob, "bob")
        try login(former, "alice")
        #expect(try former.call("test.logout").result?["loggedOut"] == .bool(true))
        #expect(try former.call("test.whoami").result == .string("anonymous"))
        #expect(count(g, "alice") == alice.count)
        #expect(count(g, "bob") == 1)

        // Any thread may ask: this is the test's.
        g.gateway.sessions.close(user: "alice", code: CloseCode(4001), reason: "token_revoked")
        for c in alice {
            let frame = try c.awaitCloseFrame()
            #expect(frame.closeCode == 4001)
            #expect(String(decoding: frame.payload.dropFirst(2), as: UTF8.self) == "token_revoked")
        }
        for c in [bob, anonymous, former] {
            #expect(try c.call("test.whoami").result != nil)   // still open and served
            #expect(!c.controlFrames.contains { $0.opcode == Op.close })
        }
        #expect(eventually(within: 2000) { count(g, "alice") == 0 })
        #expect(count(g, "bob") == 1)
    }

    @Test func aClosedSocketLeavesTheRegistry() throws {
        let g = try TestGateway(modules: Self.identityModule)
        defer { g.stop() }
        let c = try g.client()
        try login(c, "carol")
        #expect(count(g, "carol") == 1)
        c.close()
        #expect(eventually(within: 2000) { count(g, "carol") == 0 })
    }

    @Test func notifyReachesOnlyTheCallingClient() throws {
        let g = try TestGateway(modules: Self.identityModule)
        defer { g.stop() }
        let a = try g.client(), b = try g.client()
        defer { a.close(); b.close() }
        #expect(try a.call("test.poke").result == .bool(true))
        let poked = try a.nextAnswer()   // a notification without id lands among the answers
        #expect(poked.value["method"] == .string("test.poked"))
        #expect(poked.value["id"] == nil)
        b.drain(forMs: 100)
        #expect(b.answers.isEmpty && b.events.isEmpty)
    }

    @Test func loggingOutEndsSubscriptionsThatNeedALogin() throws {
        let g = try TestGateway({ $0.requireLoginForMarket = true }, modules: Self.identityModule)
        defer { g.stop() }
        let c = try g.client()
        defer { c.close() }
        #expect(try c.call("subscribe", "{\"channel\":\"prices:LOG\"}").errorCode == -32001)
        try login(c, "dave")
        #expect(try c.call("subscribe", "{\"channel\":\"prices:LOG\"}").result != nil)
        try login(c, "erin")   // another user: market channels stay (they are not the user's)
        _ = try c.call("test.whoami")
        #expect(c.answers.isEmpty)
        let out = try c.call("test.logout")
        #expect(out.result?["loggedOut"] == .bool(true))
        let note = try c.nextAnswer()
        #expect(note.value["method"] == .string("unsubscribed"))
        #expect(note.value["params"] == .object(JSONObject([("channel", .string("prices:LOG")), ("reason", .string("logged_out"))])))
        #expect(try c.call("unsubscribe", "{\"channel\":\"prices:LOG\"}").result?["unsubscribed"] == .bool(false))
    }
}

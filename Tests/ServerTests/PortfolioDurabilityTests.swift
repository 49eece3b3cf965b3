#if canImport(Glibc)
import Glibc
#endif
import JSON
import Store
import TestSupport
import Testing

/// Contract 2b's "never lost": the `quantumvest` process killed between a portfolio commit and
/// its publish (the test-only `QV_TEST_EXIT_AFTER_COMMIT=1`), then started again on the same
/// store: a client recovering with `since` gets the event, exactly once, in order — and a
/// plain restart keeps portfolio channels' epochs and history.
@Suite("Portfolio events across restarts", .serialized)
struct PortfolioDurabilityTests {
    static let secret = "0123456789abcdef0123456789abcdef-test"

    /// `serve` on `store` (SQLite directory or PostgreSQL URL); the process and its port.
    func serve(_ store: [String], environment: [String: String] = [:]) throws -> (ChildProcess, Int) {
        let exe = try #require(quantumvestExecutable(), "quantumvest not found next to the test bundle")
        let child = try ChildProcess(exe, ["serve", "--port", "0", "--threads", "2", "--log-level", "warning",
                                           "--jwt-secret", Self.secret] + store, environment: environment)
        let line = try #require(child.readLine(timeoutMs: 15_000), "no 'listening on' line: \(child.readAll(timeoutMs: 500))")
        let port = try #require(Int(line.split(separator: ":").last ?? ""), "no port in '\(line)'")
        return (child, port)
    }

    func stop(_ child: ChildProcess) {
        child.signal(SIGTERM)
        _ = child.waitForExit(timeoutMs: 10_000)
    }

    func client(_ port: Int, token: String? = nil) throws -> RPCClient {
        RPCClient(try TCPClient.webSocket(port: port, path: "/ws", extraHeaders: token.map { ["Authorization: Bearer \($0)"] } ?? []))
    }

    func buy(_ c: RPCClient, _ id: String, _ q: String) throws -> Int {
        try c.send("portfolio.addTransaction", #"{"portfolioId":"\#(id)","symbol":"AAPL","side":"buy","quantity":"\#(q)","price":"10"}"#)
    }

    /// Events on `c` for `ms` (after `c.events` so far).
    func events(_ c: RPCClient, forMs ms: Int) -> [Incoming] {
        c.drain(forMs: ms)
        return c.takeEvents()
    }

    @Test(arguments: TestStore.allCases)
    func anEventCommittedButNotPublishedIsPublishedAfterTheRestart(_ store: TestStore) throws {
        let args: [String]
        switch try store.backend() {
        case let .sqlite(directory: dir): args = ["--data-dir", dir]
        case let .postgres(url: url): args = ["--postgres", url]
        }
        // 1. A portfolio with one transaction; the subscriber sees seq 1.
        var (gw, port) = try serve(args)
        let c = try client(port)
        #expect(try c.call("auth.register", #"{"email":"crash@example.com","password":"correct horse battery"}"#, timeoutMs: 15_000).result != nil)
        let token = try #require(try c.call("auth.login", #"{"email":"crash@example.com","password":"correct horse battery"}"#,
                                            timeoutMs: 15_000).result?["accessToken"]?.stringValue)
        let id = try #require(try c.call("portfolio.create", #"{"name":"Crash"}"#).result?["portfolioId"]?.stringValue)
        let sub = try client(port, token: token)
        let epoch = try #require(try sub.call("subscribe", #"{"channel":"portfolio:\#(id)"}"#).result?["epoch"]?.stringValue)
        _ = try c.answer(id: try buy(c, id, "1"))
        try sub.waitForEvents(1)
        #expect(sub.takeEvents().map(\.seq) == [1])
        stop(gw)

        // 2. Restarted: the channel kept its epoch and history. Then a commit, and the process
        // dies before publishing it.
        (gw, port) = try serve(args, environment: ["QV_TEST_EXIT_AFTER_COMMIT": "1"])
        let again = try client(port, token: token)
        let resumed = try again.call("subscribe", #"{"channel":"portfolio:\#(id)","since":{"epoch":"\#(epoch)","seq":0}}"#)
        #expect(resumed.result?["recovered"] == .bool(true), "\(resumed.value)")
        #expect(resumed.result?["epoch"] == .string(epoch))
        try again.waitForEvents(1)
        #expect(again.takeEvents().map(\.seq) == [1])
        let writer = try client(port, token: token)
        _ = try buy(writer, id, "2")
        #expect(gw.waitForExit(timeoutMs: 10_000) == .exited(86))
        #expect(events(again, forMs: 200).isEmpty)

        // 3. Started again: recovering from seq 1 gets the committed event once, as seq 2.
        (gw, port) = try serve(args)
        defer { stop(gw) }
        let last = try client(port, token: token)
        let r = try last.call("subscribe", #"{"channel":"portfolio:\#(id)","since":{"epoch":"\#(epoch)","seq":1}}"#)
        #expect(r.result?["recovered"] == .bool(true), "\(r.value)")
        let got = events(last, forMs: 1_500)
        #expect(got.map(\.seq) == [2], "\(got.map(\.value))")
        #expect(got.first?.params?["data"]?["transaction"]?["quantity"] == .string("2"))
        #expect(got.first?.params?["data"]?["holding"]?["quantity"] == .string("3"))
        // The store agrees, and a later transaction continues at seq 3.
        let reader = try client(port, token: token)
        #expect(try reader.call("portfolio.get", #"{"portfolioId":"\#(id)"}"#).result?["holdings"]?[0]?["quantity"] == .string("3"))
        _ = try reader.answer(id: try buy(reader, id, "4"))
        try last.waitForEvents(1)
        #expect(last.takeEvents().map(\.seq) == [3])
    }

    /// Two gateway processes on one PostgreSQL, a client on each selling the last shares at the
    /// same moment: exactly one succeeds, the other gets `insufficient_quantity`, and the
    /// holdings stay consistent (the portfolio row lock serialises them).
    @Test func twoProcessesRacingOnePortfolio() throws {
        let url = try PostgresServer.shared().freshDatabase()
        let (a, portA) = try serve(["--postgres", url])
        defer { stop(a) }
        let (b, portB) = try serve(["--postgres", url])
        defer { stop(b) }
        let setup = try client(portA)
        _ = try setup.call("auth.register", #"{"email":"two@example.com","password":"correct horse battery"}"#, timeoutMs: 15_000)
        let token = try #require(try setup.call("auth.login", #"{"email":"two@example.com","password":"correct horse battery"}"#,
                                                timeoutMs: 15_000).result?["accessToken"]?.stringValue)
        let id = try #require(try setup.call("portfolio.create", #"{"name":"Shared"}"#).result?["portfolioId"]?.stringValue)
        let onA = try client(portA, token: token)
        let onB = try client(portB, token: token)
        for round in 0..<15 {
            let symbol = "R\(round)"
            #expect(try onA.call("portfolio.addTransaction",
                                 #"{"portfolioId":"\#(id)","symbol":"\#(symbol)","side":"buy","quantity":"7","price":"10"}"#).result != nil)
            let sell = #"{"portfolioId":"\#(id)","symbol":"\#(symbol)","side":"sell","quantity":"7","price":"11"}"#
            let ia = try onA.send("portfolio.addTransaction", sell)
            let ib = try onB.send("portfolio.addTransaction", sell)
            let (ra, rb) = (try onA.answer(id: ia), try onB.answer(id: ib))
            let ok = [ra, rb].filter { $0.result != nil }.count
            let refused = [ra, rb].filter { $0.errorReason == "insufficient_quantity" }.count
            #expect(ok == 1 && refused == 1, "round \(round): \(ra.value) \(rb.value)")
        }
        let got = try #require(try onB.call("portfolio.get", #"{"portfolioId":"\#(id)"}"#).result)
        #expect(got["holdings"] == .array([]))
        #expect(got["realizedPnl"] == .string("105"))
        #expect(try onA.call("portfolio.transactions", #"{"portfolioId":"\#(id)","limit":100}"#).result?["transactions"]?.arrayValue?.count == 30)
    }
}

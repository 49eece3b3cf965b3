// Routes that answer later, from another thread: order with pipelining, a client that leaves
// before the answer, and the bounded timeout (504).

#if canImport(Glibc)
import Glibc
#endif
import Server
import Synchronization
import Testing
import WebSocketProtocol

/// Responders a deferred route handed out, for the test to answer (from its own threads).
final class HeldResponders: Sendable {
    private let list = Mutex<[HTTPResponder]>([])

    func add(_ r: HTTPResponder) { list.withLock { $0.append(r) } }

    /// The next responder, waiting (bounded) for the request to reach the route.
    func next(within ms: Int = 2000) throws -> HTTPResponder {
        var taken: HTTPResponder?
        _ = eventually(within: ms) {
            taken = list.withLock { $0.isEmpty ? nil : $0.removeFirst() }
            return taken != nil
        }
        guard let taken else { throw ClientError("no request reached the deferred route within \(ms) ms") }
        return taken
    }
}

@Suite("Deferred HTTP answers")
struct DeferredHTTPTests {
    let held = HeldResponders()

    private func server(_ adjust: (inout ServerConfiguration) -> Void = { _ in }) throws -> TestServer {
        var routes = Routes()
        let held = self.held
        routes.http["/later"] = Routes.HTTPRoute(methods: ["GET"], deferred: { _, responder in held.add(responder) })
        return try TestServer(routes: routes, adjust)
    }

    /// Answers on a thread of its own, as a store or Redis client would.
    private func answer(_ responder: HTTPResponder, _ text: String) {
        let t = BackgroundThread { responder.respond(.text(.ok, text)) }
        t.join()
    }

    @Test func answerFromAnotherThreadArrivesOnTheSameKeepAliveConnection() throws {
        let s = try server()
        defer { s.stop() }
        let client = try TCPClient(port: s.port)
        defer { client.close() }
        try client.send(rawRequest("/later", ["Host: 127.0.0.1"]))
        answer(try held.next(), "answered later")
        let reply = try client.readHTTPResponse()
        #expect(reply.status == 200 && reply.bodyText == "answered later\n")
        #expect(try client.exchange(rawRequest("/healthz", ["Host: 127.0.0.1"])).bodyText == "ok\n")
    }

    @Test func pipelinedRequestsAreAnsweredInOrder() throws {
        let s = try server()
        defer { s.stop() }
        let client = try TCPClient(port: s.port)
        defer { client.close() }
        try client.send(rawRequest("/later", ["Host: 127.0.0.1"]) + rawRequest("/healthz", ["Host: 127.0.0.1"])
                        + rawRequest("/later", ["Host: 127.0.0.1"]))
        let first = try held.next()
        // Nothing may overtake the outstanding answer.
        #expect(client.fill(timeoutMs: 200) == .timeout)
        answer(first, "first")
        answer(try held.next(), "third")
        let replies = try (0..<3).map { _ in try client.readHTTPResponse() }
        #expect(replies.map(\.bodyText) == ["first\n", "ok\n", "third\n"])
    }

    @Test func manyPipelinedRequestsBehindAnAnswerAreHeldBoundedAndAllAnswered() throws {
        let s = try server()
        defer { s.stop() }
        let client = try TCPClient(port: s.port)
        defer { client.close() }
        // ~150 KiB behind the outstanding answer: past the held bound, so reading pauses and resumes.
        let count = 4000
        var burst = rawRequest("/later", ["Host: 127.0.0.1"])
        for _ in 0..<count { burst += rawRequest("/healthz", ["Host: 127.0.0.1"]) }
        try client.send(burst)
        answer(try held.next(), "first")
        #expect(try client.readHTTPResponse(timeoutMs: 5000).bodyText == "first\n")
        for i in 0..<count {
            let reply = try client.readHTTPResponse(timeoutMs: 5000)
            guard reply.bodyText == "ok\n" else { Issue.record("reply \(i): \(reply)"); return }
        }
    }

    @Test func clientThatLeavesBeforeTheAnswerIsFreedAndTheLateAnswerDropped() throws {
        let s = try server()
        defer { s.stop() }
        let client = try TCPClient(port: s.port)
        try client.send(rawRequest("/later", ["Host: 127.0.0.1"]))
        let responder = try held.next()
        client.reset()
        #expect(eventually(within: 2000) { s.openConnections == 0 }, "connection not freed: \(s.openConnections) open")
        answer(responder, "too late")
        #expect(responder.isAnswered)
        // The loop is fine and serves the next client.
        let next = try TCPClient(port: s.port)
        defer { next.close() }
        #expect(try next.exchange(rawRequest("/healthz", ["Host: 127.0.0.1"])).status == 200)
    }

    @Test func halfClosedClientStillGetsTheAnswer() throws {
        let s = try server()
        defer { s.stop() }
        let client = try TCPClient(port: s.port)
        defer { client.close() }
        try client.send(rawRequest("/later", ["Host: 127.0.0.1"]))
        client.shutdownWrite()
        let responder = try held.next()
        sleepMillis(50)   // lets the FIN reach the server first (if it does not, the plain path is tested)
        answer(responder, "after your FIN")
        #expect(try client.readHTTPResponse().bodyText == "after your FIN\n")
        #expect(client.awaitClose(timeoutMs: 2000) == .eof(leftover: []))
    }

    @Test func unansweredRequestGets504WithinTheResponseTimeout() throws {
        let s = try server { $0.responseTimeout = 300 }
        defer { s.stop() }
        let client = try TCPClient(port: s.port)
        let started = ContinuousClock.now
        try client.send(rawRequest("/later", ["Host: 127.0.0.1"]))
        let responder = try held.next()
        let reply = try client.readHTTPResponse(timeoutMs: 3000)
        let waited = millis(since: started)
        #expect(reply.status == 504, "\(reply)")
        #expect(waited >= 250 && waited < 2000, "504 after \(waited) ms")
        #expect(client.awaitClose(timeoutMs: 2000) == .eof(leftover: []))
        client.close()
        // An answer after the timeout changes nothing.
        answer(responder, "late")
        #expect(eventually(within: 2000) { s.openConnections == 0 })
    }

    @Test func synchronousRoutesStillAnswerAtOnce() throws {
        var routes = Routes()
        routes.http["/now"] = Routes.HTTPRoute(methods: ["GET"]) { _ in .text(.ok, "now") }
        let s = try TestServer(routes: routes)
        defer { s.stop() }
        let client = try TCPClient(port: s.port)
        defer { client.close() }
        #expect(try client.exchange(rawRequest("/now", ["Host: 127.0.0.1"])).bodyText == "now\n")
    }
}

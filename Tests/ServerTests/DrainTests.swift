// Graceful shutdown in process: WebSockets are told 1001, plain connections are closed, and
// `shutdown()` returns once they are gone (bounded by the close and drain timeouts).

#if canImport(Glibc)
import Glibc
#endif
import Server
import Testing

@Suite("Drain", .serialized)
struct DrainTests {
    @Test func shutdownSendsGoingAwayThenReturns() throws {
        let s = try TestServer {
            $0.closeTimeout = 3000
            $0.drainTimeout = 5000
        }
        let client = try TCPClient.webSocket(port: s.port)
        #expect(try client.roundTrip(WSFrame.text("before")).payload == Array("before".utf8))
        let stopper = BackgroundThread { s.stop() }
        defer { stopper.join() }
        let frame = try client.readFrame(timeoutMs: 2000)
        #expect(frame.opcode == Op.close && frame.fin && !frame.masked)
        #expect(frame.closeCode == 1001)
        #expect(String(validating: frame.closeReason, as: UTF8.self) != nil)
        // During the drain the port still answers: not ready, and no new WebSockets.
        let probe = try TCPClient(port: s.port)
        let ready = try probe.exchange(rawRequest("/readyz", ["Host: 127.0.0.1"]))
        #expect(ready.status == 503)
        #expect(ready.value("connection") == "close")
        probe.close()
        let late = try TCPClient(port: s.port)
        #expect(try late.exchange(rawRequest("/echo", upgradeHeaders())).status == 503)
        late.close()
        // The server waits for our close frame (its close timeout is 3 s): not returned yet.
        #expect(stopper.finished == nil, "shutdown returned before the client answered the close")
        let answered = ContinuousClock.now
        try client.send(WSFrame.close(1001))
        #expect(client.awaitClose(timeoutMs: 2000) == .eof(leftover: []))
        client.close()   // as a real client does once the server has closed
        #expect(eventually(within: 2000) { stopper.finished != nil }, "shutdown did not return")
        if let done = stopper.finished {
            #expect(done - answered < .milliseconds(1000), "shutdown returned \(done - answered) after the close reply")
        }
        #expect(s.openConnections == 0)
        #expect(throws: ClientError.self) { try TCPClient(port: s.port) }   // no longer listening
    }

    @Test func shutdownWithAnUnresponsiveClientIsBoundedByTheCloseTimeout() throws {
        let s = try TestServer {
            $0.closeTimeout = 500
            $0.drainTimeout = 5000
        }
        let client = try TCPClient.webSocket(port: s.port)
        let start = ContinuousClock.now
        let stopper = BackgroundThread { s.stop() }
        defer { stopper.join() }
        #expect(try client.readFrame(timeoutMs: 2000).closeCode == 1001)
        // We never answer: TCP ends after the close timeout and shutdown returns.
        #expect(client.awaitClose(timeoutMs: 2500) == .eof(leftover: []))
        #expect(eventually(within: 2500) { stopper.finished != nil }, "shutdown did not return")
        let took = millis(since: start)
        #expect(took >= 400 && took <= 2000, "shutdown took \(took) ms with a 500 ms close timeout")
    }

    @Test func shutdownIsBoundedByTheDrainTimeout() throws {
        let s = try TestServer {
            $0.closeTimeout = 10_000
            $0.drainTimeout = 700
        }
        let client = try TCPClient.webSocket(port: s.port)
        let start = ContinuousClock.now
        let stopper = BackgroundThread { s.stop() }
        defer { stopper.join() }
        #expect(try client.readFrame(timeoutMs: 2000).closeCode == 1001)
        #expect(eventually(within: 3000) { stopper.finished != nil }, "shutdown did not return")
        let took = millis(since: start)
        #expect(took >= 600 && took <= 2000, "shutdown took \(took) ms with a 700 ms drain timeout")
        let end = client.awaitClose(timeoutMs: 1000)
        #expect(end != .stillOpen(received: 0), "connection left open after the drain: \(end)")
    }

    @Test func shutdownClosesIdleHTTPConnectionsAndPartialHeads() throws {
        let s = try TestServer { $0.headTimeout = 10_000 }
        let keepAlive = try TCPClient(port: s.port)
        #expect(try keepAlive.exchange(rawRequest("/healthz", ["Host: 127.0.0.1"])).status == 200)
        let partial = try TCPClient(port: s.port)
        try partial.send("GET /healthz HTTP/1.1\r\n")
        #expect(eventually(within: 5000) { s.openConnections == 2 })
        let start = ContinuousClock.now
        let stopper = BackgroundThread { s.stop() }
        defer { stopper.join() }
        #expect(keepAlive.awaitClose(timeoutMs: 2000) == .eof(leftover: []))
        #expect(partial.awaitClose(timeoutMs: 2000) == .eof(leftover: []))
        #expect(eventually(within: 2000) { stopper.finished != nil })
        #expect(millis(since: start) < 1500)
        #expect(s.openConnections == 0)
    }

    @Test func shutdownWithoutConnectionsIsPrompt() throws {
        let s = try TestServer()
        let start = ContinuousClock.now
        s.stop()
        #expect(millis(since: start) < 500)
    }
}

// Connections that end badly must not leak: half-closed, reset, abandoned mid-head, or left
// open after the close handshake. `Server.openConnections` must come back to its baseline.

import Reactor
import Server
import Testing

@Suite("Resource freeing", .serialized)
struct ResourceTests {
    /// Waits until the server has accepted `n` connections (accept is asynchronous to connect).
    private func expectOpen(_ s: TestServer, _ n: Int, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(eventually(within: 5000) { s.openConnections == n }, "open connections \(s.openConnections), expected \(n)",
                sourceLocation: sourceLocation)
    }

    private func expectDrainedToZero(_ s: TestServer, within ms: Int = 2000, sourceLocation: SourceLocation = #_sourceLocation) {
        let start = ContinuousClock.now
        let ok = eventually(within: ms) { s.openConnections == 0 }
        #expect(ok, "still \(s.openConnections) open after \(millis(since: start)) ms", sourceLocation: sourceLocation)
    }

    @Test func halfClosedWebSocketIsFreed() throws {
        let s = try TestServer()
        defer { s.stop() }
        let client = try TCPClient.webSocket(port: s.port)
        expectOpen(s, 1)
        client.shutdownWrite()
        expectDrainedToZero(s)
        // The server ended its side too.
        #expect(client.awaitClose(timeoutMs: 1000) == .eof(leftover: []))
    }

    @Test func resetWebSocketIsFreed() throws {
        let s = try TestServer()
        defer { s.stop() }
        let client = try TCPClient.webSocket(port: s.port)
        #expect(try client.roundTrip(WSFrame.text("x")).payload == Array("x".utf8))
        expectOpen(s, 1)
        client.reset()
        expectDrainedToZero(s)
    }

    @Test func resetInTheMiddleOfAMessageIsFreed() throws {
        let s = try TestServer()
        defer { s.stop() }
        let client = try TCPClient.webSocket(port: s.port)
        let frame = WSFrame.binary(patternBytes(100_000))
        try client.send(Array(frame[..<50_000]))
        expectOpen(s, 1)
        client.reset()
        expectDrainedToZero(s)
    }

    @Test func halfClosedPartialHeadIsFreed() throws {
        let s = try TestServer { $0.headTimeout = 10_000 }   // the timeout must not be what frees it
        defer { s.stop() }
        let client = try TCPClient(port: s.port)
        try client.send("GET /healthz HTTP/1.1\r\nHo")
        expectOpen(s, 1)
        client.shutdownWrite()
        expectDrainedToZero(s)
    }

    @Test func resetPartialHeadIsFreed() throws {
        let s = try TestServer { $0.headTimeout = 10_000 }
        defer { s.stop() }
        let client = try TCPClient(port: s.port)
        try client.send("GET /echo HTTP/1.1\r\n")
        expectOpen(s, 1)
        client.reset()
        expectDrainedToZero(s)
    }

    @Test func idleKeepAliveConnectionHalfClosedIsFreed() throws {
        let s = try TestServer()
        defer { s.stop() }
        let client = try TCPClient(port: s.port)
        #expect(try client.exchange(rawRequest("/healthz", ["Host: 127.0.0.1"])).status == 200)
        expectOpen(s, 1)
        client.shutdownWrite()
        expectDrainedToZero(s)
    }

    @Test func peerThatNeverClosesAfterTheCloseHandshakeIsFreedAfterTheLinger() throws {
        let s = try TestServer { $0.loop.lingerTimeout = 500 }
        defer { s.stop() }
        let client = try TCPClient.webSocket(port: s.port)
        try client.send(WSFrame.close(1000))
        #expect(try client.readFrame().closeCode == 1000)
        // The server half-closed (FIN) and waits for ours; we keep the socket open.
        #expect(client.fill(timeoutMs: 1000) == .eof)
        expectDrainedToZero(s, within: 2000)
        withExtendedLifetime(client) {}
    }

    @Test func twoHundredAbruptlyClosedConnections() throws {
        Reactor.Process.raiseFileDescriptorLimit()   // 400 descriptors in this process (both ends)
        let s = try TestServer { $0.headTimeout = 10_000 }
        defer { s.stop() }
        var clients: [TCPClient] = []
        for i in 0..<200 {
            switch i % 4 {
            case 0: clients.append(try TCPClient.webSocket(port: s.port))
            case 1:
                let c = try TCPClient(port: s.port)
                try c.send("GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\n")   // partial head
                clients.append(c)
            case 2:
                let c = try TCPClient.webSocket(port: s.port)
                try c.send(Array(WSFrame.binary(patternBytes(5000)).prefix(2000)))   // partial frame
                clients.append(c)
            default:
                clients.append(try TCPClient(port: s.port))   // nothing sent
            }
        }
        #expect(eventually(within: 2000) { s.openConnections == 200 }, "open: \(s.openConnections)")
        for (i, c) in clients.enumerated() {
            if i % 2 == 0 { c.reset() } else { c.close() }
        }
        expectDrainedToZero(s)
        // And the server still works.
        let after = try TCPClient.webSocket(port: s.port)
        #expect(try after.roundTrip(WSFrame.text("after the storm")).payload == Array("after the storm".utf8))
    }
}

// Closing must be bounded even when the peer misbehaves: once a connection is closing with
// output still queued, a peer that never reads cannot hold the socket (and its queue) open.

#if canImport(Glibc)
import Glibc
#endif
import Reactor
import Server
import Testing
import WebSocketProtocol

@Suite("Closing", .serialized)
struct ClosingTests {
    @Test func peerThatNeverReadsIsDroppedAfterTheCloseHandshake() throws {
        var routes = Routes()
        // 8 MiB: more than the kernel buffers take, so most of it waits in our queue.
        let flood = BackpressureTests.Flood(count: 8, size: 1 << 20)
        routes.webSocket["/flood"] = { _, _ in .accept { _ in flood } }
        let s = try TestServer(routes: routes) {
            $0.threads = 1
            $0.maxMessageSize = 64 << 10
            // Keep reading while the queue is large, so our close frame reaches the server.
            $0.loop.outboundHighWater = 32 << 20
            $0.loop.closeFlushTimeout = 500
            $0.idleTimeout = 60_000
            $0.closeTimeout = 60_000
        }
        defer { s.stop() }
        let client = try TCPClient.webSocket(port: s.port, path: "/flood", receiveBuffer: 4096)
        try client.send(WSFrame.text("go"))
        sleepMillis(200)
        // The server answers our close with its own and closes after flushing — which never
        // completes, because we never read.
        try client.send(WSFrame.close(1000))
        let start = ContinuousClock.now
        #expect(eventually(within: 3000) { s.openConnections == 0 }, "closing connection held open by a peer that does not read")
        let elapsed = millis(since: start)
        #expect(elapsed >= 300, "dropped after \(elapsed) ms: before the flush timeout")
    }
}

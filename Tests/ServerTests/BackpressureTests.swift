// A client that sends without reading: the server must stop reading from it once its echoes
// pile up (so TCP pushes back on the client), stay responsive to others on the same loop, and
// resume when the client reads again, losing nothing.

#if canImport(Glibc)
import Glibc
#endif
import Reactor
import Server
import WebSocketProtocol
import Testing

@Suite("Backpressure", .serialized)
struct BackpressureTests {
    @Test func nonReadingClientIsThrottledWhileOthersAreServed() throws {
        // One loop: the probe shares the hog's loop, so a blocked loop would show.
        let s = try TestServer { $0.threads = 1 }
        defer { s.stop() }
        let hog = try TCPClient.webSocket(port: s.port, receiveBuffer: 64 << 10, sendBuffer: 64 << 10)
        let messageSize = 60_000
        // Message i: one of 8 patterns, with i in its first 4 bytes (so order and identity show).
        let patterns = (0..<8).map { patternBytes(messageSize, seed: UInt8(60 + $0)) }
        func payload(_ i: Int) -> [UInt8] {
            var p = patterns[i % 8]
            for k in 0..<4 { p[k] = UInt8(truncatingIfNeeded: i >> (24 - 8 * k)) }
            return p
        }

        // Send until the socket has refused more for a whole second (bounded by a cap).
        let cap = 48 << 20
        var started = 0
        var pending: [UInt8] = []
        var pendingOffset = 0
        var totalSent = 0
        var stalledSince: ContinuousClock.Instant?
        while totalSent < cap {
            if pendingOffset == pending.count {
                pending = WSFrame.binary(payload(started))
                pendingOffset = 0
                started += 1
            }
            let n = try pending.withUnsafeBytes { try hog.sendNow(UnsafeRawBufferPointer(rebasing: $0[pendingOffset...])) }
            if n > 0 {
                pendingOffset += n
                totalSent += n
                stalledSince = nil
            } else {
                let since = stalledSince ?? ContinuousClock.now
                stalledSince = since
                if millis(since: since) >= 1000 { break }
                sleepMillis(5)
            }
        }
        // About 6 MiB fit in the kernel buffers and the 1 MiB outbound bound here; without the
        // pause the server would buffer whatever the client sends.
        #expect(totalSent < 24 << 20, "sent \(totalSent >> 20) MiB without the server pushing back")
        #expect(stalledSince != nil, "sending never blocked")
        #expect(s.openConnections == 1)

        // Another client on the same loop round-trips promptly, several times.
        for round in 0..<3 {
            let t = ContinuousClock.now
            let probe = try TCPClient.webSocket(port: s.port)
            #expect(s.openConnections == 2)
            let echo = try probe.roundTrip(WSFrame.text("probe \(round)"), timeoutMs: 1000)
            #expect(echo.payload == Array("probe \(round)".utf8))
            #expect(millis(since: t) < 500, "probe round trip took \(millis(since: t)) ms")
            probe.close()
            #expect(eventually(within: 5000) { s.openConnections == 1 })
        }

        // The hog reads again (and finishes its last message): every echo arrives, in order, intact.
        var received = 0
        let start = ContinuousClock.now
        while (received < started || pendingOffset < pending.count) && millis(since: start) < 15_000 {
            var fds = [pollfd(fd: hog.fd, events: Int16(POLLIN) | (pendingOffset < pending.count ? Int16(POLLOUT) : 0), revents: 0)]
            guard poll(&fds, 1, 500) > 0 else { continue }
            if fds[0].revents & Int16(POLLOUT) != 0 && pendingOffset < pending.count {
                pendingOffset += try pending.withUnsafeBytes { try hog.sendNow(UnsafeRawBufferPointer(rebasing: $0[pendingOffset...])) }
            }
            if fds[0].revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 {
                switch hog.fill(timeoutMs: 0) {
                case .data, .timeout: break
                case let end:
                    Issue.record("hog connection ended: \(end)")
                    return
                }
                while let f = hog.takeFrame() {
                    let ok = f.opcode == Op.binary && f.fin && sameBytes(f.payload, payload(received))
                    if !ok {
                        Issue.record("echo \(received) of \(started) wrong: \(f)")
                        return
                    }
                    received += 1
                }
            }
        }
        #expect(received == started, "received \(received) of \(started) echoes")
        #expect(s.openConnections == 1)
    }

    /// An application that answers any message with `count` binary messages of `size` bytes.
    final class Flood: WebSocketApplication, Sendable {
        let count: Int
        let size: Int
        init(count: Int, size: Int) {
            self.count = count
            self.size = size
        }
        func webSocket(_ ws: WebSocketConnection, didReceive opcode: Opcode, payload: UnsafeRawBufferPointer) {
            let block = [UInt8](repeating: 0x5A, count: size)
            for _ in 0..<count { block.withUnsafeBytes { ws.send(.binary, $0) } }
        }
    }

    @Test func writesPastTheHardLimitCloseOnlyThatConnection() throws {
        var routes = Routes()
        let flood = Flood(count: 40, size: 1 << 20)
        routes.webSocket["/flood"] = { _, _ in .accept { _ in flood } }
        let s = try TestServer(routes: routes) {
            $0.threads = 1
            $0.loop.outboundHardLimit = 8 << 20
        }
        defer { s.stop() }
        let probe = try TCPClient.webSocket(port: s.port)
        let victim = try TCPClient.webSocket(port: s.port, path: "/flood", receiveBuffer: 64 << 10)
        #expect(s.openConnections == 2)
        // 40 MiB asked for, 8 MiB allowed: the server drops this connection, not its memory bound.
        try victim.send(WSFrame.text("go"))
        #expect(eventually(within: 2000) { s.openConnections == 1 }, "flooded connection still open")
        #expect(try probe.roundTrip(WSFrame.text("still here")).payload == Array("still here".utf8))
    }
}

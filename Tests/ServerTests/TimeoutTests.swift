// Time-driven behaviour: the request-head deadline (slowloris), WebSocket keep-alive pings, the
// idle close (4000) and the close-handshake timeout. Each test has its own server.

import Server
import Testing

@Suite("Timeouts", .serialized)
struct TimeoutTests {
    @Test func slowlorisIsDroppedWith408WhileOthersAreServed() throws {
        let s = try TestServer { $0.headTimeout = 1000 }
        defer { s.stop() }
        let slow = try TCPClient(port: s.port)
        let start = ContinuousClock.now
        // A head that would be valid, one byte every 200 ms; it never gets to its blank line.
        let head = Array("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slowloris/1.0\r\n\r\n".utf8)
        var sent = 0
        var probeMillis: [Int] = []
        var answeredAt: Int?
        while millis(since: start) < 3000 && answeredAt == nil {
            if sent < head.count - 2 {
                try? slow.send([head[sent]])
                sent += 1
            }
            // Meanwhile another client gets prompt service (twice, 400 ms apart).
            if sent == 2 || sent == 4 {
                let t = ContinuousClock.now
                let other = try TCPClient.webSocket(port: s.port)
                let echo = try other.roundTrip(WSFrame.text("still served"), timeoutMs: 1000)
                #expect(echo.payload == Array("still served".utf8))
                probeMillis.append(millis(since: t))
            }
            let waitStart = ContinuousClock.now
            while millis(since: waitStart) < 200 && answeredAt == nil {
                switch slow.fill(timeoutMs: 200 - millis(since: waitStart)) {
                case .data, .eof, .failed: answeredAt = millis(since: start)
                case .timeout: break
                }
            }
        }
        let elapsed = try #require(answeredAt, "the slow client was never answered")
        let reply = try slow.readHTTPResponse()
        #expect(reply.statusLine == "HTTP/1.1 408 Request Timeout")
        #expect(reply.value("Connection")?.lowercased() == "close")
        #expect(slow.awaitClose(timeoutMs: 1000) == .eof(leftover: []))
        // Not before the head timeout, and within it plus about a second.
        #expect(elapsed >= 900, "dropped after \(elapsed) ms, before the 1000 ms head timeout")
        #expect(elapsed <= 2000, "dropped after \(elapsed) ms")
        #expect(sent < head.count - 2)
        #expect(probeMillis.count == 2)
        #expect(probeMillis.allSatisfy { $0 < 500 }, "probe round trips took \(probeMillis) ms")
    }

    /// Trickles `bytes` one every 200 ms until the server answers or ends; returns when (ms).
    private func trickle(_ bytes: [UInt8], to client: TCPClient, for limit: Int) -> Int? {
        let start = ContinuousClock.now
        var sent = 0
        while millis(since: start) < limit {
            if sent < bytes.count {
                try? client.send([bytes[sent]])
                sent += 1
            }
            let waitStart = ContinuousClock.now
            while millis(since: waitStart) < 200 {
                if case .timeout = client.fill(timeoutMs: 200 - millis(since: waitStart)) { continue }
                return millis(since: start)
            }
        }
        return nil
    }

    @Test func slowlorisAfterAKeepAliveRequestIsAlsoDroppedAfterTheHeadTimeout() throws {
        // The head timeout protects every request head, not only the first: one quick request
        // must not buy a trickling client the (longer) keep-alive timeout.
        let s = try TestServer {
            $0.headTimeout = 1000
            $0.keepAliveTimeout = 5000
        }
        defer { s.stop() }
        let client = try TCPClient(port: s.port)
        #expect(try client.exchange(rawRequest("/healthz", ["Host: 127.0.0.1"])).status == 200)
        let head = Array("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slowloris/1.0\r\n".utf8)
        let answeredAt = trickle(head, to: client, for: 7000)
        let elapsed = try #require(answeredAt, "the trickling client was never answered")
        #expect(elapsed <= 2000, "second head dropped only after \(elapsed) ms (head timeout 1000, keep-alive 5000)")
        #expect(try client.readHTTPResponse().status == 408)
        #expect(client.awaitClose(timeoutMs: 1000) == .eof(leftover: []))
    }

    @Test func idleKeepAliveConnectionIsClosedSilently() throws {
        let s = try TestServer { $0.keepAliveTimeout = 500 }
        defer { s.stop() }
        let client = try TCPClient(port: s.port)
        #expect(try client.exchange(rawRequest("/healthz", ["Host: 127.0.0.1"])).status == 200)
        let start = ContinuousClock.now
        #expect(client.awaitClose(timeoutMs: 2000) == .eof(leftover: []))
        let elapsed = millis(since: start)
        #expect(elapsed >= 400 && elapsed <= 1500, "closed after \(elapsed) ms with a 500 ms keep-alive timeout")
    }

    @Test func silentConnectionIsClosedAfterTheHeadTimeout() throws {
        let s = try TestServer { $0.headTimeout = 500 }
        defer { s.stop() }
        let client = try TCPClient(port: s.port)
        let start = ContinuousClock.now
        // Nothing was requested, so nothing is answered: the connection just ends.
        #expect(client.awaitClose(timeoutMs: 2000) == .eof(leftover: []))
        let elapsed = millis(since: start)
        #expect(elapsed >= 400 && elapsed <= 1500, "closed after \(elapsed) ms")
        #expect(eventually(within: 5000) { s.openConnections == 0 })
    }

    @Test func unansweredPingsLeadToClose4000() throws {
        let s = try TestServer {
            $0.pingInterval = 300
            $0.idleTimeout = 1000
            $0.closeTimeout = 500
        }
        defer { s.stop() }
        let client = try TCPClient.webSocket(port: s.port)
        let start = ContinuousClock.now
        var pings: [Int] = []
        var close: ReceivedFrame?
        var closeAt = 0
        while close == nil && millis(since: start) < 3000 {
            let f = try client.readFrame(timeoutMs: 3000 - millis(since: start))
            if f.opcode == Op.ping {
                #expect(f.wireBytes == [0x89, 0x00])
                pings.append(millis(since: start))
            } else if f.opcode == Op.close {
                close = f
                closeAt = millis(since: start)
            } else {
                Issue.record("unexpected \(f)")
            }
        }
        let frame = try #require(close, "no close frame within 3 s")
        #expect(frame.closeCode == 4000)
        #expect(!frame.masked && frame.fin)
        #expect(!pings.isEmpty, "no ping before the idle close")
        if let first = pings.first { #expect(first >= 200 && first <= 800, "first ping after \(first) ms") }
        #expect(closeAt >= 900 && closeAt <= 1800, "close 4000 after \(closeAt) ms")
        // We never answer the close: the server drops TCP after its close timeout.
        let t = ContinuousClock.now
        #expect(client.awaitClose(timeoutMs: 2000) == .eof(leftover: []))
        let waited = millis(since: t)
        #expect(waited >= 300 && waited <= 1500, "TCP closed \(waited) ms after the close frame")
        #expect(eventually(within: 5000) { s.openConnections == 0 })
    }

    @Test func clientAnsweringPingsStaysOpenPastTheIdleTimeout() throws {
        let s = try TestServer {
            $0.pingInterval = 300
            $0.idleTimeout = 1000
        }
        defer { s.stop() }
        let client = try TCPClient.webSocket(port: s.port)
        let start = ContinuousClock.now
        var pings = 0
        while millis(since: start) < 2500 {
            guard case .data = client.fill(timeoutMs: 2500 - millis(since: start)) else { continue }
            while let f = client.takeFrame() {
                if f.opcode == Op.ping {
                    pings += 1
                    try client.send(WSFrame.build(Op.pong, f.payload))
                } else {
                    Issue.record("unexpected \(f) after \(millis(since: start)) ms")
                }
            }
        }
        #expect(pings >= 3, "only \(pings) pings in 2.5 s with a 300 ms interval")
        #expect(try client.roundTrip(WSFrame.text("alive")).payload == Array("alive".utf8))
        #expect(s.openConnections == 1)
    }

    @Test func clientSendingDataStaysOpenPastTheIdleTimeout() throws {
        let s = try TestServer {
            $0.pingInterval = 300
            $0.idleTimeout = 1000
        }
        defer { s.stop() }
        let client = try TCPClient.webSocket(port: s.port)
        let start = ContinuousClock.now
        var n = 0
        while millis(since: start) < 2000 {
            // A message every 150 ms is traffic: pings may come, a close must not.
            try client.send(WSFrame.text("tick \(n)"))
            var echoed = false
            while !echoed {
                let f = try client.readFrame()
                if f.opcode == Op.close {
                    Issue.record("closed after \(millis(since: start)) ms: \(f)")
                    return
                }
                echoed = f.opcode == Op.text && f.payload == Array("tick \(n)".utf8)
            }
            n += 1
            sleepMillis(150)
        }
        #expect(try client.roundTrip(WSFrame.text("alive")).opcode != Op.close)
    }
}

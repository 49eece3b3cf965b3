import Gateway
import JSON
import Server
import Testing

/// Slow consumers: conflation over the outgoing bound, close 4008 when a client stays over
/// it, and no effect on other subscribers.
@Suite("Gateway backpressure")
struct GatewayBackpressureTests {
    /// A batch of `count` price events for `symbol`, each padded to about 1 KiB.
    static func batch(_ symbol: String, from first: Int, count: Int) -> String {
        let pad = String(repeating: "x", count: 900)
        let items = (first..<(first + count)).map {
            "{\"channel\":\"prices:\(symbol)\",\"data\":{\"symbol\":\"\(symbol)\",\"price\":\"\($0)\",\"ts\":\($0),\"pad\":\"\(pad)\"}}"
        }
        return "[" + items.joined(separator: ",") + "]"
    }

    @Test func aClientThatStopsReadingIsConflatedThenCatchesUpWithTheNewest() throws {
        let g = try TestGateway({ $0.outgoingBound = 64 << 10; $0.slowConsumerGrace = 30_000 })
        defer { g.stop() }
        let slow = try g.client(receiveBuffer: 4096)
        let fast = try g.client()
        defer { slow.close(); fast.close() }
        _ = try slow.call("subscribe", "{\"channel\":\"prices:SLOW\"}")
        _ = try fast.call("subscribe", "{\"channel\":\"prices:SLOW\"}")
        // ~6 MiB of events while `slow` reads nothing; `fast` keeps up (each batch is under
        // the bound, so `fast` is never conflated).
        var total = 0
        for _ in 0..<150 {
            #expect(try g.httpPublish(Self.batch("SLOW", from: total + 1, count: 40)).status == 200)
            total += 40
            try fast.waitForEvents(total, timeoutMs: 5000)
        }
        #expect(fast.takeEvents().compactMap(\.seq) == Array(1...Int64(total)))
        // Now `slow` reads: strictly increasing seqs, ending with the newest, with a gap where
        // the queue was over its bound (conflated), and no close.
        slow.drain(forMs: 1500)
        let seqs = slow.takeEvents().compactMap(\.seq)
        #expect(seqs.last == Int64(total))
        #expect(seqs == seqs.sorted() && Set(seqs).count == seqs.count)
        #expect(seqs.count < total)
        #expect(slow.controlFrames.allSatisfy { $0.opcode != Op.close })
    }

    @Test func aClientThatStaysOverItsBoundIsClosed4008AndOthersAreNotSlowed() throws {
        let g = try TestGateway({ $0.outgoingBound = 64 << 10; $0.slowConsumerGrace = 300 },
                                server: { $0.closeTimeout = 5000 })
        defer { g.stop() }
        let slow = try g.client(receiveBuffer: 4096)
        let fast = try g.client()
        defer { slow.close(); fast.close() }
        _ = try slow.call("subscribe", "{\"channel\":\"prices:STUCK\"}")
        _ = try fast.call("subscribe", "{\"channel\":\"prices:STUCK\"}")
        var total = 0
        let start = ContinuousClock.now
        while millis(since: start) < 1000 {
            #expect(try g.httpPublish(Self.batch("STUCK", from: total + 1, count: 40)).status == 200)
            total += 40
            try fast.waitForEvents(total, timeoutMs: 2000)
        }
        #expect(fast.takeEvents().compactMap(\.seq) == Array(1...Int64(total)))
        // `slow` reads at last: what was queued, then the close frame.
        let close = try slow.awaitCloseFrame(timeoutMs: 4000)
        #expect(close.closeCode == 4008)
        #expect(String(decoding: close.closeReason, as: UTF8.self) == "slow consumer")
    }

    @Test func theSlowConsumerCloseIsNotQueuedBehindItsBacklog() throws {
        // A bound twice what the kernel's socket buffers can hold (net.ipv4.tcp_wmem): the
        // backlog in the gateway's own queue is dropped at the 4008, so the client reads at most
        // what the kernel already had before the close frame.
        let kernel = tcpSendBufferMax()
        let bound = max(8 << 20, 2 * kernel)
        let g = try TestGateway({ $0.outgoingBound = bound; $0.slowConsumerGrace = 300 },
                                server: { $0.closeTimeout = 10_000 })
        defer { g.stop() }
        let slow = try g.client(receiveBuffer: 4096)
        defer { slow.close() }
        _ = try slow.call("subscribe", "{\"channel\":\"prices:BACKLOG\"}")
        var total = 0
        while total * 1024 < kernel + bound + (1 << 20) {   // ~1 KiB events, past the bound
            #expect(try g.httpPublish(Self.batch("BACKLOG", from: total + 1, count: 500)).status == 200)
            total += 500
        }
        sleepMillis(1000)   // over the bound well past the grace, not reading: closed meanwhile
        let close = try slow.awaitCloseFrame(timeoutMs: 20_000)
        #expect(close.closeCode == 4008)
        let readBeforeClose = slow.events.reduce(0) { $0 + $1.raw.count }
        #expect(readBeforeClose > 0)
        #expect(readBeforeClose < kernel + bound / 4, "read \(readBeforeClose) bytes of backlog before the close")
    }
}

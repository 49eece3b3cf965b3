#if canImport(Glibc)
import Glibc
#endif
@testable import Gateway
import JSON
import Reactor
import Redis
import Synchronization
import TestSupport
import Testing

/// Replicas when Redis misbehaves (contract 2d): connections killed, a reader dropped for a
/// full output buffer, restarts with and without persistence, FLUSHALL, a frozen server, one
/// shard of two down. Whatever happens, a subscriber's stream has no gap, no duplicate and no
/// reordering: every event follows its predecessor, or a `resync` says where it goes on.
@Suite("Replicas: Redis faults", .serialized)
struct ReplicaFaultTests {
    /// Checks a subscriber's stream from its subscribe answer on; returns the positions it
    /// delivered and the resyncs it saw.
    @discardableResult
    static func checkStream(_ c: RPCClient, from start: StreamPosition, _ sourceLocation: SourceLocation = #_sourceLocation)
        -> (delivered: [StreamPosition], resyncs: [StreamPosition]) {
        var at = start
        var delivered: [StreamPosition] = []
        var resyncs: [StreamPosition] = []
        for m in c.stream {
            guard let epoch = m.params?["epoch"]?.stringValue, let seq = m.seq else {
                Issue.record("a stream message without a position: \(String(decoding: m.raw, as: UTF8.self))", sourceLocation: sourceLocation)
                continue
            }
            if m.value["method"] == .string("resync") {
                resyncs.append(StreamPosition(epoch: epoch, seq: UInt64(seq)))
                at = StreamPosition(epoch: epoch, seq: UInt64(seq))
                continue
            }
            if epoch != at.epoch || UInt64(seq) != at.seq + 1 {
                Issue.record("event \(epoch)/\(seq) after \(at.epoch)/\(at.seq)", sourceLocation: sourceLocation)
            }
            at = StreamPosition(epoch: epoch, seq: UInt64(seq))
            delivered.append(at)
        }
        return (delivered, resyncs)
    }

    static func subscribe(_ c: RPCClient, _ channel: String) throws -> StreamPosition {
        let answer = try c.call("subscribe", "{\"channel\":\"\(channel)\"}")
        let epoch = try #require(answer.result?["epoch"]?.stringValue)
        let seq = try #require(answer.result?["seq"]?.numberValue?.int64)
        return StreamPosition(epoch: epoch, seq: UInt64(seq))
    }

    static func position(_ answer: Incoming) -> StreamPosition? {
        guard let e = answer.result?["epoch"]?.stringValue, let s = answer.result?["seq"]?.numberValue?.int64 else { return nil }
        return StreamPosition(epoch: e, seq: UInt64(s))
    }

    /// Reads what arrives until `done` holds or `ms` pass.
    static func read(_ c: RPCClient, forMs ms: Int, until done: (RPCClient) -> Bool) {
        let start = ContinuousClock.now
        while millis(since: start) < ms && !done(c) {
            do { try c.readOne(timeoutMs: min(50, max(1, ms - millis(since: start)))) } catch {}
        }
    }

    static func redisLog(_ g: TestGateway) -> RedisChannelLog? { g.gateway.broker.log as? RedisChannelLog }

    /// Publishes until one is accepted (the server is back), within `ms`.
    static func publishWhenBack(_ p: RPCClient, _ channel: String, _ symbol: String, within ms: Int) throws -> Incoming {
        let start = ContinuousClock.now
        while true {
            let answer = try p.publish(channel, priceJSON(symbol, "7"), timeoutMs: 12_000)
            if answer.result != nil { return answer }
            guard millis(since: start) < ms else { throw ClientError("no publish accepted within \(ms) ms: \(answer.value)") }
            usleep(50_000)
        }
    }

    @Test func killedPubSubConnectionsAreRepairedFromTheStream() throws {
        let r = try Replicas(.redis)
        defer { r.stop() }
        let sub = try r.b.client()
        defer { sub.close() }
        let start = try Self.subscribe(sub, "prices:KIL")
        let pub = try r.a.client(publisher: true)
        defer { pub.close() }
        var published: [StreamPosition] = []
        for i in 0..<200 {
            if i == 60 || i == 140 { _ = try r.redis[0].cli("CLIENT", "KILL", "TYPE", "pubsub") }
            let answer = try pub.publish("prices:KIL", priceJSON("KIL", "\(i + 1)"))
            published.append(try #require(Self.position(answer), "\(String(decoding: answer.raw, as: UTF8.self))"))
            if i % 20 == 0 { usleep(5_000) }
        }
        Self.read(sub, forMs: 8_000) { $0.stream.count >= 200 }
        let seen = Self.checkStream(sub, from: start)
        #expect(seen.resyncs.isEmpty)   // history intact: repaired, never resynced
        #expect(seen.delivered == published)
    }

    @Test func aReaderDroppedForItsOutputBufferCatchesUp() throws {
        let r = try Replicas(.redis, { $0.broker.historySize = 8_000 }, redisConfig: ["--client-output-buffer-limit", "pubsub 256kb 128kb 1"])
        defer { r.stop() }
        let sub = try r.b.client()
        defer { sub.close() }
        let start = try Self.subscribe(sub, "prices:OBL")
        let pub = try r.a.client(publisher: true)
        defer { pub.close() }
        let log = try #require(Self.redisLog(r.b))
        // Replica b's Redis loop stops reading for 4 s (as a replica stuck on a busy core),
        // long enough for 6 MB to fill the socket buffers (up to 4 MB of Redis's send buffer)
        // and pass Redis's 256 KB limit.
        log.loop.execute { usleep(4_000_000) }
        let pad = String(repeating: "x", count: 1000)
        var ids: [Int] = []
        for i in 0..<6_000 {
            let data = "{\"symbol\":\"OBL\",\"price\":\"\(i + 1)\",\"ts\":1,\"pad\":\"\(pad)\"}"
            ids.append(try pub.send("publish", "{\"channel\":\"prices:OBL\",\"data\":\(data)}"))
        }
        var published: [StreamPosition] = []
        for id in ids { published.append(try #require(Self.position(try pub.answer(id: id, timeoutMs: 10_000)))) }
        // Redis did drop the stalled reader (it says so in its log).
        #expect(r.redis[0].logText().contains("overcoming of output buffer limits"))
        Self.read(sub, forMs: 20_000) { $0.stream.count >= 6_000 }
        let seen = Self.checkStream(sub, from: start)
        #expect(seen.resyncs.isEmpty)
        #expect(seen.delivered == published)
    }

    @Test(arguments: [false, true])
    func aRestartedServerMeansMissedEventsOrAResyncNeverARepeat(_ persistent: Bool) throws {
        let r = try Replicas(.redis, persistence: persistent ? .appendOnly(fsyncAlways: true) : .none)
        defer { r.stop() }
        let sub = try r.b.client()
        defer { sub.close() }
        let start = try Self.subscribe(sub, "prices:RST")
        let pub = try r.a.client(publisher: true)
        defer { pub.close() }
        var published: [StreamPosition] = []
        for i in 0..<20 { published.append(try #require(Self.position(try pub.publish("prices:RST", priceJSON("RST", "\(i + 1)"))))) }
        try r.redis[0].kill()
        // Down (the replica saw its connections close): −32013 at once, and nothing published.
        usleep(300_000)
        let t0 = ContinuousClock.now
        let refused = try pub.publish("prices:RST", priceJSON("RST", "0.5"), timeoutMs: 5_000)
        #expect(refused.errorCode == -32013)
        #expect(millis(since: t0) < 1_500)
        try r.redis[0].start()
        published.append(try #require(Self.position(try Self.publishWhenBack(pub, "prices:RST", "RST", within: 10_000))))
        for i in 0..<10 { published.append(try #require(Self.position(try pub.publish("prices:RST", priceJSON("RST", "\(30 + i)"))))) }
        // The restarted server has another run id: the channel moved to a new epoch.
        #expect(published.last?.epoch != start.epoch)
        let target = try #require(published.last)
        // Done when the stream reached the last position, as an event or covered by a resync.
        Self.read(sub, forMs: 8_000) { c in
            c.stream.last?.params?["epoch"]?.stringValue == target.epoch && c.stream.last?.seq == Int64(target.seq)
        }
        let seen = Self.checkStream(sub, from: start)
        let resync = try #require(seen.resyncs.first)
        #expect(seen.resyncs.count == 1)
        #expect(resync.epoch == target.epoch)
        // Everything before the kill arrived, and every event of the new epoch after the resync.
        #expect(Array(seen.delivered.prefix(20)) == Array(published.prefix(20)))
        #expect(Array(seen.delivered.dropFirst(20)) == published.filter { $0.epoch == resync.epoch && $0.seq > resync.seq })
    }

    @Test func flushAllResyncsSubscribersToANewEpoch() throws {
        let r = try Replicas(.redis)
        defer { r.stop() }
        let sub = try r.b.client()
        defer { sub.close() }
        let start = try Self.subscribe(sub, "prices:FLU")
        let pub = try r.a.client(publisher: true)
        defer { pub.close() }
        for i in 0..<10 { _ = try pub.publish("prices:FLU", priceJSON("FLU", "\(i + 1)")) }
        Self.read(sub, forMs: 3_000) { $0.stream.count >= 10 }
        _ = try r.redis[0].cli("FLUSHALL")
        // Nothing published since: the periodic check finds the channel gone and resyncs.
        Self.read(sub, forMs: 4_000) { c in c.stream.contains { $0.value["method"] == .string("resync") } }
        let after = try #require(Self.position(try pub.publish("prices:FLU", priceJSON("FLU", "11"))))
        #expect(after.epoch != start.epoch)
        Self.read(sub, forMs: 3_000) { $0.stream.count >= 12 }
        let seen = Self.checkStream(sub, from: start)
        #expect(seen.resyncs.count == 1)
        #expect(seen.resyncs.first?.epoch == after.epoch)
        #expect(seen.delivered.count == 11)
        #expect(seen.delivered.last == after)
    }

    @Test func aFrozenServerAnswersUnavailableAndLosesNothing() throws {
        let r = try Replicas(.redis)
        defer { r.stop() }
        let sub = try r.b.client()
        defer { sub.close() }
        let start = try Self.subscribe(sub, "prices:FRZ")
        let pub = try r.a.client(publisher: true)
        defer { pub.close() }
        _ = try pub.publish("prices:FRZ", priceJSON("FRZ", "1"))
        try r.redis[0].suspend()
        // Sent before anyone knew: its reply is lost; the gateway learns the outcome after.
        let inFlight = try pub.send("publish", "{\"channel\":\"prices:FRZ\",\"data\":\(priceJSON("FRZ", "2"))}")
        usleep(1_200_000)
        // Known down now: refused at once, many times, without queueing anything.
        let t0 = ContinuousClock.now
        for _ in 0..<200 {
            let a = try pub.publish("prices:FRZ", priceJSON("FRZ", "0.5"))
            #expect(a.errorCode == -32013)
        }
        #expect(millis(since: t0) < 3_000)
        let ready = try r.a.httpGet("/readyz")
        #expect(ready.status == 503)
        try r.redis[0].resume()
        let answer = try pub.answer(id: inFlight, timeoutMs: 12_000)
        let second = try #require(Self.position(answer))   // published exactly once, answered with its position
        _ = try Self.publishWhenBack(pub, "prices:FRZ", "FRZ", within: 8_000)
        Self.read(sub, forMs: 6_000) { $0.stream.count >= 3 }
        let seen = Self.checkStream(sub, from: start)
        #expect(seen.resyncs.isEmpty)
        #expect(seen.delivered.count == 3)
        #expect(seen.delivered.dropFirst().first == second)
    }

    @Test func oneShardDownAffectsOnlyItsChannels() throws {
        let r = try Replicas(.redis, servers: 2)
        defer { r.stop() }
        let map = ShardMap(servers: 2)
        // A channel on each server.
        let names = (0..<64).map { "S\($0)" }
        let on0 = try #require(names.first { map.server(for: "prices:\($0)") == 0 })
        let on1s = names.filter { map.server(for: "prices:\($0)") == 1 }
        let on1 = try #require(on1s.first)
        let other1 = try #require(on1s.dropFirst().first)
        let sub = try r.b.client()
        defer { sub.close() }
        let start1 = try Self.subscribe(sub, "prices:\(on1)")
        let pub = try r.a.client(publisher: true)
        defer { pub.close() }
        #expect(try pub.publish("prices:\(on0)", priceJSON(on0, "1")).result != nil)
        #expect(try pub.publish("prices:\(on1)", priceJSON(on1, "1")).result != nil)
        // Each channel's keys are on its own server only.
        #expect(try r.redis[0].cli("EXISTS", "qv:{prices:\(on0)}:m") == "1")
        #expect(try r.redis[1].cli("EXISTS", "qv:{prices:\(on0)}:m") == "0")
        #expect(try r.redis[1].cli("EXISTS", "qv:{prices:\(on1)}:m") == "1")
        try r.redis[1].stop()
        usleep(300_000)
        #expect(try pub.publish("prices:\(on1)", priceJSON(on1, "2")).errorCode == -32013)
        #expect(try sub.call("subscribe", "{\"channel\":\"prices:\(other1)\"}").errorCode == -32013)
        // An HTTP batch with an item on the stopped server publishes nothing, on either server.
        let batch = try r.a.httpPublish("[{\"channel\":\"prices:\(on0)\",\"data\":\(priceJSON(on0, "9"))},"
                                        + "{\"channel\":\"prices:\(on1)\",\"data\":\(priceJSON(on1, "9"))}]")
        #expect(batch.status == 503)
        #expect(try pub.publish("prices:\(on0)", priceJSON(on0, "2")).result?["seq"] == .number(JSONNumber(2)))
        #expect(try r.a.httpGet("/readyz").status == 200)   // one server of two: degraded, not down
        try r.redis[1].start()
        _ = try Self.publishWhenBack(pub, "prices:\(on1)", on1, within: 8_000)
        Self.read(sub, forMs: 6_000) { $0.stream.count >= 3 }
        let seen = Self.checkStream(sub, from: start1)
        #expect(seen.delivered.count >= 1)
        #expect(seen.resyncs.count == 1)   // the restarted server lost the channel: a new epoch
    }
}

#if canImport(Glibc)
import Glibc
#endif
import JSON
import Log
import Reactor
import Redis
import Synchronization

/// The channel log of replicas (contract 2d): positions, history, latest events and
/// idempotency keys live in Redis, each channel on one server (the shard hash over `--redis`),
/// so every replica hands out the same epoch and seq and any replica recovers any client.
///
/// All Redis work runs on one dedicated loop (`RedisShard`s and their connections live there);
/// calls hop to it and their answers hop back to the caller's loop. Events reach this replica's
/// subscribers only through pub/sub, in seq order, each channel's view repairing holes from the
/// stream (see `RedisShard`).
// @unchecked: every mutable thing is confined to `host.loop`; `available` and `views` are atomics.
public final class RedisChannelLog: ChannelLog, @unchecked Sendable {
    let settings: ChannelLogSettings
    let redis: RedisSettings
    let fanOut: FanOut
    let logger: Logger
    private let host: DedicatedLoop
    private let map: ShardMap
    /// One per server; touched on `host.loop` only.
    private var shards: [RedisShard] = []
    /// Each server's reachability, readable from any thread (readiness, metrics).
    let available: [ServerFlag]
    let viewCount = Atomic<Int>(0)
    let parser = JSONParser(maxDepth: 64)
    private let signalHandlers = Mutex<[String: [@Sendable () -> Void]]>([:])

    init(settings: ChannelLogSettings, redis: RedisSettings, fanOut: FanOut, logger: Logger) throws(SystemError) {
        self.settings = settings
        self.redis = redis
        self.fanOut = fanOut
        self.logger = logger
        self.map = ShardMap(servers: redis.servers.count)
        self.available = redis.servers.map { _ in ServerFlag() }
        self.host = try DedicatedLoop(index: 10_000, name: "qv-redis", logger: logger)
        let loop = host.loop
        loop.execute { [self] in
            shards = redis.servers.enumerated().map { i, url in RedisShard(index: i, url: url, log: self, loop: loop) }
            for s in shards { s.start() }
        }
    }

    var loop: EventLoop { host.loop }

    /// Whether any server is reachable (readiness: 503 only when every one is down, 2d).
    public var anyServerUp: Bool { available.contains { $0.isUp } }
    /// Per server, in `--redis` order (metrics: `quantumvest_redis_up{server}`).
    public var serversUp: [Bool] { available.map(\.isUp) }

    /// Waits until every server is connected or `timeout` ms pass (start-up: the first
    /// subscribers should not see −32013 for a server that is merely still connecting).
    public func waitUntilConnected(timeout: Millis) -> Bool {
        let deadline = Clock.monotonicMillis() + timeout
        while Clock.monotonicMillis() < deadline {
            if available.allSatisfy(\.isUp) { return true }
            usleep(10_000)
        }
        return false
    }

    public func shutdown() {
        let loop = host.loop
        let done = Atomic<Bool>(false)
        loop.execute { [self] in
            for s in shards { s.stop() }
            done.store(true, ordering: .releasing)
        }
        let deadline = Clock.monotonicMillis() + 2_000
        while !done.load(ordering: .acquiring) && Clock.monotonicMillis() < deadline { usleep(1_000) }
        host.stop()
    }

    func shard(for channel: ChannelName) -> RedisShard { shards[map.server(for: channel.name)] }

    // MARK: Signals

    func signal(_ topic: String) {
        loop.execute { [self] in for s in shards { s.signal(topic) } }
    }

    func onSignal(_ topic: String, _ handler: @escaping @Sendable () -> Void) {
        signalHandlers.withLock { $0[topic, default: []].append(handler) }
    }

    /// A signal arrived (once per server that carried it: handlers are idempotent).
    func signalled(_ topic: String) {
        for h in signalHandlers.withLock({ $0[topic] ?? [] }) { h() }
    }

    /// Runs `body` on the Redis loop, and hands its answer to `done` on `caller` (on the Redis
    /// loop itself when the caller has none: the HTTP responder may be called from any thread).
    private func hop<T>(from caller: EventLoop?, _ done: @escaping (Result<T, ChannelLogError>) -> Void,
                        _ body: @escaping (@escaping (Result<T, ChannelLogError>) -> Void) -> Void) {
        let reply = LoopBound(done)
        let answer: (Result<T, ChannelLogError>) -> Void = { result in
            if let caller {
                let boxed = LoopBound(result)
                caller.execute { reply.value(boxed.value) }
            } else {
                reply.value(result)
            }
        }
        let job = LoopBound((body, answer))
        loop.execute { job.value.0(job.value.1) }
    }

    // MARK: ChannelLog

    public func publish(_ items: [PublishItem], now: Millis, on loop: EventLoop?,
                        _ done: @escaping (Result<PublishOutcome, ChannelLogError>) -> Void) {
        guard !items.isEmpty else { return done(.success(PublishOutcome(positions: [], events: []))) }
        // Fail fast off the Redis loop: a batch with an item on an unreachable server publishes
        // nothing (2d); one lost in the middle of the batch answers what was published.
        guard items.allSatisfy({ available[map.server(for: $0.channel.name)].isUp }) else { return done(.failure(.unavailable)) }
        let encoded = items.map { $0.data.jsonBytes }
        hop(from: loop, done) { [self] answer in
            // Runs of consecutive items on one server, in request order: one script call each.
            var runs: [(shard: RedisShard, items: ArraySlice<Int>)] = []
            var start = 0
            for i in 1...items.count where i == items.count || map.server(for: items[i].channel.name) != map.server(for: items[start].channel.name) {
                runs.append((shard(for: items[start].channel), ArraySlice(start..<i)))
                start = i
            }
            publishRuns(runs[...], items, encoded, positions: [], events: [], answer)
        }
    }

    private func publishRuns(_ runs: ArraySlice<(shard: RedisShard, items: ArraySlice<Int>)>, _ items: [PublishItem], _ encoded: [[UInt8]],
                             positions: [StreamPosition?], events: [Event],
                             _ answer: @escaping (Result<PublishOutcome, ChannelLogError>) -> Void) {
        guard let run = runs.first else { return answer(.success(PublishOutcome(positions: positions, events: events))) }
        let batch = run.items.map { (items[$0], encoded[$0]) }
        run.shard.publish(batch) { [self] result in
            switch result {
            case .success(let (p, e)):
                publishRuns(runs.dropFirst(), items, encoded, positions: positions + p, events: events + e, answer)
            case .failure(let error):
                if positions.isEmpty { return answer(.failure(error)) }
                // 2d: a server lost in the middle of a batch: what was published, null for the rest.
                answer(.success(PublishOutcome(positions: positions + Array(repeating: nil, count: items.count - positions.count),
                                               events: events)))
            }
        }
    }

    public func subscribe(_ channel: ChannelName, since: StreamPosition?, snapshot: Bool, now: Millis, on loop: EventLoop?,
                          _ done: @escaping (Result<ChannelGrant, ChannelLogError>) -> Void) {
        hop(from: loop, done) { [self] answer in
            shard(for: channel).subscribe(channel, since: since, snapshot: snapshot, answer)
        }
    }

    public func unsubscribe(_ channels: [ChannelName], now: Millis) {
        guard !channels.isEmpty else { return }
        loop.execute { [self] in
            for c in channels { shard(for: c).unsubscribe(c) }
        }
    }

    public func position(_ channel: ChannelName, on loop: EventLoop?,
                         _ done: @escaping (Result<StreamPosition?, ChannelLogError>) -> Void) {
        hop(from: loop, done) { [self] answer in shard(for: channel).position(channel, answer) }
    }

    public func latest(_ channels: [ChannelName], on loop: EventLoop?, _ done: @escaping (Result<[Event?], ChannelLogError>) -> Void) {
        hop(from: loop, done) { [self] answer in
            // One read per server, joined in request order; any server down fails the call.
            var out = [Event?](repeating: nil, count: channels.count)
            var byShard: [Int: [Int]] = [:]
            for (i, c) in channels.enumerated() { byShard[map.server(for: c.name), default: []].append(i) }
            var left = byShard.count
            var failed = false
            for (s, indexes) in byShard {
                shards[s].latest(indexes.map { channels[$0] }) { result in
                    guard !failed else { return }
                    switch result {
                    case .failure(let e):
                        failed = true
                        answer(.failure(e))
                    case .success(let events):
                        for (k, i) in indexes.enumerated() where k < events.count { out[i] = events[k] }
                        left -= 1
                        if left == 0 { answer(.success(out)) }
                    }
                }
            }
        }
    }

    public func history(_ channel: ChannelName, after since: StreamPosition, now: Millis, on loop: EventLoop?,
                        _ done: @escaping (Result<[Event]?, ChannelLogError>) -> Void) {
        hop(from: loop, done) { [self] answer in shard(for: channel).history(channel, after: since, answer) }
    }

    /// Redis expires history itself (stream length and key age).
    public func trim(now: Millis) {}
    public var trimInterval: Millis { 60_000 }
    public var channelCount: Int { viewCount.load(ordering: .relaxed) }
}

/// One server's reachability, written on the Redis loop, read anywhere.
final class ServerFlag: Sendable {
    private let value = Atomic<Bool>(false)
    var isUp: Bool { value.load(ordering: .relaxed) }
    func set(_ up: Bool) { value.store(up, ordering: .relaxed) }
}

import JSON
import Log
import Reactor
import Redis
import Synchronization

/// One Redis server of the channel log, on the Redis loop: a command connection (scripts,
/// reads) and a subscriber connection (pub/sub), reconnected with backoff and full jitter, and
/// the views of the channels this replica has subscribers of.
///
/// A view delivers its channel's events in seq order, once each: pub/sub messages at or below
/// what it delivered are dropped; one past a hole is held while the hole is read from the
/// stream; when the stream cannot fill it (trimmed, another epoch) the subscribers get `resync`
/// and live delivery goes on. A check every `checkInterval` compares each view with its server,
/// so a hole shows even when nothing new is published; after a reconnect every view is read
/// again from where it stopped.
final class RedisShard {
    let index: Int
    let url: RedisURL
    unowned let log: RedisChannelLog
    let loop: EventLoop
    private var settings: RedisSettings { log.redis }
    private var logger: Logger { log.logger }

    private var command: RedisConnection?
    private var subscriber: RedisConnection?
    private(set) var up = false
    private var stopped = false
    /// The server's run id (INFO): epochs opened before a restart are not trusted (RedisScripts).
    private var runId = ""
    private var sha: [String: String] = [:]
    private var commandAttempt = 0
    private var subscriberAttempt = 0
    private var subscriberUp = false
    private var checkTimer: LoopTimer?
    /// Heartbeats sent on the command connection and not yet seen on the subscriber one.
    private var heartbeatsInFlight = 0
    private var heartbeatSeq: UInt64 = 0
    private let replicaId = LocalChannelLog.newEpoch()

    private var views: [String: ChannelView] = [:]
    /// Publishes whose reply was lost: asked again (same batch id) once the server is back.
    private var unverified: [Unverified] = []

    struct Unverified {
        let batch: [(PublishItem, [UInt8])]
        let id: String
        let deadline: Millis
        let done: (Result<([StreamPosition?], [Event]), ChannelLogError>) -> Void
    }

    init(index: Int, url: RedisURL, log: RedisChannelLog, loop: EventLoop) {
        self.index = index
        self.url = url
        self.log = log
        self.loop = loop
    }

    // MARK: Connecting

    // The two connections come and go on their own: a killed subscriber connection (CLIENT
    // KILL, a full pub/sub output buffer) must not stop publishes, and a lost command
    // connection must not stop live delivery. The server counts as reachable (publishes and
    // subscribes accepted) while the command connection is up.

    func start() {
        connectCommand()
        connectSubscriber()
    }

    func stop() {
        stopped = true
        checkTimer?.cancel()
        command?.close()
        subscriber?.close()
        command = nil
        subscriber = nil
        setUp(false)
    }

    private func setUp(_ value: Bool) {
        up = value
        log.available[index].set(value)
    }

    private func connectCommand() {
        guard !stopped else { return }
        let c = RedisConnection(url: url, loop: loop, logger: logger, commandTimeout: settings.commandTimeout, maxPending: settings.maxPending)
        command = c
        c.connect(timeout: settings.connectTimeout) { [weak self] result in
            guard let self, self.command === c else { return }
            switch result {
            case .failure(let e): self.commandLost("connect: \(e)")
            case .success:
                c.onClose = { [weak self] e in self?.commandLost("\(e)") }
                self.handshake(c)
            }
        }
    }

    private func connectSubscriber() {
        guard !stopped else { return }
        let s = RedisConnection(url: url, loop: loop, logger: logger, commandTimeout: settings.commandTimeout, maxPending: 16)
        subscriber = s
        s.connect(timeout: settings.connectTimeout) { [weak self] result in
            guard let self, self.subscriber === s else { return }
            switch result {
            case .failure(let e): self.subscriberLost("connect: \(e)")
            case .success:
                s.onClose = { [weak self] e in self?.subscriberLost("\(e)") }
                s.onMessage = { [weak self] m in self?.message(m) }
                self.subscriberAttempt = 0
                self.subscriberUp = true
                s.subscribe([Array(Self.heartbeatChannel.utf8), Array(Self.signalChannel.utf8)])
                self.heartbeatsInFlight = 0
                // Every view reads its channel again from where it stopped (the hole of the outage).
                if !self.views.isEmpty { s.subscribe(self.views.keys.map { Self.pubsubName($0) }) }
                for v in self.views.values {
                    v.state = .subscribing
                    v.repairing = false
                }
            }
        }
    }

    /// INFO's run id, the scripts loaded; then up.
    private func handshake(_ c: RedisConnection) {
        c.send("INFO", "server") { [weak self] r in
            guard let self, self.command === c else { return }
            guard case .success(let reply) = r, let info = reply.string,
                  let line = info.split(whereSeparator: \.isNewline).first(where: { $0.hasPrefix("run_id:") }) else {
                return self.commandLost("INFO server gave no run_id")
            }
            self.runId = String(line.dropFirst("run_id:".count))
            self.loadScripts(c)
        }
    }

    private func loadScripts(_ c: RedisConnection) {
        let scripts = [("publish", RedisScripts.publish), ("read", RedisScripts.read)]
        var left = scripts.count
        for (name, text) in scripts {
            c.send("SCRIPT", "LOAD", text) { [weak self] r in
                guard let self, self.command === c else { return }
                guard case .success(let reply) = r, let sha = reply.string, sha.utf8.count == 40 else {
                    return self.commandLost("SCRIPT LOAD failed: \(r)")
                }
                self.sha[name] = sha
                left -= 1
                if left == 0 { self.commandBecameUp() }
            }
        }
        checkMemoryPolicy(c)
    }

    /// 2d: warn loudly when Redis may evict the gateway's keys (lost positions look like holes).
    private func checkMemoryPolicy(_ c: RedisConnection) {
        c.send("CONFIG", "GET", "maxmemory-policy") { [weak self] r in
            guard let self, case .success(let reply) = r, let a = reply.array, a.count == 2, let policy = a[1].string else { return }
            if policy != "noeviction" && !policy.hasPrefix("volatile-") {
                self.logger.warning("Redis may evict the gateway's channel keys: set maxmemory-policy noeviction",
                                    [("redis", self.url.description), ("maxmemory-policy", policy)])
            }
        }
    }

    private func commandBecameUp() {
        commandAttempt = 0
        setUp(true)
        logger.info("Redis connected", [("redis", url.description), ("channels", String(views.count))])
        checkTimer?.cancel()
        checkTimer = loop.schedule(every: settings.checkInterval) { [weak self] _ in self?.check() }
        // Views whose read failed while the server was away, still subscribed: read them now.
        for v in views.values where v.state == .stale && subscriberUp { grant(v) }
        let again = unverified
        unverified = []
        for u in again { runPublish(u.batch, id: u.id, deadline: u.deadline, u.done) }
    }

    /// The command connection failed: publishes and subscribes answer −32013 until it is back.
    private func commandLost(_ why: String) {
        let wasUp = up
        setUp(false)
        checkTimer?.cancel()
        checkTimer = nil
        let c = command
        command = nil
        c?.close()
        if wasUp {
            logger.warning("Redis unreachable", [("redis", url.description), ("why", why)])
        } else if commandAttempt % 20 == 0 {
            // Not every attempt: a server down for an hour would fill the log.
            logger.warning("Redis connect failed; retrying", [("redis", url.description), ("why", why), ("attempt", String(commandAttempt + 1))])
        }
        for v in views.values {
            let waiting = v.waiting
            v.waiting = []
            for w in waiting { w.done(.failure(.unavailable)) }
            if v.subscribers == 0 && v.reading == 0 { drop(v) }
        }
        guard !stopped else { return }
        retry(after: &commandAttempt) { [weak self] in
            guard let self, self.command == nil else { return }
            self.connectCommand()
        }
        // Lost replies past their deadline answer now (the loop keeps waiting for the rest).
        expireUnverified()
    }

    /// The subscriber connection failed: views wait (their subscribers stay) and are read again
    /// from where they stopped once it is back.
    private func subscriberLost(_ why: String) {
        let wasUp = subscriberUp
        subscriberUp = false
        let s = subscriber
        subscriber = nil
        s?.close()
        if wasUp { logger.warning("Redis subscriber connection lost", [("redis", url.description), ("why", why)]) }
        for v in views.values {
            v.state = .stale
            v.repairing = false
        }
        guard !stopped else { return }
        retry(after: &subscriberAttempt) { [weak self] in
            guard let self, self.subscriber == nil else { return }
            self.connectSubscriber()
        }
    }

    /// Full jitter over min(cap, base × 2^attempt).
    private func retry(after attempt: inout Int, _ body: @escaping () -> Void) {
        let ceiling = min(settings.reconnectCap, settings.reconnectBase << min(attempt, 16))
        attempt += 1
        loop.schedule(after: Millis.random(in: 0...max(1, ceiling)), body)
    }

    // MARK: Scripts

    private func eval(_ name: String, _ args: [[UInt8]], _ done: @escaping (Result<RedisReply, RedisError>) -> Void) {
        guard up, let c = command, let sha = sha[name] else { return done(.failure(.notConnected)) }
        c.send([Array("EVALSHA".utf8), Array(sha.utf8), Array("0".utf8)] + args) { r in
            if case .success(.error(let e)) = r { return done(.failure(.server(e))) }
            done(r)
        }
    }

    // MARK: Publishing

    func publish(_ batch: [(PublishItem, [UInt8])],
                 _ done: @escaping (Result<([StreamPosition?], [Event]), ChannelLogError>) -> Void) {
        guard up else { return done(.failure(.unavailable)) }
        runPublish(batch, id: LocalChannelLog.newEpoch() + LocalChannelLog.newEpoch(), deadline: loop.now + settings.verifyFor, done)
    }

    private func runPublish(_ batch: [(PublishItem, [UInt8])], id: String, deadline: Millis,
                            _ done: @escaping (Result<([StreamPosition?], [Event]), ChannelLogError>) -> Void) {
        var args: [[UInt8]] = [runId, id, String(settings.batchTTL), String(log.settings.historySize),
                               String(log.settings.idempotencyWindow), String(settings.keep), String(batch.count)].map { Array($0.utf8) }
        for (item, data) in batch {
            args.append(Array(item.channel.name.utf8))
            args.append(Array(String(log.settings.ttl(item.channel.kind)).utf8))
            args.append(Array((item.idempotencyKey ?? "").utf8))
            args.append(data)
            args.append(Array(LocalChannelLog.newEpoch().utf8))
        }
        eval("publish", args) { [weak self] r in
            guard let self else { return done(.failure(.unavailable)) }
            switch r {
            case .success(let reply):
                guard let lines = reply.array, lines.count == batch.count else {
                    self.logger.error("Redis publish: unexpected reply", [("redis", self.url.description)])
                    return done(.failure(.unavailable))
                }
                var positions: [StreamPosition?] = []
                var events: [Event] = []
                for (line, (item, data)) in zip(lines, batch) {
                    let parts = (line.string ?? "").split(separator: " ")
                    guard parts.count == 3, let seq = UInt64(parts[2]), parts[0] == "n" || parts[0] == "d" else {
                        self.logger.error("Redis publish: unexpected item in its reply", [("redis", self.url.description)])
                        return done(.failure(.unavailable))
                    }
                    let position = StreamPosition(epoch: String(parts[1]), seq: seq)
                    positions.append(position)
                    if parts[0] == "n" {
                        events.append(Event(channel: item.channel, position: position, data: item.data, dataJSON: data, publishedAt: self.loop.now))
                    }
                }
                done(.success((positions, events)))
            case .failure(let e) where e.outcomeUnknown && !self.stopped:
                // Sent, no answer: it may have run. Asked again with the same id on the server's
                // return (a repeat answers what the first did), never failed as "not published".
                self.unverified.append(Unverified(batch: batch, id: id, deadline: deadline, done: done))
                self.scheduleVerifyExpiry(deadline)
            case .failure(.server(let e)):
                self.logger.error("Redis publish script failed", [("redis", self.url.description), ("error", String(e.prefix(200)))])
                done(.failure(.unavailable))
            case .failure:
                done(.failure(.unavailable))
            }
        }
    }

    private func scheduleVerifyExpiry(_ deadline: Millis) {
        loop.schedule(after: deadline > loop.now ? deadline - loop.now : 0) { [weak self] in self?.expireUnverified() }
    }

    private func expireUnverified() {
        let now = loop.now
        let expired = unverified.filter { $0.deadline <= now }
        unverified.removeAll { $0.deadline <= now }
        for u in expired {
            logger.error("a publish's outcome is unknown: its Redis server did not come back in time",
                         [("redis", url.description), ("events", String(u.batch.count))])
            u.done(.failure(.outcomeUnknown))
        }
    }

    // MARK: Subscribing

    func subscribe(_ channel: ChannelName, since: StreamPosition?, snapshot: Bool,
                   _ done: @escaping (Result<ChannelGrant, ChannelLogError>) -> Void) {
        guard up else { return done(.failure(.unavailable)) }
        let waiter = ChannelView.Waiter(since: since, snapshot: snapshot, done: done)
        if let v = views[channel.name] {
            if v.state == .live { return answer(v, waiter) }
            v.waiting.append(waiter)
            return
        }
        let v = ChannelView(channel: channel)
        views[channel.name] = v
        log.viewCount.store(views.count, ordering: .relaxed)
        v.waiting.append(waiter)
        // Without the subscriber connection now, its return subscribes every view.
        if subscriberUp, let s = subscriber { s.subscribe([Self.pubsubName(channel.name)]) } else { v.state = .stale }
    }

    func unsubscribe(_ channel: ChannelName) {
        guard let v = views[channel.name], v.subscribers > 0 else { return }
        v.subscribers -= 1
        if v.subscribers == 0 && v.waiting.isEmpty && v.reading == 0 { drop(v) }
    }

    private func drop(_ v: ChannelView) {
        views[v.channel.name] = nil
        log.viewCount.store(views.count, ordering: .relaxed)
        if subscriberUp { subscriber?.unsubscribe([Self.pubsubName(v.channel.name)]) }
    }

    /// A subscriber of a live view: the view's position (what this replica delivered so far),
    /// and the history after `since` up to it.
    private func answer(_ v: ChannelView, _ w: ChannelView.Waiter) {
        let at = StreamPosition(epoch: v.epoch, seq: v.delivered)
        let snapshot = w.snapshot ? v.latest.map { [$0] } ?? [] : []
        guard let since = w.since else {
            v.subscribers += 1
            return w.done(.success(ChannelGrant(epoch: at.epoch, seq: at.seq, recovered: nil, replay: snapshot)))
        }
        guard since.epoch == at.epoch, since.seq < at.seq else {
            v.subscribers += 1
            let recovered = since == at
            return w.done(.success(ChannelGrant(epoch: at.epoch, seq: at.seq, recovered: recovered, replay: recovered ? [] : snapshot)))
        }
        v.reading += 1
        read(v.channel, since: since, latest: false, minSeq: 0) { [weak self] r in
            v.reading -= 1
            guard let self else { return }
            switch r {
            case .failure(let e):
                w.done(.failure(e))
                if v.subscribers == 0 && v.waiting.isEmpty && v.reading == 0 && self.views[v.channel.name] === v { self.drop(v) }
            case .success(let got):
                v.subscribers += 1
                // The stream may be ahead of this view (events in flight): replay only up to
                // the answered seq; the rest arrives live.
                let covered = got.covered && got.position.epoch == at.epoch
                let replay = covered ? got.entries.filter { $0.seq <= at.seq } : snapshot
                w.done(.success(ChannelGrant(epoch: at.epoch, seq: at.seq, recovered: covered, replay: replay)))
            }
        }
    }

    func position(_ channel: ChannelName, _ done: @escaping (Result<StreamPosition?, ChannelLogError>) -> Void) {
        if let v = views[channel.name], v.state == .live { return done(.success(StreamPosition(epoch: v.epoch, seq: v.delivered))) }
        read(channel, since: nil, latest: false, minSeq: 0) { r in done(r.map { $0.position }) }
    }

    func latest(_ channels: [ChannelName], _ done: @escaping (Result<[Event?], ChannelLogError>) -> Void) {
        guard up, let c = command else { return done(.failure(.unavailable)) }
        c.send([Array("MGET".utf8)] + channels.map { Array("qv:{\($0.name)}:l".utf8) }) { [weak self] r in
            guard let self else { return done(.failure(.unavailable)) }
            guard case .success(let reply) = r, let values = reply.array, values.count == channels.count else {
                return done(.failure(.unavailable))
            }
            done(.success(zip(channels, values).map { c, v in v.bytes.flatMap { self.parseEvent(c, $0) } }))
        }
    }

    func history(_ channel: ChannelName, after since: StreamPosition, _ done: @escaping (Result<[Event]?, ChannelLogError>) -> Void) {
        read(channel, since: since, latest: false, minSeq: 0) { r in done(r.map { $0.covered ? $0.entries : nil }) }
    }

    // MARK: Reading a channel

    struct Read {
        let position: StreamPosition
        let covered: Bool
        let latest: Event?
        let entries: [Event]
    }

    /// The channel's position (its epoch opened if need be), whether the history after `since`
    /// is all there, and those events. `minSeq`: a seq this replica delivered in the current
    /// epoch; a server below it lost its tail, and the channel moves to a new epoch.
    private func read(_ channel: ChannelName, since: StreamPosition?, latest: Bool, minSeq: UInt64,
                      _ done: @escaping (Result<Read, ChannelLogError>) -> Void) {
        let args: [String] = [runId, channel.name, String(log.settings.ttl(channel.kind)), String(settings.keep), LocalChannelLog.newEpoch(),
                              since?.epoch ?? "", String(since?.seq ?? 0), latest ? "1" : "0", String(minSeq)]
        eval("read", args.map { Array($0.utf8) }) { [weak self] r in
            guard let self else { return done(.failure(.unavailable)) }
            guard case .success(let reply) = r, let a = reply.array, a.count >= 4, let epoch = a[0].string,
                  let seqText = a[1].string, let seq = UInt64(seqText), let covered = a[2].integer else {
                if case .success = r { self.logger.error("Redis read: unexpected reply", [("redis", self.url.description)]) }
                return done(.failure(.unavailable))
            }
            var entries: [Event] = []
            for entry in a.dropFirst(4) {
                guard let e = self.parseEntry(channel, epoch: epoch, entry) else {
                    self.logger.error("Redis read: an unreadable history entry", [("redis", self.url.description), ("channel", channel.name)])
                    return done(.success(Read(position: StreamPosition(epoch: epoch, seq: seq), covered: false, latest: nil, entries: [])))
                }
                entries.append(e)
            }
            let latestEvent = a[3].bytes.flatMap { self.parseEvent(channel, $0) }
            done(.success(Read(position: StreamPosition(epoch: epoch, seq: seq), covered: covered == 1, latest: latestEvent, entries: entries)))
        }
    }

    /// An XRANGE entry: [id "seq-0", [field, value, …]] with d = data.
    private func parseEntry(_ channel: ChannelName, epoch: String, _ entry: RedisReply) -> Event? {
        guard let pair = entry.array, pair.count == 2, let id = pair[0].string, let fields = pair[1].array,
              let dash = id.firstIndex(of: "-"), let seq = UInt64(id[..<dash]) else { return nil }
        var data: [UInt8]?
        var i = 0
        while i + 1 < fields.count {
            if fields[i].string == "d" { data = fields[i + 1].bytes }
            i += 2
        }
        guard let data, let value = try? log.parser.parse(data) else { return nil }
        return Event(channel: channel, position: StreamPosition(epoch: epoch, seq: seq), data: value, dataJSON: data, publishedAt: loop.now)
    }

    /// "epoch\nseq\ndata" (a pub/sub message or a latest value).
    func parseEvent(_ channel: ChannelName, _ bytes: [UInt8]) -> Event? {
        guard let a = bytes.firstIndex(of: 10), let b = bytes[(a + 1)...].firstIndex(of: 10),
              let seq = UInt64(String(decoding: bytes[(a + 1)..<b], as: UTF8.self)), a > 0 else { return nil }
        let data = Array(bytes[(b + 1)...])
        guard let value = try? log.parser.parse(data) else { return nil }
        return Event(channel: channel, position: StreamPosition(epoch: String(decoding: bytes[..<a], as: UTF8.self), seq: seq),
                     data: value, dataJSON: data, publishedAt: loop.now)
    }

    // MARK: Pub/sub

    static let prefix = "qv:{"
    static let suffix = "}:e"
    static let heartbeatChannel = "qv:heartbeat"
    static let signalChannel = "qv:signal"

    func signal(_ topic: String) {
        guard up, let c = command else { return }
        c.send("PUBLISH", Self.signalChannel, topic) { _ in }
    }
    static func pubsubName(_ channel: String) -> [UInt8] { Array((prefix + channel + suffix).utf8) }

    private func message(_ m: RedisReply) {
        guard let parts = m.array, parts.count >= 3, let kind = parts[0].string, let name = parts[1].string else { return }
        if name == Self.heartbeatChannel {
            if kind == "message", let body = parts[2].string, body.hasPrefix(replicaId) { heartbeatsInFlight = 0 }
            return
        }
        if name == Self.signalChannel {
            if kind == "message", let topic = parts[2].string { log.signalled(topic) }
            return
        }
        guard name.hasPrefix(Self.prefix), name.hasSuffix(Self.suffix) else { return }
        let channelName = String(name.dropFirst(Self.prefix.count).dropLast(Self.suffix.count))
        guard let v = views[channelName] else { return }
        switch kind {
        case "subscribe":
            if v.state == .subscribing { grant(v) }
        case "message":
            guard let payload = parts[2].bytes, let e = parseEvent(v.channel, payload) else {
                logger.error("Redis: an unreadable event message", [("redis", url.description), ("channel", channelName)])
                return
            }
            receive(v, e)
        default:
            break
        }
    }

    /// Subscribed in Redis: now read the position (and what the first waiter or an outage
    /// missed). Live messages meanwhile are buffered and merged after.
    private func grant(_ v: ChannelView) {
        v.state = .granting
        let resuming = v.epoch.isEmpty ? nil : StreamPosition(epoch: v.epoch, seq: v.delivered)
        let first = v.waiting.first
        let since = resuming ?? first?.since
        read(v.channel, since: since, latest: true, minSeq: resuming?.seq ?? 0) { [weak self] r in
            guard let self, self.views[v.channel.name] === v, v.state == .granting else { return }
            switch r {
            case .failure(let e):
                let waiting = v.waiting
                v.waiting = []
                for w in waiting { w.done(.failure(e)) }
                v.state = .stale
            case .success(let got):
                v.latest = got.latest
                if let resuming {
                    // Back after an outage: the missed events, or a resync.
                    if got.covered && got.position.epoch == resuming.epoch {
                        for e in got.entries where e.seq > v.delivered { self.deliver(v, e) }
                    } else {
                        self.resync(v, at: got.position)
                    }
                    v.state = .live
                    let waiting = v.waiting
                    v.waiting = []
                    for w in waiting { self.answer(v, w) }
                } else {
                    v.epoch = got.position.epoch
                    v.delivered = got.position.seq
                    v.state = .live
                    var waiting = v.waiting
                    v.waiting = []
                    if let w = waiting.first, w.since != nil {
                        waiting.removeFirst()
                        v.subscribers += 1
                        let recovered = got.covered
                        let replay = recovered ? got.entries : (w.snapshot ? got.latest.map { [$0] } ?? [] : [])
                        w.done(.success(ChannelGrant(epoch: got.position.epoch, seq: got.position.seq, recovered: recovered, replay: replay)))
                    }
                    for w in waiting { self.answer(v, w) }
                }
                if v.subscribers == 0 && v.waiting.isEmpty && v.reading == 0 { return self.drop(v) }
                self.drainBuffer(v)
            }
        }
    }

    private func receive(_ v: ChannelView, _ e: Event) {
        guard v.state == .live, !v.repairing else { return v.hold(e, max: settings.maxBuffered) }
        if e.position.epoch != v.epoch {
            // Another epoch (the server lost the channel): subscribers reload from a resync.
            resync(v, at: StreamPosition(epoch: e.position.epoch, seq: e.seq - 1))
        }
        if e.seq <= v.delivered { return }
        if e.seq == v.delivered + 1 { return deliver(v, e) }
        v.hold(e, max: settings.maxBuffered)
        repair(v)
    }

    private func deliver(_ v: ChannelView, _ e: Event) {
        v.delivered = e.seq
        v.latest = e
        log.fanOut.deliver([e])
    }

    private func resync(_ v: ChannelView, at position: StreamPosition) {
        logger.info("channel resync", [("channel", v.channel.name), ("epoch", position.epoch), ("seq", String(position.seq))])
        v.epoch = position.epoch
        v.delivered = position.seq
        v.suspect = nil
        log.fanOut.deliver([Event.resync(v.channel, at: position, now: loop.now)])
    }

    /// Reads the hole after `delivered` from the stream: the events, or a resync past it.
    private func repair(_ v: ChannelView) {
        guard !v.repairing else { return }
        v.repairing = true
        let from = StreamPosition(epoch: v.epoch, seq: v.delivered)
        read(v.channel, since: from, latest: false, minSeq: v.delivered) { [weak self] r in
            guard let self, self.views[v.channel.name] === v, v.repairing else { return }
            v.repairing = false
            guard case .success(let got) = r else { return }   // the server is lost: the reconnect reads again
            if got.covered && got.position.epoch == from.epoch {
                for e in got.entries where e.seq > v.delivered { self.deliver(v, e) }
            } else if let first = v.buffer.min(by: { $0.seq < $1.seq }), first.position.epoch == got.position.epoch {
                self.resync(v, at: StreamPosition(epoch: first.position.epoch, seq: first.seq - 1))
            } else {
                self.resync(v, at: got.position)
            }
            self.drainBuffer(v)
        }
    }

    private func drainBuffer(_ v: ChannelView) {
        guard !v.buffer.isEmpty else { return }
        let held = v.buffer.sorted { $0.seq < $1.seq }
        v.buffer = []
        for e in held { receive(v, e) }
    }

    // MARK: The check

    /// Every view against its server: a seq the server had at the last check and this replica
    /// still has not delivered is a hole (repaired); another epoch is a resync. Also a heartbeat
    /// through pub/sub: a subscriber connection that stopped hearing its own is dropped.
    private func check() {
        guard up, let c = command else { return }
        if subscriberUp {
            if heartbeatsInFlight >= 3 { return subscriberLost("it stopped delivering (3 heartbeats missing)") }
            heartbeatsInFlight += 1
        }
        heartbeatSeq += 1
        c.send("PUBLISH", Self.heartbeatChannel, "\(replicaId) \(heartbeatSeq)") { _ in }
        for v in views.values where v.state == .live && !v.repairing {
            c.send("HMGET", "qv:{\(v.channel.name)}:m", "e", "s") { [weak self] r in
                guard let self, self.views[v.channel.name] === v, v.state == .live, !v.repairing,
                      case .success(let reply) = r, let a = reply.array, a.count == 2 else { return }
                guard let epoch = a[0].string, let seq = a[1].decimal.map({ UInt64(clamping: $0) }) else {
                    // The server lost the channel (FLUSHALL, eviction): open its new epoch now.
                    return self.reopen(v)
                }
                if epoch != v.epoch || seq < v.delivered { return self.reopen(v) }
                if let suspect = v.suspect, v.delivered < suspect { self.repair(v) }
                v.suspect = seq > v.delivered ? seq : nil
            }
        }
    }

    /// The channel's epoch in Redis is not the one delivered (or its seq went back): read it
    /// (a lost tail opens a new epoch) and resync the subscribers to it.
    private func reopen(_ v: ChannelView) {
        v.repairing = true
        read(v.channel, since: StreamPosition(epoch: v.epoch, seq: v.delivered), latest: false, minSeq: v.delivered) { [weak self] r in
            guard let self, self.views[v.channel.name] === v, v.repairing else { return }
            v.repairing = false
            if case .success(let got) = r, got.position.epoch != v.epoch {
                self.resync(v, at: got.position)
            }
            self.drainBuffer(v)
        }
    }
}

/// One channel as this replica delivers it.
final class ChannelView {
    let channel: ChannelName
    enum State { case subscribing, granting, live, stale }
    var state = State.subscribing
    var epoch = ""
    var delivered: UInt64 = 0
    var latest: Event?
    var subscribers = 0
    var reading = 0
    var repairing = false
    /// The server's seq at the last check, when it was ahead.
    var suspect: UInt64?
    var buffer: [Event] = []
    var waiting: [Waiter] = []

    struct Waiter {
        let since: StreamPosition?
        let snapshot: Bool
        let done: (Result<ChannelGrant, ChannelLogError>) -> Void
    }

    init(channel: ChannelName) { self.channel = channel }

    /// Bounded: past `max` the oldest go (the hole they leave is repaired or resynced).
    func hold(_ e: Event, max: Int) {
        if buffer.count >= max { buffer.removeFirst(buffer.count - max + 1) }
        buffer.append(e)
    }
}

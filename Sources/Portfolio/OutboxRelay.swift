import Gateway
import JSON
import Log
import Reactor
import Store
import Synchronization

/// Publishes the portfolio events the store's outbox holds, after their transaction committed:
/// never lost, in order. A write transaction puts its event in `outbox`; once it commits, the
/// method kicks the relay, which reads the unpublished rows in id order and publishes each with
/// its position recorded (`published_at`, `epoch`, `seq`: before the publish with the in-process
/// log, see `recordThenPublish`). A process that dies between the
/// commit and the publish leaves the row unpublished: the next start publishes it.
///
/// After a restart the in-process log knows nothing; `restore` (at start, before the loops
/// serve) gives it back every portfolio channel at its recorded epoch and seq, with the recorded
/// events as its history, so a client's `since` still recovers.
///
/// All work runs on one loop (`loop`), one drain at a time; a kick during a drain runs another.
public final class OutboxRelay: Sendable {
    let store: Store
    let broker: Broker
    let logger: Logger
    let batch = 200

    private struct State {
        var loop: EventLoop?
        var draining = false
        var again = false
    }
    private let state = Mutex(State())

    public init(store: Store, broker: Broker, logger: Logger) {
        self.store = store
        self.broker = broker
        self.logger = logger.with("component", "outbox")
    }

    // MARK: Restore (blocking, at start)

    /// Gives the in-process log back every portfolio channel published within `ttl`, at its
    /// recorded positions (at most `perChannel` events each). Blocking: call before serving.
    /// With a shared log (Redis) there is nothing to restore: it keeps the positions itself.
    public func restore(ttl: Millis, perChannel: Int, now wallNow: Int64) throws(StoreError) {
        guard let local = broker.log as? LocalChannelLog else { return }
        let since = wallNow - Int64(ttl)
        let limit = 500_000
        let rows = try store.transactionBlocking(write: false) { c throws(StoreError) in
            try c.query("""
                SELECT channel, payload, created_at, epoch, seq FROM outbox
                WHERE published_at IS NOT NULL AND epoch IS NOT NULL AND created_at >= $1 ORDER BY channel, id LIMIT $2
                """, [.int(since), .int(Int64(limit))])
        }.get()
        if rows.count == limit { logger.warning("outbox restore: row limit reached; older channels start afresh", [("rows", "\(limit)")]) }
        let monoNow = Clock.monotonicMillis()
        var restored = 0
        var i = 0
        while i < rows.count {
            let name = rows[i].optionalText(0) ?? ""
            var j = i
            while j < rows.count, rows[j].optionalText(0) == name { j += 1 }
            if let channel = ChannelName(name), channel.kind == .portfolio,
               let events = Self.tail(rows[i..<j], perChannel: perChannel, wallNow: wallNow),
               local.restore(channel, epoch: events.epoch, events: events.events, now: monoNow) {
                restored += 1
            }
            i = j
        }
        if restored > 0 { logger.info("portfolio channels restored from the outbox", [("channels", "\(restored)")]) }
    }

    /// The channel's newest run of one epoch with consecutive seqs (what a log can replay).
    private static func tail(_ rows: ArraySlice<SQLRow>, perChannel: Int, wallNow: Int64)
        -> (epoch: String, events: [LocalChannelLog.RecordedEvent])? {
        var out: [LocalChannelLog.RecordedEvent] = []
        var epoch: String?
        let parser = JSONParser(maxDepth: 32)
        for row in rows.reversed() {
            guard let e = row.optionalText(3), let seq = row.optionalInt(4), seq > 0,
                  let payload = row.optionalText(1), let data = try? parser.parse(Array(payload.utf8)),
                  let created = row.optionalInt(2) else { break }
            if let epoch, e != epoch { break }
            if let first = out.first, UInt64(seq) + 1 != first.seq {
                // The same seq twice (published again after a crash): keep the newer one.
                if UInt64(seq) == first.seq { continue }
                break
            }
            epoch = e
            out.insert(LocalChannelLog.RecordedEvent(seq: UInt64(seq), data: data, age: Millis(max(0, wallNow - created))), at: 0)
            if out.count >= perChannel { break }
        }
        guard let epoch, !out.isEmpty else { return nil }
        return (epoch, out)
    }

    // MARK: Relaying

    /// Starts relaying on `loop`: first whatever an earlier process left unpublished, then on
    /// every kick, and every `sweepMs` in case a kick was lost (a store error mid-drain).
    public func start(on loop: EventLoop, sweepMs: Millis = 1_000) {
        state.withLock { $0.loop = loop }
        loop.execute { [self] in
            loop.schedule(every: sweepMs) { [self] _ in kick() }
            kick()
        }
    }

    /// A transaction with an outbox row committed (any thread).
    public func kick() {
        let loop: EventLoop? = state.withLock { s in
            guard let loop = s.loop else { return nil }
            if s.draining {
                s.again = true
                return nil
            }
            s.draining = true
            return loop
        }
        guard let loop else { return }
        loop.execute { [self] in drain(on: loop) }
    }

    private struct Row: Sendable {
        let id: Int64
        let channel: String
        let payload: String
    }

    private func drain(on loop: EventLoop) {
        let batch = self.batch
        store.transaction(on: loop, write: false, { c throws(StoreError) -> [Row] in
            var rows: [Row] = []
            for r in try c.query("SELECT id, channel, payload FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT $1",
                                 [.int(Int64(batch))]) {
                rows.append(Row(id: try r.int(0), channel: try r.text(1), payload: try r.text(2)))
            }
            return rows
        }) { [self] result in
            switch result {
            case .failure(let e):
                logger.warning("outbox read failed; retrying at the next sweep", [("error", "\(e)")])
                finish(on: loop, more: false)
            case .success(let rows) where rows.isEmpty:
                finish(on: loop, more: false)
            case .success(let rows):
                publish(rows, on: loop)
            }
        }
    }

    /// Parses the rows (one that cannot be published is marked so and skipped), then records and
    /// publishes them.
    private func publish(_ rows: [Row], on loop: EventLoop) {
        let parser = JSONParser(maxDepth: 32)
        var items: [(id: Int64, channel: ChannelName, data: JSONValue)] = []
        var broken: [Int64] = []
        for r in rows {
            guard let channel = ChannelName(r.channel), let data = try? parser.parse(Array(r.payload.utf8)) else {
                broken.append(r.id)
                continue
            }
            items.append((r.id, channel, data))
        }
        if !broken.isEmpty { logger.error("outbox rows that cannot be published; marked so", [("ids", "\(broken)")]) }
        guard let local = broker.log as? LocalChannelLog else {
            return publishThenRecord(items, broken: broken, more: rows.count == batch, on: loop)
        }
        recordThenPublish(items, broken: broken, local: local, more: rows.count == batch, on: loop)
    }

    /// A shared log (Redis): positions come from it, and every replica's relay may be draining
    /// the same rows. Each row publishes under the idempotency key `outbox:<id>`, so a second
    /// relay (or a retry after a crash before the record) gets the first position and publishes
    /// nothing; then the positions are recorded. (A record that fails for longer than the
    /// idempotency window would publish the row again on retry.)
    private func publishThenRecord(_ items: [(id: Int64, channel: ChannelName, data: JSONValue)], broken: [Int64], more: Bool,
                                   on loop: EventLoop) {
        let publishItems = items.map { PublishItem($0.channel, $0.data, idempotencyKey: "outbox:\($0.id)") }
        broker.publish(publishItems, now: loop.now, on: loop) { [self] result in
            guard case .success(let outcome) = result else {
                logger.warning("outbox: publishing failed; retrying at the next sweep", [("error", "\(result)")])
                return finish(on: loop, more: false)
            }
            var plan: [(id: Int64, position: StreamPosition)] = []
            for (item, position) in zip(items, outcome.positions) {
                guard let position else { continue }
                plan.append((item.id, position))
                // The event reaches this replica's subscribers through Redis, a moment later:
                // end their subscriptions after it, not before.
                if item.data.objectValue?["type"] == .string("deleted") {
                    loop.schedule(after: 1_000) { [broker] in broker.endSubscriptions(item.channel, reason: "deleted") }
                }
            }
            record(plan, broken: broken, on: loop) { [self] recorded in
                if case .failure(let e) = recorded { logger.warning("outbox: recording positions failed; retrying", [("error", "\(e)")]) }
                var ok = true
                if case .failure = recorded { ok = false }
                finish(on: loop, more: more && outcome.isComplete && ok)
            }
        }
    }

    /// Marks rows published at their positions (and broken ones published at none).
    private func record(_ plan: [(id: Int64, position: StreamPosition)], broken: [Int64], on loop: EventLoop,
                        then done: @escaping (Result<Void, StoreError>) -> Void) {
        let now = Clock.wallMillis()
        store.transaction(on: loop, { c throws(StoreError) in
            for p in plan {
                try c.execute("UPDATE outbox SET published_at = $2, epoch = $3, seq = $4 WHERE id = $1",
                              [.int(p.id), .int(now), .text(p.position.epoch), .int(Int64(p.position.seq))])
            }
            for id in broken { try c.execute("UPDATE outbox SET published_at = $2 WHERE id = $1", [.int(id), .int(now)]) }
        }, completion: done)
    }

    /// The in-process log: this relay is the only writer of portfolio channels, so each row's
    /// position is known before it is published — (the channel's epoch, seq + 1, + 2, …). They
    /// are recorded first, then published; a process that dies in between restores the channel
    /// at the recorded positions with those events in its history, so a client's `since`
    /// replays them: exactly once whatever the moment of the crash.
    private func recordThenPublish(_ items: [(id: Int64, channel: ChannelName, data: JSONValue)], broken: [Int64],
                                   local: LocalChannelLog, more: Bool, on loop: EventLoop) {
        var next: [String: StreamPosition] = [:]
        var planned: [(id: Int64, position: StreamPosition)] = []
        var ready: [(id: Int64, channel: ChannelName, data: JSONValue)] = []
        for item in items {
            guard let current = next[item.channel.name] ?? local.positionMakingChannel(item.channel) else {
                logger.warning("outbox: no room for a portfolio channel; retrying", [("channel", item.channel.name)])
                break   // keep the order: nothing after it goes either
            }
            let p = StreamPosition(epoch: current.epoch, seq: current.seq + 1)
            next[item.channel.name] = p
            planned.append((item.id, p))
            ready.append(item)
        }
        let plan = planned
        record(plan, broken: broken, on: loop) { [self] result in
            guard case .success = result else {
                // Nothing published: the next drain plans the same positions again.
                logger.warning("outbox: recording positions failed; retrying", [("error", "\(result)")])
                return finish(on: loop, more: false)
            }
            let monoNow = loop.now
            for (k, item) in ready.enumerated() {
                broker.publish([PublishItem(item.channel, item.data)], now: monoNow, on: loop) { [self] published in
                    switch published {
                    case .success(let outcome):
                        if let e = outcome.events.first, e.position != plan[k].position {
                            logger.error("outbox: published at another position than recorded",
                                         [("channel", item.channel.name), ("recorded", "\(plan[k].position.seq)"), ("got", "\(e.position.seq)")])
                        }
                        if item.data.objectValue?["type"] == .string("deleted") {
                            broker.endSubscriptions(item.channel, reason: "deleted")
                        }
                    case .failure(let e):
                        logger.error("outbox: a recorded event was refused by the log", [("channel", item.channel.name), ("error", "\(e)")])
                    }
                }
            }
            finish(on: loop, more: more && ready.count == items.count)
        }
    }

    private func finish(on loop: EventLoop, more: Bool) {
        let again = state.withLock { s -> Bool in
            let again = s.again || more
            s.again = false
            s.draining = again
            return again
        }
        if again { loop.execute { [self] in drain(on: loop) } }
    }

    // MARK: Housekeeping

    /// Deletes published rows older than `ttl` (the portfolio history age): nothing replays
    /// them any more. Bounded per call.
    public func prune(ttl: Millis, on loop: EventLoop) {
        let before = Clock.wallMillis() - Int64(ttl)
        store.transaction(on: loop, { c throws(StoreError) in
            try c.execute("""
                DELETE FROM outbox WHERE id IN
                  (SELECT id FROM outbox WHERE published_at IS NOT NULL AND created_at < $1 LIMIT 10000)
                """, [.int(before)])
        }) { [self] result in
            if case .failure(let e) = result { logger.warning("outbox prune failed", [("error", "\(e)")]) }
        }
    }
}

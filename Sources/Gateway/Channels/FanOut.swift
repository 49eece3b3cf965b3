import Synchronization

/// Delivery of positioned events to this process's subscribers: which loops have subscribers
/// of which channel, and one `LoopHub` per loop that delivers to its sessions. Fed by whichever
/// `ChannelLog` is configured; knows nothing of positions or history.
final class FanOut: Sendable {
    /// One per event loop, by loop index.
    let hubs: [LoopHub]
    /// Channel name → subscribers on each hub (absent: none anywhere). A publish wakes only
    /// loops that have some.
    private let interest = Mutex<[String: [Int]]>([:])

    init(hubs: [LoopHub]) {
        self.hubs = hubs
    }

    /// A subscriber of `channel` on `hub` from now on: every event handed to `deliver` after
    /// this returns reaches that hub. Join before asking the log for a position.
    func join(_ channel: ChannelName, hub: Int) {
        let n = hubs.count
        interest.withLock { table in table[channel.name, default: Array(repeating: 0, count: n)][hub] += 1 }
    }

    /// Undoes `join` once for each channel.
    func leave(_ channels: [ChannelName], hub: Int) {
        guard !channels.isEmpty else { return }
        interest.withLock { table in
            for channel in channels {
                guard var counts = table[channel.name], counts[hub] > 0 else { continue }
                counts[hub] -= 1
                table[channel.name] = counts.allSatisfy { $0 == 0 } ? nil : counts
            }
        }
    }

    /// Hands events to the hubs with subscribers of their channels. The log calls it with each
    /// channel's events in seq order (the in-process one under its lock), and that order is kept.
    func deliver(_ events: [Event]) {
        guard !events.isEmpty else { return }
        interest.withLock { table in
            var lastName: String?
            var counts: [Int]?
            for event in events {
                // A batch is usually one channel: look it up once.
                if event.channel.name != lastName {
                    lastName = event.channel.name
                    counts = table[event.channel.name]
                }
                guard let counts else { continue }
                for (h, count) in counts.enumerated() where count > 0 { hubs[h].enqueue(event) }
            }
        }
    }

    func hasSubscribers(_ channel: ChannelName, hub: Int) -> Bool {
        interest.withLock { ($0[channel.name]?[hub] ?? 0) > 0 }
    }

    /// Subscribers of a channel on all loops (metrics, tests).
    func subscriberCount(_ channel: ChannelName) -> Int {
        interest.withLock { $0[channel.name]?.reduce(0, +) ?? 0 }
    }
}

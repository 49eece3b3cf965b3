import Reactor

/// One session's membership in one channel, on its loop.
final class Subscription {
    /// Owner: the connection that owns the session, which owns this subscription; the hub's
    /// channel lists drop it in `webSocketDidClose` and the pending list holds the session
    /// strongly beside it. Read once per delivery without counting.
    let session: Unretained<GatewaySession>
    let channel: ChannelName
    /// Newest seq sent (or covered by the answer/replay): anything at or below is a duplicate.
    /// 0 until the log answers (the events held meanwhile are filtered then).
    var lastSeq: UInt64 = 0
    /// The epoch the log answered (a `resync` may move it).
    var epoch = ""
    /// Seq at which the subscription began (a re-subscribe with `since` is answered from it).
    var startSeq: UInt64 = 0
    /// The log has answered (and counted this subscriber).
    var isGranted = false
    /// `maxRate` pacing: minimum ms between two events (0: none), and when the next may go.
    var minInterval: Millis
    var nextAllowed: Millis = 0
    /// The newest event not sent yet (conflation keeps only this one).
    var pendingEvent: Event?
    /// Answered but not started: the answer (of the whole batch) is not queued yet, so live
    /// events wait here, in order, until `GatewaySession.start` sends the replay and them.
    var isHeld = true
    var heldEvents: [Event] = []
    /// Live events a held subscription keeps at most (a batch waiting on a slow entry); older
    /// ones are dropped, which the client sees as a jump in seq.
    static let maxHeldEvents = 1024
    var inPendingList = false
    var indexInChannel = -1

    init(session: GatewaySession, channel: ChannelName, minInterval: Millis) {
        self.session = Unretained(session)
        self.channel = channel
        self.minInterval = minInterval
    }
}

/// What became of a conflated event the hub tried to send.
enum PendingOutcome {
    case done
    /// `maxRate` pacing: try again at this time.
    case waitUntil(Millis)
    /// The outgoing queue is still over its bound.
    case waitForDrain
}

/// Settings of one event loop. Defaults in one line each, as the reasons matter.
public struct LoopConfiguration: Sendable {
    /// One receive buffer per loop, shared by all its connections (uSockets uses 512 KiB):
    /// idle connections then hold no read buffer at all.
    public var receiveBufferSize = 512 * 1024
    /// Above this many queued outbound bytes a connection stops reading (its peer feels TCP
    /// backpressure); it resumes below `outboundLowWater`.
    public var outboundHighWater = 1 << 20
    public var outboundLowWater = 256 << 10
    /// Hard ceiling on queued outbound bytes: a write that would pass it closes the connection
    /// instead (memory stays bounded whatever the layer above does). The layer above keeps
    /// well below it with its own policy (pause reading, conflate, close 4008).
    public var outboundHardLimit = 64 << 20
    /// How long a closing socket waits for the peer's FIN after ours before it is dropped.
    public var lingerTimeout: Millis = 2_000
    /// How long a connection closing "after flush" may take to get its last bytes out; a peer
    /// that stops reading cannot hold the socket (and its queue) longer than this.
    public var closeFlushTimeout: Millis = 5_000
    /// Deadlines are checked by a sweep this often (ms): O(connections) every sweep, nothing per read.
    public var sweepInterval: Millis = 100
    /// Connections accepted per listener readiness event, so a SYN flood cannot starve reads.
    public var acceptBatch = 128
    /// Listen backlog (the kernel caps it at net.core.somaxconn).
    public var listenBacklog: Int32 = 4096

    public init() {}
}

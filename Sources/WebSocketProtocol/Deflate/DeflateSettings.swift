/// Server-side permessage-deflate (RFC 7692) preferences. The defaults keep idle connections
/// free of zlib state: we ask both sides for no context takeover, so every message is
/// (de)compressed on its own and one inflater/deflater per event loop serves all connections.
public struct DeflateSettings: Sendable, Equatable {
    /// Accept permessage-deflate when a client offers it.
    public var enabled = true
    /// Ask for `server_no_context_takeover` even when not offered: our messages are compressed
    /// independently, so one compressed event can go to every subscriber.
    public var serverNoContextTakeover = true
    /// Ask for `client_no_context_takeover`: no per-connection inflater window to keep.
    public var clientNoContextTakeover = true
    /// Largest LZ77 window we compress with (9...15; 8 is not supported by zlib's raw deflate).
    public var serverMaxWindowBits = 15
    /// Messages shorter than this go out uncompressed (RSV1 clear): not worth the CPU.
    public var minMessageSize = 256
    /// zlib level, 1 (fastest) ... 9 (smallest). 1: on JSON events it compresses 4 KiB as well
    /// as level 6 at 3x the speed, and 64 KiB to 12% instead of 9% at 3.5x (zlib 1.3, this
    /// machine); below ~300 bytes the level makes no difference.
    public var compressionLevel = 1

    public init() {}
}

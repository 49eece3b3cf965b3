/// Which `--redis` server holds a channel (contract 2d): the jump consistent hash
/// (Lamping–Veach) of the 64-bit FNV-1a hash of the channel's name over the list. Adding a
/// server moves only about 1/(n+1) of the channels, all of them to the new server.
public struct ShardMap: Sendable {
    public let servers: Int

    public init(servers: Int) { self.servers = max(1, servers) }

    public func server(for channel: String) -> Int {
        servers == 1 ? 0 : ShardHash.jump(ShardHash.fnv1a64(channel.utf8), buckets: servers)
    }
}

public enum ShardHash {
    public static func fnv1a64(_ bytes: some Sequence<UInt8>) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes {
            h ^= UInt64(b)
            h &*= 0x0000_0100_0000_01b3
        }
        return h
    }

    /// "A Fast, Minimal Memory, Consistent Hash Algorithm" (2014), as printed there.
    public static func jump(_ key: UInt64, buckets: Int) -> Int {
        var key = key
        var b: Int64 = -1
        var j: Int64 = 0
        while j < Int64(buckets) {
            b = j
            key = key &* 2_862_933_555_777_941_757 &+ 1
            j = Int64(Double(b + 1) * (Double(Int64(1) << 31) / Double((key >> 33) + 1)))
        }
        return Int(b)
    }
}

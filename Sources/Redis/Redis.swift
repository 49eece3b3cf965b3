// The Redis layer: see Package.swift. Files: RedisConnection (hiredis async on our loop),
// RedisReply (replies as checked values), RedisURL, ShardMap.

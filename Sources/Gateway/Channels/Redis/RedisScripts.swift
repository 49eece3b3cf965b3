/// The server-side scripts of the Redis channel log (contract 2d). Each runs atomically on the
/// channel's server, so positions, history, the latest event, idempotency keys and the pub/sub
/// message of one publish can never disagree.
///
/// Keys of channel C (all on C's server; `{C}` keeps them in one slot should a cluster come):
///   qv:{C}:m   hash  e = epoch, s = seq, r = the server's run id when the epoch was last used
///   qv:{C}:h   stream of the history, entry id `<seq>-0`, fields d = data, t = ms (server clock)
///   qv:{C}:l   the latest event, "epoch\nseq\ndata"
///   qv:{C}:k:K an idempotency key's first position, "epoch\nseq"
///   qv:{C}:e   the pub/sub channel, messages "epoch\nseq\ndata"
///   qv:b:B     a publish call's answer, kept briefly, so a call whose reply was lost can be asked
///              again with the same B and answers what it did the first time (never twice)
///
/// A server that restarted (another run id) may have lost its last writes (a persistence file
/// behind the memory): a channel first used after that gets a new epoch, so no position a
/// replica delivered is ever handed out again.
enum RedisScripts {
    /// Shared head: `now` from the server's clock (one clock for every replica), and `ensure`,
    /// which opens the channel's epoch (new, or after a restart or FLUSHALL) and returns it.
    private static let common = """
    local t = redis.call('TIME')
    local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
    local function ensure(p, rid, cand, keep)
      local m = redis.call('HMGET', p .. 'm', 'e', 's', 'r')
      local epoch, seq = m[1], tonumber(m[2] or '0')
      if (not epoch) or m[3] ~= rid then
        epoch, seq = cand, 0
        redis.call('DEL', p .. 'h', p .. 'l')
        redis.call('HSET', p .. 'm', 'e', epoch, 's', 0, 'r', rid)
      end
      redis.call('PEXPIRE', p .. 'm', keep)
      return epoch, seq
    end

    """

    /// ARGV: rid, batch id, batch ttl ms, history size, idempotency window ms, keep ms, n, then
    /// n × (channel, history ttl ms, idempotency key or "", data JSON, epoch candidate).
    /// Returns one string per item: "n epoch seq" (published) or "d epoch seq" (a repeat).
    static let publish = common + """
    local rid, batch, batchTTL = ARGV[1], ARGV[2], tonumber(ARGV[3])
    local size, window, keep, n = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
    local done = redis.call('GET', 'qv:b:' .. batch)
    if done then
      local out = {}
      for item in string.gmatch(done, '[^,]+') do out[#out + 1] = 'd' .. string.sub(item, 2) end
      return out
    end
    local out = {}
    local i = 8
    for _ = 1, n do
      local ch, ttl, key, data, cand = ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
      i = i + 5
      local p = 'qv:{' .. ch .. '}:'
      local first = false
      if key ~= '' then first = redis.call('GET', p .. 'k:' .. key) end
      if first then
        out[#out + 1] = 'd ' .. first
      else
        local epoch, seq = ensure(p, rid, cand, keep)
        seq = seq + 1
        redis.call('HSET', p .. 'm', 's', seq)
        if size > 0 then
          redis.call('XADD', p .. 'h', 'MAXLEN', size, seq .. '-0', 'd', data, 't', now)
          redis.call('PEXPIRE', p .. 'h', ttl)
        end
        local ev = epoch .. '\\n' .. seq .. '\\n' .. data
        redis.call('SET', p .. 'l', ev, 'PX', keep)
        if key ~= '' then redis.call('SET', p .. 'k:' .. key, epoch .. ' ' .. seq, 'PX', window) end
        redis.call('PUBLISH', p .. 'e', ev)
        out[#out + 1] = 'n ' .. epoch .. ' ' .. seq
      end
    end
    redis.call('SET', 'qv:b:' .. batch, table.concat(out, ','), 'PX', batchTTL)
    return out
    """

    /// A channel's position and the history after `since`, read together. ARGV: rid, channel,
    /// history ttl ms, keep ms, epoch candidate, since epoch (or ""), since seq, want latest (0/1),
    /// min seq (a seq a replica delivered in since's epoch: a server below it lost its tail, and
    /// the channel moves to a new epoch before anything more is published on it).
    /// Returns {epoch, seq, covered (1: every event after since is held and young enough, else 0),
    /// latest or false, entries…} where entries are XRANGE's [id, [field, value, …]].
    static let read = common + """
    local rid, ch, ttl, keep, cand = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
    local sinceEpoch, since, wantLatest, minSeq = ARGV[6], tonumber(ARGV[7]), ARGV[8] == '1', tonumber(ARGV[9])
    local p = 'qv:{' .. ch .. '}:'
    local epoch, seq = ensure(p, rid, cand, keep)
    if epoch == sinceEpoch and seq < minSeq then
      redis.call('HSET', p .. 'm', 'r', '')
      epoch, seq = ensure(p, rid, cand, keep)
    end
    local out = {epoch, tostring(seq), 0, false}
    if sinceEpoch == epoch and since <= seq then
      if since == seq then
        out[3] = 1
      else
        local entries = redis.call('XRANGE', p .. 'h', (since + 1) .. '-0', '+', 'COUNT', seq - since)
        local ok = #entries == seq - since
        if ok then
          for j, e in ipairs(entries) do
            local id = tonumber(string.match(e[1], '^(%d+)'))
            local f = e[2]
            local at = 0
            for k = 1, #f, 2 do if f[k] == 't' then at = tonumber(f[k + 1]) end end
            if id ~= since + j or at + ttl < now then ok = false break end
          end
        end
        if ok then
          out[3] = 1
          for _, e in ipairs(entries) do out[#out + 1] = e end
        end
      end
    end
    if wantLatest then out[4] = redis.call('GET', p .. 'l') end
    return out
    """
}

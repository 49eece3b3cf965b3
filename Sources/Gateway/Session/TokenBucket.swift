import Reactor

/// A token bucket: `rate` tokens a second, at most `burst` saved up. Whole-millisecond
/// arithmetic in integers scaled by 1000, so no drift and no floating point.
struct TokenBucket {
    private let ratePerSecond: Int
    private let burstMilli: Int
    /// Tokens × 1000.
    private var milliTokens: Int
    private var last: Millis

    init(rate: Int, burst: Int, now: Millis) {
        self.ratePerSecond = rate
        self.burstMilli = burst * 1000
        self.milliTokens = burst * 1000
        self.last = now
    }

    /// Takes one token if there is one.
    mutating func take(now: Millis) -> Bool { take(1, now: now) }

    /// Takes `count` tokens if there are that many, else none.
    mutating func take(_ count: Int, now: Millis) -> Bool {
        if now > last {
            let elapsed = Int(min(now - last, 3_600_000))
            milliTokens = min(burstMilli, milliTokens + elapsed * ratePerSecond)
            last = now
        }
        guard count >= 0, milliTokens / 1000 >= count else { return false }
        milliTokens -= count * 1000
        return true
    }
}

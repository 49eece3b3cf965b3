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
    mutating func take(now: Millis) -> Bool {
        if now > last {
            let elapsed = Int(min(now - last, 3_600_000))
            milliTokens = min(burstMilli, milliTokens + elapsed * ratePerSecond)
            last = now
        }
        guard milliTokens >= 1000 else { return false }
        milliTokens -= 1000
        return true
    }
}

/// Which days `risk.metrics` uses (contract 2c, "days"). Days are UTC day numbers: days since
/// 1970-01-01.
public struct RiskDays: Sendable, Equatable {
    /// Ascending: the last lookback+1 days chosen, so `days.count - 1` returns at most.
    public let days: [Int]
    /// True when the benchmark restricted the days, and so beta can be computed on them.
    public let benchmarkUsed: Bool

    public init(days: [Int], benchmarkUsed: Bool) {
        self.days = days
        self.benchmarkUsed = benchmarkUsed
    }
}

/// The benchmark restricts the holdings' common days only when it has a bar on at least this many.
public let benchmarkMinimumCommonDays = 21

/// The days of a historical simulation of today's holdings.
///
/// - Parameters:
///   - holdings: for each held symbol, the days on which it has a daily bar (ascending).
///   - benchmark: the benchmark's days (ascending; empty when it has no bars).
///   - today: only days strictly before it count.
///   - lookback: at most lookback+1 days (lookback returns) are chosen: the last ones.
///
/// The holdings' common days are the days before `today` on which every held symbol has a bar.
/// "At least 21 of them" is counted over all those common days, not over the last lookback+1
/// (the contract's "them" is the common days; the window is taken afterwards, from whichever
/// set applies). No holdings → no days (the caller answers `no_holdings` before asking).
public func selectRiskDays(holdings: [[Int]], benchmark: [Int], today: Int, lookback: Int) -> RiskDays {
    guard let first = holdings.first else { return RiskDays(days: [], benchmarkUsed: false) }
    var common = strictlyAscending(first, before: today)
    for days in holdings.dropFirst() where !common.isEmpty {
        common = intersection(common, strictlyAscending(days, before: today))
    }
    let withBenchmark = intersection(common, strictlyAscending(benchmark, before: today))
    let used = withBenchmark.count >= benchmarkMinimumCommonDays
    let pool = used ? withBenchmark : common
    return RiskDays(days: Array(pool.suffix(max(lookback, 0) + 1)), benchmarkUsed: used)
}

/// The days before `today`, ascending and without repeats. Store results are already like this;
/// sorting only when they are not keeps a caller's slip from silently shrinking the intersection.
func strictlyAscending(_ days: [Int], before today: Int) -> [Int] {
    let kept = days.filter { $0 < today }
    var ascending = true
    for i in kept.indices.dropFirst() where kept[i - 1] >= kept[i] {
        ascending = false
        break
    }
    if ascending { return kept }
    var out: [Int] = []
    out.reserveCapacity(kept.count)
    for day in kept.sorted() where out.last != day { out.append(day) }
    return out
}

/// Days in both strictly ascending lists (a merge, O(a + b)).
func intersection(_ a: [Int], _ b: [Int]) -> [Int] {
    var out: [Int] = []
    out.reserveCapacity(min(a.count, b.count))
    var i = 0, j = 0
    while i < a.count && j < b.count {
        if a[i] == b[j] {
            out.append(a[i])
            i += 1
            j += 1
        } else if a[i] < b[j] {
            i += 1
        } else {
            j += 1
        }
    }
    return out
}

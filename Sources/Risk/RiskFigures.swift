/// The figures of `risk.metrics` (contract 2c): empyrical's definitions over daily returns.
/// Pure; the caller runs it off the event loops and writes `nil` as JSON `null`.

/// The VaR confidence c as an exact integer: c·10⁶, c in [0.5, 0.999] with at most 6 decimals
/// (the caller parses the decimal text, so no binary rounding reaches k or the percentile).
public struct Confidence: Sendable, Hashable {
    public static let scale = 1_000_000
    public let micros: Int

    /// nil outside [0.5, 0.999].
    public init?(micros: Int) {
        guard (500_000...999_000).contains(micros) else { return nil }
        self.micros = micros
    }

    /// 1 − c as the double nearest to it: both integers are exact doubles and the quotient is
    /// correctly rounded.
    var tail: Double { Double(Confidence.scale - micros) / Double(Confidence.scale) }
}

public struct RiskFigures: Sendable, Equatable {
    /// The number of returns n.
    public let observations: Int
    /// stdev(r, ddof 1)·√252.
    public let volatility: Double?
    /// −(numpy's linear percentile of r at 100·(1 − c)).
    public let historicalVaR: Double?
    /// −(mean(r) + Φ⁻¹(1 − c)·stdev(r, ddof 1)), one day.
    public let parametricVaR: Double?
    /// −mean of the k smallest returns, k = ⌊(n − 1)(1 − c)⌋ + 1.
    public let cvar: Double?
    /// (mean(r) − rf)/stdev(r, ddof 1)·√252; nil when all returns are equal.
    public let sharpe: Double?
    /// (mean(r) − rf)/√mean(min(r − rf, 0)²)·√252; nil when no return is below rf.
    public let sortino: Double?
    /// max_t(1 − V_t/max_(s≤t) V_s), a fraction ≥ 0.
    public let maxDrawdown: Double?
    /// cov(r, b)/var(b); nil without a benchmark or when all its returns are equal.
    public let beta: Double?

    public init(observations: Int, volatility: Double?, historicalVaR: Double?, parametricVaR: Double?, cvar: Double?,
                sharpe: Double?, sortino: Double?, maxDrawdown: Double?, beta: Double?) {
        self.observations = observations
        self.volatility = volatility
        self.historicalVaR = historicalVaR
        self.parametricVaR = parametricVaR
        self.cvar = cvar
        self.sharpe = sharpe
        self.sortino = sortino
        self.maxDrawdown = maxDrawdown
        self.beta = beta
    }
}

public enum RiskOutcome: Sendable, Equatable {
    case figures(RiskFigures)
    /// Fewer than `minimumRiskReturns` returns: `insufficient_history` with `data.available`.
    case insufficientHistory(available: Int)
}

/// Fewer returns than this → `insufficientHistory`.
public let minimumRiskReturns = 20

/// Trading days in a year: the annualisation of volatility, Sharpe, Sortino and of rf.
let tradingDaysPerYear = 252.0

/// r_t = V_t/V_(t−1) − 1.
public func dailyReturns(_ values: [Double]) -> [Double] {
    guard values.count >= 2 else { return [] }
    return (1..<values.count).map { values[$0] / values[$0 - 1] - 1 }
}

/// The figures for portfolio values V_t on the chosen days (each the double nearest the exact
/// Σ quantity·close) and, when the benchmark was used, its closes on the same days.
///
/// - Parameter annualRiskFreeRate: `--risk-free-rate`, a fraction (0.04 = 4 %); rf = it/252.
/// - Precondition: `benchmarkCloses`, when given, has one close per value.
public func riskFigures(values: [Double], benchmarkCloses: [Double]?, confidence: Confidence,
                        annualRiskFreeRate: Double = 0) -> RiskOutcome {
    if let benchmarkCloses {
        precondition(benchmarkCloses.count == values.count, "one benchmark close per chosen day")
    }
    let returns = dailyReturns(values)
    guard returns.count >= minimumRiskReturns else { return .insufficientHistory(available: returns.count) }
    return .figures(figures(values: values, returns: returns, benchmarkReturns: benchmarkCloses.map(dailyReturns),
                            confidence: confidence, dailyRiskFree: annualRiskFreeRate / tradingDaysPerYear))
}

/// The figures from returns already computed (tests call it with returns no V_t can produce).
func figures(values: [Double], returns r: [Double], benchmarkReturns b: [Double]?, confidence: Confidence,
             dailyRiskFree rf: Double) -> RiskFigures {
    let n = r.count
    let annualisation = tradingDaysPerYear.squareRoot()
    let flat = allEqual(r)
    let m = mean(r)
    let sd = sampleStandardDeviation(r)
    let sorted = r.sorted()

    // (n − 1)(1 − c) exactly, as an integer part and a remainder over 10⁶.
    let scaledIndex = (n - 1) * (Confidence.scale - confidence.micros)
    let whole = scaledIndex / Confidence.scale
    let fraction = Double(scaledIndex % Confidence.scale) / Double(Confidence.scale)

    let tailMean = mean(Array(sorted.prefix(tailCount(returns: n, confidence: confidence))))

    let sharpe: Double? = flat ? nil : (m - rf) / sd * annualisation
    // No return below rf ⇔ every min(r − rf, 0) is exactly 0 (a float difference of distinct
    // values is never 0), so the comparison decides it.
    let sortino: Double?
    if r.contains(where: { $0 < rf }) {
        let downside = compensatedSum(r.lazy.map { min($0 - rf, 0) * min($0 - rf, 0) }) / Double(n)
        sortino = (m - rf) / downside.squareRoot() * annualisation
    } else {
        sortino = nil
    }

    var beta: Double?
    if let b, b.count == n, !allEqual(b) { beta = slope(r, on: b) }

    return RiskFigures(
        observations: n,
        volatility: number(sd * annualisation),
        historicalVaR: number(-linearPercentile(sorted, whole: whole, fraction: fraction)),
        parametricVaR: number(-(m + inverseNormalCDF(confidence.tail) * sd)),
        cvar: number(-tailMean),
        sharpe: sharpe.flatMap(number),
        sortino: sortino.flatMap(number),
        maxDrawdown: number(maxDrawdown(values)),
        beta: beta.flatMap(number))
}

/// CVaR's k = ⌊(n − 1)(1 − c)⌋ + 1, in integers (empyrical rounds (n − 1)·cutoff in floating
/// point, where 1 − 0.9 < 0.1 would lose one; the contract asks for the exact count).
func tailCount(returns n: Int, confidence: Confidence) -> Int {
    (n - 1) * (Confidence.scale - confidence.micros) / Confidence.scale + 1
}

/// A finite figure, with −0 written as 0 (−(0) must not reach JSON as "-0"); anything else nil.
func number(_ x: Double) -> Double? {
    guard x.isFinite else { return nil }
    return x == 0 ? 0 : x
}

/// numpy.percentile's default ("linear", virtual index (n − 1)·q) on ascending values, with the
/// index given exactly; interpolated as numpy's `_lerp` does (from the upper end when γ ≥ ½).
func linearPercentile(_ sorted: [Double], whole: Int, fraction gamma: Double) -> Double {
    guard let last = sorted.indices.last else { return .nan }
    let below = sorted[min(whole, last)]
    let above = sorted[min(whole + 1, last)]
    let diff = above - below
    return gamma >= 0.5 ? above - diff * (1 - gamma) : below + diff * gamma
}

/// max_t(1 − V_t/max_(s≤t) V_s).
func maxDrawdown(_ values: [Double]) -> Double {
    guard var peak = values.first else { return .nan }
    var worst = 0.0
    for v in values {
        // A NaN value must poison the result rather than be skipped by max().
        if v.isNaN { return .nan }
        peak = max(peak, v)
        worst = max(worst, 1 - v / peak)
    }
    return worst
}

/// Sums, means and variances with care for rounding: compensated summation (Neumaier) and the
/// corrected two-pass variance. Inputs of any length; empty inputs give NaN, never a trap.

/// Σ x, Neumaier's compensated sum: the error does not grow with the count.
func compensatedSum<S: Sequence<Double>>(_ xs: S) -> Double {
    var sum = 0.0
    var compensation = 0.0
    for x in xs {
        let t = sum + x
        if abs(sum) >= abs(x) {
            compensation += (sum - t) + x
        } else {
            compensation += (x - t) + sum
        }
        sum = t
    }
    return sum + compensation
}

/// True when every element equals the first (also for 0 or 1 elements). This, not a computed
/// spread compared with 0, decides "zero dispersion" (contract 2c): the mean of equal values
/// computed in floating point need not equal them, so a computed stdev need not be 0.
func allEqual(_ xs: [Double]) -> Bool {
    guard let first = xs.first else { return true }
    return xs.allSatisfy { $0 == first }
}

/// The arithmetic mean; exactly the common value when all are equal, and refined by a second
/// pass (the mean of the residuals) otherwise.
func mean(_ xs: [Double]) -> Double {
    guard let first = xs.first else { return .nan }
    if allEqual(xs) { return first }
    let n = Double(xs.count)
    let m = compensatedSum(xs) / n
    return m + compensatedSum(xs.lazy.map { $0 - m }) / n
}

/// The sample variance (ddof 1), corrected two-pass: (Σd² − (Σd)²/n)/(n − 1), d = x − mean.
/// Exactly 0 when all inputs are equal.
func sampleVariance(_ xs: [Double]) -> Double {
    guard xs.count >= 2 else { return .nan }
    if allEqual(xs) { return 0 }
    let m = mean(xs)
    let n = Double(xs.count)
    let sumD = compensatedSum(xs.lazy.map { $0 - m })
    let sumD2 = compensatedSum(xs.lazy.map { ($0 - m) * ($0 - m) })
    return max(sumD2 - sumD * sumD / n, 0) / (n - 1)
}

/// stdev(ddof 1).
func sampleStandardDeviation(_ xs: [Double]) -> Double {
    sampleVariance(xs).squareRoot()
}

/// Σ (x − x̄)(y − ȳ) / Σ (y − ȳ)²: the regression slope of x on y. The ddof is the same in the
/// numerator and the denominator, so it cancels (empyrical's beta uses ddof 0 in both).
func slope(_ xs: [Double], on ys: [Double]) -> Double {
    let mx = mean(xs)
    let my = mean(ys)
    let cov = compensatedSum(zip(xs, ys).lazy.map { ($0 - mx) * ($1 - my) })
    let varY = compensatedSum(ys.lazy.map { ($0 - my) * ($0 - my) })
    return cov / varY
}

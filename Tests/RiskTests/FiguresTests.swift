import Testing
@testable import Risk

@Suite("Figures")
struct FiguresTests {
    static let c95 = Confidence(micros: 950_000)

    @Test func confidenceRange() {
        #expect(Confidence(micros: 500_000) != nil)
        #expect(Confidence(micros: 999_000) != nil)
        #expect(Confidence(micros: 499_999) == nil)
        #expect(Confidence(micros: 999_001) == nil)
    }

    @Test func insufficientHistory() throws {
        let c = try #require(Self.c95)
        #expect(riskFigures(values: Array(repeating: 1, count: 20), benchmarkCloses: nil, confidence: c) == .insufficientHistory(available: 19))
        #expect(riskFigures(values: [], benchmarkCloses: nil, confidence: c) == .insufficientHistory(available: 0))
        #expect(riskFigures(values: [3], benchmarkCloses: nil, confidence: c) == .insufficientHistory(available: 0))
        guard case .figures(let f) = riskFigures(values: Array(repeating: 1, count: 21), benchmarkCloses: nil, confidence: c) else {
            Issue.record("21 values are 20 returns: enough")
            return
        }
        #expect(f.observations == 20)
    }

    /// Equal returns whose floating-point mean is not exactly them: the naive stdev is tiny but
    /// not 0. Zero dispersion is decided by comparing the inputs, so Sharpe is null, and the
    /// volatility is exactly 0.
    @Test func zeroDispersionByEquality() throws {
        let r = Array(repeating: 0.1, count: 30)
        let naiveMean = r.reduce(0, +) / Double(r.count)
        #expect(naiveMean != 0.1)  // the reason for the rule
        let values = [1.0] + (1...30).map { _ in 1.0 }  // unused by these figures but maxDrawdown
        let f = figures(values: values, returns: r, benchmarkReturns: r, confidence: try #require(Self.c95), dailyRiskFree: 0)
        #expect(f.volatility == 0)
        #expect(f.sharpe == nil)
        #expect(f.sortino == nil)  // no return below rf
        #expect(f.beta == nil)     // benchmark returns all equal
        #expect(f.parametricVaR == -0.1)
        #expect(f.historicalVaR == -0.1)
        #expect(f.cvar == -0.1)
    }

    /// Flat portfolio: every figure that is a number is +0, never −0.
    @Test func flatPortfolioHasNoNegativeZero() throws {
        let values = Array(repeating: 2000.0, count: 61)
        guard case .figures(let f) = riskFigures(values: values, benchmarkCloses: nil, confidence: try #require(Self.c95)) else {
            Issue.record("expected figures")
            return
        }
        for x in [f.volatility, f.historicalVaR, f.parametricVaR, f.cvar, f.maxDrawdown] {
            #expect(x == 0)
            #expect(x?.sign == .plus)
        }
        #expect(f.sharpe == nil && f.sortino == nil && f.beta == nil)
    }

    /// With rf > 0 a flat portfolio's returns are all below rf: the downside deviation is rf, not
    /// zero, so Sortino is a number (−√252) while Sharpe is null.
    @Test func flatPortfolioWithRiskFree() throws {
        let values = Array(repeating: 2000.0, count: 61)
        guard case .figures(let f) = riskFigures(values: values, benchmarkCloses: nil, confidence: try #require(Self.c95),
                                                 annualRiskFreeRate: 0.04) else {
            Issue.record("expected figures")
            return
        }
        #expect(f.sharpe == nil)
        #expect(agrees(try #require(f.sortino), -(252.0).squareRoot(), relative: 1e-15, absolute: 0))
    }

    /// A value of 0 makes a return infinite: the figures that become non-finite are nil, never
    /// ±∞ or NaN.
    @Test func nonFiniteFiguresAreNil() throws {
        var values = (0..<30).map { 100 + Double($0 % 7) }
        values[10] = 0
        guard case .figures(let f) = riskFigures(values: values, benchmarkCloses: values, confidence: try #require(Self.c95)) else {
            Issue.record("expected figures")
            return
        }
        for x in [f.volatility, f.historicalVaR, f.parametricVaR, f.cvar, f.sharpe, f.sortino, f.maxDrawdown, f.beta] {
            if let x { #expect(x.isFinite) }
        }
        #expect(f.volatility == nil)
        #expect(f.sharpe == nil)
    }

    /// k = ⌊(n − 1)(1 − c)⌋ + 1 in integers: with n − 1 = 20 and c = 0.9, k = 3 (in floats,
    /// 20·(1 − 0.9) = 1.9999999999999996 gives 2).
    @Test func tailCountIsExact() throws {
        #expect(tailCount(returns: 21, confidence: try #require(Confidence(micros: 900_000))) == 3)
        #expect(tailCount(returns: 20, confidence: try #require(Confidence(micros: 950_000))) == 1)
        #expect(tailCount(returns: 252, confidence: try #require(Confidence(micros: 950_000))) == 13)
        #expect(tailCount(returns: 1001, confidence: try #require(Confidence(micros: 999_000))) == 2)
        #expect(tailCount(returns: 20, confidence: try #require(Confidence(micros: 500_000))) == 10)
    }

    /// numpy.percentile([1, 2, 3, 4], q) with linear interpolation.
    @Test func linearPercentileAsNumpy() {
        let x = [1.0, 2, 3, 4]
        #expect(linearPercentile(x, whole: 0, fraction: 0.15) == 1.15)  // q = 5 %: index 0.15
        #expect(linearPercentile(x, whole: 1, fraction: 0.5) == 2.5)
        #expect(linearPercentile(x, whole: 3, fraction: 0) == 4)
    }

    @Test func maxDrawdownOfValues() {
        #expect(maxDrawdown([100, 120, 90, 130, 65, 140]) == 0.5)
        #expect(maxDrawdown([1, 2, 3]) == 0)
    }

    @Test func statisticsOnEqualValues() {
        #expect(mean([0.1, 0.1, 0.1]) == 0.1)
        #expect(sampleVariance([0.7, 0.7, 0.7, 0.7]) == 0)
        #expect(sampleVariance([1, 2, 3, 4]) == 5.0 / 3)
        #expect(compensatedSum([1e16, 1, -1e16]) == 1)
    }
}

import Testing
@testable import Risk

/// Every case of fixtures/cases.json through the caller's path — exact V_t from the decimal
/// closes, day selection, figures — against fixtures/expected.json from the numpy oracle.
@Suite("Known answers (numpy oracle)")
struct KnownAnswerTests {
    static let cases: [Case] = (try? loadCases()) ?? []

    @Test func fixturesLoad() throws {
        #expect(try loadCases().count == (try loadExpected()).count)
        #expect(Self.cases.count >= 20)
    }

    @Test(arguments: cases)
    func matchesOracle(_ c: Case) throws {
        let bars = try Bars.load()
        let expected = try #require(try loadExpected().first { $0.name == c.name }, "no expected entry for \(c.name)")
        let today = try dayNumber(c.today)
        let selection = selectRiskDays(holdings: c.holdings.map { bars.days($0[0]) },
                                       benchmark: c.benchmark.map(bars.days) ?? [], today: today, lookback: c.lookback)
        #expect(selection.days.count == expected.days)
        #expect(selection.benchmarkUsed == expected.benchmarkUsed)
        #expect(selection.days.first == (try expected.firstDay.map(dayNumber)))
        #expect(selection.days.last == (try expected.asOf.map(dayNumber)))
        #expect(selection.days.allSatisfy { $0 < today })

        // V_t = Σ quantity·close exactly, then the nearest double — what the caller will pass.
        var values: [Double] = []
        for day in selection.days {
            var total = ExactDecimal(digits: 0, scale: 0)
            for holding in c.holdings {
                let close = try #require(bars.closes[holding[0]]?[day])
                total = total + (try ExactDecimal(Substring(holding[1]))) * close
            }
            values.append(try #require(total.double))
        }
        var benchmarkCloses: [Double]?
        if selection.benchmarkUsed, let symbol = c.benchmark {
            benchmarkCloses = try selection.days.map { try #require(bars.closes[symbol]?[$0]?.double) }
        }
        let confidence = try #require(Confidence(micros: try confidenceMicros(c.confidence)))
        let rf = try #require(Double(c.riskFreeRate))

        switch riskFigures(values: values, benchmarkCloses: benchmarkCloses, confidence: confidence, annualRiskFreeRate: rf) {
        case .insufficientHistory(let available):
            #expect(expected.outcome == "insufficient_history")
            #expect(available == expected.available)
            #expect(available == expected.observations)
        case .figures(let figures):
            #expect(expected.outcome == "figures")
            #expect(figures.observations == expected.observations)
            #expect(tailCount(returns: figures.observations, confidence: confidence) == expected.k)
            let want = try #require(expected.figures)
            #expect(differences(Expected.Figures(figures), want) == [])
        }
    }
}

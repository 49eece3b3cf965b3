import Testing
@testable import Risk

@Suite("Day selection")
struct DaySelectionTests {
    @Test func commonDaysBeforeToday() {
        let s = selectRiskDays(holdings: [[1, 2, 3, 5, 8, 9], [2, 3, 4, 5, 9, 10]], benchmark: [], today: 9, lookback: 20)
        #expect(s == RiskDays(days: [2, 3, 5], benchmarkUsed: false))
    }

    @Test func lastLookbackPlusOneDays() {
        let days = Array(0..<100)
        let s = selectRiskDays(holdings: [days], benchmark: [], today: 1000, lookback: 20)
        #expect(s.days == Array(79..<100))
    }

    /// The benchmark restricts from 21 common days on; with 20 it is ignored (and beta is null).
    @Test func benchmarkThreshold() {
        let holding = Array(0..<60)
        let twentyOne = Array(stride(from: 0, to: 42, by: 2))  // 21 days, all common
        let used = selectRiskDays(holdings: [holding], benchmark: twentyOne + [500], today: 60, lookback: 252)
        #expect(used == RiskDays(days: twentyOne, benchmarkUsed: true))

        let twenty = Array(twentyOne.dropLast())
        let ignored = selectRiskDays(holdings: [holding], benchmark: twenty + [61, 62], today: 60, lookback: 252)
        #expect(ignored == RiskDays(days: holding, benchmarkUsed: false))
    }

    /// "At least 21 of them" counts all common days, not only the last lookback+1.
    @Test func thresholdCountsAllCommonDays() {
        let holding = Array(0..<100)
        let benchmark = Array(0..<21)  // far back: none in the last 21 days of the holding
        let s = selectRiskDays(holdings: [holding], benchmark: benchmark, today: 100, lookback: 20)
        #expect(s == RiskDays(days: benchmark, benchmarkUsed: true))
    }

    @Test func benchmarkDaysOnOrAfterTodayDoNotCount() {
        let holding = Array(0..<40)
        let s = selectRiskDays(holdings: [holding], benchmark: Array(10..<40), today: 30, lookback: 252)
        #expect(s == RiskDays(days: Array(0..<30), benchmarkUsed: false))  // 20 benchmark days before today
    }

    @Test func noHoldingsNoDays() {
        #expect(selectRiskDays(holdings: [], benchmark: [1, 2, 3], today: 10, lookback: 20) == RiskDays(days: [], benchmarkUsed: false))
    }

    @Test func unsortedInputIsNormalised() {
        let s = selectRiskDays(holdings: [[5, 3, 3, 1, 2]], benchmark: [], today: 10, lookback: 20)
        #expect(s.days == [1, 2, 3, 5])
    }
}

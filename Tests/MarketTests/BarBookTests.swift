import Market
import Money
import Testing

/// The bar rules of contract 2c on the pure book: no store, no clock.
@Suite("BarBook")
struct BarBookTests {
    let now: Int64 = 1_764_547_200_000 + 12 * 3_600_000   // 2025-12-01T12:00Z
    func d(_ s: String) -> ExactDecimal { ExactDecimal(canonicalOrPlain: s) ?? .zero }

    func only(_ book: BarBook, _ interval: BarInterval, _ symbol: String = "AAPL") -> [Bar] {
        book.pending(symbol: symbol, interval: interval, from: .min, to: .max)
    }

    @Test func openHighLowCloseVolumeWithTies() {
        var book = BarBook()
        let t = now - 30_000
        do { let ok = book.record(symbol: "AAPL", price: d("10.50"), volume: d("2"), ts: t + 5, now: now); #expect(ok) }
        do { let ok = book.record(symbol: "AAPL", price: d("12"), volume: nil, ts: t + 1, now: now); #expect(ok) }    // earliest: open
        do { let ok = book.record(symbol: "AAPL", price: d("9"), volume: d("0.5"), ts: t + 1, now: now); #expect(ok) }  // tie: not open
        do { let ok = book.record(symbol: "AAPL", price: d("11"), volume: nil, ts: t + 9, now: now); #expect(ok) }     // latest: close
        do { let ok = book.record(symbol: "AAPL", price: d("11.25"), volume: d("1"), ts: t + 9, now: now); #expect(ok) } // tie: last published closes
        for interval in BarInterval.allCases {
            let bars = only(book, interval)
            #expect(bars.count == 1)
            let b = bars[0]
            #expect(b.t == interval.start(t))
            #expect(b.open.description == "12")
            #expect(b.high.description == "12")
            #expect(b.low.description == "9")
            #expect(b.close.description == "11.25")
            #expect(b.volume.description == "3.5")
        }
    }

    @Test func volumeIsZeroWhenNoneHadOne() {
        var book = BarBook()
        book.record(symbol: "X", price: d("1"), volume: nil, ts: now, now: now)
        #expect(only(book, .minute, "X").first?.volume.description == "0")
    }

    @Test func tooOldAndTooFarAheadUpdateNoBar() {
        var book = BarBook()
        do { let ok = book.record(symbol: "X", price: d("1"), volume: nil, ts: now - 2 * 86_400_000 - 1, now: now); #expect(!ok) }
        do { let ok = book.record(symbol: "X", price: d("1"), volume: nil, ts: now + 60_001, now: now); #expect(!ok) }
        #expect(book.count == 0)
        do { let ok = book.record(symbol: "X", price: d("1"), volume: nil, ts: now - 2 * 86_400_000, now: now); #expect(ok) }
        do { let ok = book.record(symbol: "X", price: d("1"), volume: nil, ts: now + 60_000, now: now); #expect(ok) }
    }

    @Test func minuteAndDayBoundariesInUTC() {
        var book = BarBook()
        let midnight = now - 12 * 3_600_000
        book.record(symbol: "X", price: d("1"), volume: nil, ts: midnight - 1, now: now)
        book.record(symbol: "X", price: d("2"), volume: nil, ts: midnight, now: now)
        book.record(symbol: "X", price: d("3"), volume: nil, ts: midnight + 59_999, now: now)
        book.record(symbol: "X", price: d("4"), volume: nil, ts: midnight + 60_000, now: now)
        #expect(only(book, .minute, "X").map(\.t) == [midnight - 60_000, midnight, midnight + 60_000])
        #expect(only(book, .minute, "X")[1].close.description == "3")
        let days = only(book, .day, "X")
        #expect(days.map(\.t) == [midnight - 86_400_000, midnight])
        #expect(days[1].open.description == "2" && days[1].close.description == "4")
        #expect(BarInterval.day.start(-1) == -86_400_000)
    }

    @Test func flushMovesDirtyInFlightAndAFailureRetriesInOrder() {
        var book = BarBook()
        book.record(symbol: "X", price: d("5"), volume: d("1"), ts: now, now: now)
        let first = book.beginFlush()
        #expect(first?.count == 2)
        let second = book.beginFlush()
        #expect(second == nil)   // one at a time
        book.record(symbol: "X", price: d("6"), volume: d("1"), ts: now, now: now)
        // Still visible while in flight, merged with what came since.
        #expect(only(book, .minute, "X").first?.close.description == "6")
        #expect(only(book, .minute, "X").first?.volume.description == "2")
        book.endFlush(committed: false)
        let again = book.beginFlush()
        let bar = again?.values.first { $0.t == BarInterval.minute.start(now) }
        #expect(bar?.open.description == "5" && bar?.close.description == "6" && bar?.volume.description == "2")
        book.endFlush(committed: true)
        #expect(book.count == 0)
    }

    @Test func theBoundRefusesNewBars() {
        var book = BarBook(maxBars: 4)
        do { let ok = book.record(symbol: "A", price: d("1"), volume: nil, ts: now, now: now); #expect(ok) }
        do { let ok = book.record(symbol: "B", price: d("1"), volume: nil, ts: now, now: now); #expect(ok) }
        do { let ok = book.record(symbol: "C", price: d("1"), volume: nil, ts: now, now: now); #expect(!ok) }
        do { let ok = book.record(symbol: "A", price: d("2"), volume: nil, ts: now, now: now); #expect(ok) }   // existing bars still update
        do { let n = book.takeDropped(); #expect(n == 1) }
    }

    @Test func mergingAStoredBarWithADelta() {
        let stored = Bar(t: 0, open: d("10"), high: d("12"), low: d("9"), close: d("11"), volume: d("100"), openTs: 0, closeTs: 0)
        let delta = Bar(t: 0, open: d("8"), high: d("8"), low: d("8"), close: d("8"), volume: d("1"), openTs: 0, closeTs: 0)
        let m = stored.merged(with: delta)
        // An imported bar (open/close at the bar start): a live event never takes its open, always its close.
        #expect(m.open.description == "10" && m.close.description == "8" && m.low.description == "8")
        #expect(m.high.description == "12" && m.volume.description == "101")
    }
}

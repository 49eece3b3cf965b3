import Reactor
import Testing

@Suite("FIFO")
struct FIFOTests {
    @Test func keepsOrderAcrossCompactionsAndReleasesTakenElements() {
        final class Token {}
        var q = FIFO<(Int, Token)>()
        weak var firstToken: Token?
        do {
            let t = Token()
            firstToken = t
            q.append((0, t))
        }
        var next = 1, expected = 0
        // Interleaved: the head passes 1024 many times, so the array is compacted on the way.
        for round in 0..<50 {
            for _ in 0..<(100 + round) { q.append((next, Token())); next += 1 }
            for _ in 0..<90 {
                #expect(q.popFirst()?.0 == expected)
                expected += 1
            }
            if round == 0 { #expect(firstToken == nil) }   // taken: released at once
        }
        #expect(q.count == next - expected)
        #expect(q.first?.0 == expected)
        while let e = q.popFirst() {
            #expect(e.0 == expected)
            expected += 1
        }
        #expect(q.isEmpty && expected == next && q.popFirst() == nil)
    }
}

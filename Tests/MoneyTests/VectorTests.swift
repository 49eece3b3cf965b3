import Foundation
import Testing
import Money

/// ExactDecimal against the independent oracle (oracle.py: Python's decimal and fractions).
@Suite("Oracle vectors")
struct VectorTests {
    /// vectors.txt: `python3 oracle.py --seed 20261202 --count 5000`, checked in, so this runs
    /// without Python.
    @Test func checkedInVectors() throws {
        let text = try String(contentsOf: testsFolder.appendingPathComponent("vectors.txt"), encoding: .utf8)
        let cases = checkAll(text, source: "vectors.txt")
        #expect(cases == 5000)
    }

    static let noPython = ProcessInfo.processInfo.environment["QV_NO_PYTHON"] == "1"

    /// Fresh cases from a new seed each run (printed with any failure, to replay:
    /// `python3 oracle.py --seed S --count 3000`). Without python3 this fails unless QV_NO_PYTHON=1.
    @Test(.enabled(if: !noPython, "QV_NO_PYTHON=1"))
    func freshSeed() {
        let probe = run(["python3", "--version"])
        guard probe.status == 0 else {
            Issue.record("""
                python3 is needed to run Tests/MoneyTests/oracle.py (exit \(probe.status): \(probe.errors)); \
                install it, or set QV_NO_PYTHON=1 to skip this test.
                """)
            return
        }
        let seed = UInt64.random(in: 1...UInt64(Int64.max))
        let count = 3000
        let result = run(["python3", testsFolder.appendingPathComponent("oracle.py").path, "--seed", "\(seed)", "--count", "\(count)"])
        guard result.status == 0 else {
            Issue.record("oracle.py --seed \(seed) failed (exit \(result.status)): \(result.errors)")
            return
        }
        let cases = checkAll(result.output, source: "oracle.py --seed \(seed) --count \(count)")
        #expect(cases == count, "oracle.py --seed \(seed)")
    }
}

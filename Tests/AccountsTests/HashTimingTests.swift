import Accounts
import Glibc
import Testing

/// How long one default Argon2id hash takes here: `QV_MEASURE_HASH=1 swift test --filter HashTiming`.
/// Off by default (it only prints, and costs a second or two).
@Suite struct HashTimingTests {
    @Test(.enabled(if: getenv("QV_MEASURE_HASH") != nil))
    func defaultParameters() throws {
        let hasher = try PasswordHasher()
        let password = Array("a typical password".utf8)
        let encoded = try hasher.hash(password)
        var times: [Duration] = []
        for _ in 0..<20 {
            let start = ContinuousClock.now
            _ = hasher.verify(password, against: encoded)
            times.append(ContinuousClock.now - start)
        }
        times.sort()
        let median = times[times.count / 2]
        let ms = Double(median.components.attoseconds) / 1e15 + Double(median.components.seconds) * 1000
        print("argon2id m=19456 t=2 p=1: median \(ms) ms per verify (min \(times[0]), max \(times[times.count - 1])); ~\(Int(1000 / ms)) logins/s per core")
        var dummyTimes: [Duration] = []
        for _ in 0..<20 {
            let start = ContinuousClock.now
            hasher.verifyDummy(password)
            dummyTimes.append(ContinuousClock.now - start)
        }
        dummyTimes.sort()
        print("verifyDummy median \(dummyTimes[10])")
    }
}

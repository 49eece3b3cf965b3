import Testing
import Money

@Suite("Doubles")
struct NearestDoubleTests {
    @Test(arguments: [
        ("1", "3", 0.3333333333333333), ("2", "3", 0.6666666666666666), ("-2", "3", -0.6666666666666666),
        ("120.5", "147.5", 0.8169491525423729), ("1", "1", 1.0), ("0", "7", 0.0), ("0", "-7", 0.0),
        ("1", "10", 0.1), ("3", "10", 0.3), ("-1", "-0.0000000001", 1e10),
        ("123456789012345678901234567890.1234567890", "0.0000000001", 1.2345678901234568e39),
        ("0.0000000001", "123456789012345678901234567890.1234567890", 8.1000000729e-40),
    ])
    func knownQuotients(_ a: String, _ b: String, _ expected: Double) throws {
        let q = try #require(try dec(a).nearestDouble(dividedBy: dec(b)))
        #expect(q.bitPattern == expected.bitPattern, "\(a) ÷ \(b) = \(q), expected \(expected)")
    }

    /// Exact decimal expansions of midpoints between adjacent Doubles, as numerators over 1,
    /// and the same ± 10^-60: the tie goes to the even significand, anything off it to the
    /// nearer neighbour.
    static let midpoints: [(String, Double, Double, Double)] = [
        // 1 + 2^-53, between 1 and 1 + 2^-52: even is 1.
        ("1.00000000000000011102230246251565404236316680908203125", 1.0, 1.0000000000000002, 1.0),
        // 1 + 3·2^-53, between 1 + 2^-52 and 1 + 2^-51: even is 1 + 2^-51.
        ("1.00000000000000033306690738754696212708950042724609375", 1.0000000000000004, 1.0000000000000004, 1.0000000000000002),
        // 2^53 + 1 and 2^53 + 3.
        ("9007199254740993", 9007199254740992, 9007199254740994, 9007199254740992),
        ("9007199254740995", 9007199254740996, 9007199254740996, 9007199254740994),
        // 0.1 = 0x1.999999999999ap-4 and the midpoint above it: 0.1's significand is the even one.
        ("0.100000000000000012490009027033011079765856266021728515625", 0.1, 0.10000000000000002, 0.1),
    ]

    @Test(arguments: midpoints)
    func midpointsBetweenDoubles(_ m: String, _ tie: Double, _ above: Double, _ below: Double) throws {
        let one = ExactDecimal(1)
        let tiny = try dec("0." + String(repeating: "0", count: 59) + "1")
        let x = try dec(m)
        #expect(x.nearestDouble(dividedBy: one) == tie)
        #expect((x + tiny).nearestDouble(dividedBy: one) == above)
        #expect((x - tiny).nearestDouble(dividedBy: one) == below)
        #expect(x.doubleValue == tie)
        #expect((x + tiny).doubleValue == above)
        #expect((x - tiny).doubleValue == below)
        // Negated, and as a quotient that is not already a terminating numerator.
        #expect((-x).nearestDouble(dividedBy: one) == -tie)
        let seven = ExactDecimal(7)
        #expect((x * seven).nearestDouble(dividedBy: seven) == tie)
        #expect(((x + tiny) * seven).nearestDouble(dividedBy: seven) == above)
        #expect(((x - tiny) * ExactDecimal(-3)).nearestDouble(dividedBy: ExactDecimal(3)) == -below)
    }

    /// 3·2^-1075, the midpoint between the two smallest subnormals, has 752 significant digits:
    /// (3·5^1075) ÷ 10^1075 ties to 2·2^-1074 (even); one unit off either way decides.
    @Test func subnormalMidpoint() {
        let numerator = ExactDecimal(3) * power(ExactDecimal(5), 1075)
        let denominator = power(ExactDecimal(10), 1075)
        let smallest = Double.leastNonzeroMagnitude
        #expect(numerator.nearestDouble(dividedBy: denominator) == 2 * smallest)
        #expect((numerator + ExactDecimal(1)).nearestDouble(dividedBy: denominator) == 2 * smallest)
        #expect((numerator - ExactDecimal(1)).nearestDouble(dividedBy: denominator) == smallest)
        #expect((-numerator).nearestDouble(dividedBy: denominator) == -2 * smallest)
        // Half the smallest subnormal ties to zero (even); anything more goes up.
        let half = power(ExactDecimal(5), 1075)
        #expect(half.nearestDouble(dividedBy: denominator) == 0)
        #expect((half + ExactDecimal(1)).nearestDouble(dividedBy: denominator) == smallest)
    }

    @Test func outOfRange() throws {
        let big = try dec("1" + String(repeating: "0", count: 199))
        let small = try dec("0." + String(repeating: "0", count: 149) + "1")
        #expect(big.nearestDouble(dividedBy: small) == .infinity)
        #expect((-big).nearestDouble(dividedBy: small) == -.infinity)
        #expect(small.nearestDouble(dividedBy: big) == 0)
        // 10^-190 ÷ 10^130 = 10^-320, a subnormal.
        let tinyNumerator = try dec("0." + String(repeating: "0", count: 189) + "1")
        let q = tinyNumerator.nearestDouble(dividedBy: try dec("1" + String(repeating: "0", count: 130)))
        #expect(q == 2024 * Double.leastNonzeroMagnitude)  // float(Fraction(1, 10**320)), as a literal it warns
    }

    @Test func doubleValue() throws {
        #expect(try dec("187.25").doubleValue == 187.25)
        #expect(try dec("-0.1").doubleValue == -0.1)
        #expect(try dec("0").doubleValue.bitPattern == (0.0).bitPattern)
        #expect(try dec("-0.000").doubleValue.bitPattern == (0.0).bitPattern)
        #expect(try dec("123456789012345678901234567890.1234567890").doubleValue == 1.2345678901234568e29)
    }
}

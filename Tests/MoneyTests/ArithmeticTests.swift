import Testing
import Money

@Suite("Arithmetic")
struct ArithmeticTests {
    /// Half-to-even at the rounding digit: (value, scale, expected).
    static let ties: [(String, Int, String)] = [
        ("0.5", 0, "0"), ("1.5", 0, "2"), ("2.5", 0, "2"), ("3.5", 0, "4"), ("-0.5", 0, "0"), ("-1.5", 0, "-2"),
        ("-2.5", 0, "-2"), ("-3.5", 0, "-4"), ("2.5000001", 0, "3"), ("2.4999999", 0, "2"),
        ("0.00000000005", 10, "0"), ("0.00000000015", 10, "0.0000000002"), ("0.00000000025", 10, "0.0000000002"),
        ("-0.00000000015", 10, "-0.0000000002"), ("0.000000000050000000000000001", 10, "0.0000000001"),
        ("1.005", 2, "1"), ("1.015", 2, "1.02"), ("1.025", 2, "1.02"), ("99.995", 2, "100"),
        ("999999999999999999999999999999.99999999995", 10, "1000000000000000000000000000000"),
        ("1.5", 3, "1.5"), ("7", 0, "7"),
    ]

    @Test(arguments: ties)
    func roundedHalfToEven(_ value: String, _ scale: Int, _ expected: String) throws {
        #expect(try dec(value).rounded(scale: scale).description == expected)
    }

    /// The same ties through division: value ÷ 1 and (value·7) ÷ 7.
    @Test(arguments: ties)
    func dividedHalfToEven(_ value: String, _ scale: Int, _ expected: String) throws {
        let v = try dec(value)
        #expect(v.divided(by: ExactDecimal(1), scale: scale)?.description == expected)
        #expect((v * ExactDecimal(7)).divided(by: ExactDecimal(7), scale: scale)?.description == expected)
        #expect((v * ExactDecimal(-3)).divided(by: ExactDecimal(-3), scale: scale)?.description == expected)
    }

    @Test func divisionKnownAnswers() throws {
        #expect(try dec("1").divided(by: dec("3"))?.description == "0.3333333333")
        #expect(try dec("2").divided(by: dec("3"))?.description == "0.6666666667")
        #expect(try dec("-2").divided(by: dec("3"))?.description == "-0.6666666667")
        #expect(try dec("1").divided(by: dec("-3"), scale: 0)?.description == "0")
        #expect(try dec("10").divided(by: dec("4"), scale: 0)?.description == "2")     // 2.5
        #expect(try dec("14").divided(by: dec("4"), scale: 0)?.description == "4")     // 3.5
        #expect(try dec("1").divided(by: dec("0.0000000003"))?.description == "3333333333.3333333333")
        #expect(try dec("0.0000000001").divided(by: dec("3"))?.description == "0")
        #expect(try dec("0.0000000002").divided(by: dec("4"))?.description == "0")       // 0.5e-10 → 0
        #expect(try dec("0.0000000006").divided(by: dec("4"))?.description == "0.0000000002") // 1.5e-10
        #expect(try dec("123456789012345678901234567890").divided(by: dec("0.0000000001"), scale: 0)?.description
                == "1234567890123456789012345678900000000000")
    }

    @Test(arguments: ["0", "1", "-1", "0.0000000001", "123456789012345678901234567890.1234567890"])
    func divisionByZeroIsNil(_ value: String) throws {
        #expect(try dec(value).divided(by: .zero) == nil)
        #expect(try dec(value).divided(by: dec("-0.000"), scale: 2) == nil)
        #expect(try dec(value).nearestDouble(dividedBy: .zero) == nil)
    }

    /// 30 integer + 10 fractional digits times the same: 80 digits, exactly.
    @Test(arguments: [
        ("123456789012345678901234567890.1234567890", "987654321098765432109876543210.9876543210",
         "121932631137021795226185032733866788594487120865336229233322.374638011112635269"),
        ("999999999999999999999999999999.9999999999", "999999999999999999999999999999.9999999999",
         "999999999999999999999999999999999999999800000000000000000000.00000000000000000001"),
        ("-999999999999999999999999999999.9999999999", "999999999999999999999999999999.9999999999",
         "-999999999999999999999999999999999999999800000000000000000000.00000000000000000001"),
        ("-0.0000000001", "-0.0000000001", "0.00000000000000000001"),
        ("100000000000000000000000000000", "100000000000000000000000000000",
         "10000000000000000000000000000000000000000000000000000000000"),
        ("0", "-999999999999999999999999999999.9999999999", "0"),
        ("10.50", "2", "21"),
    ])
    func exactProducts(_ a: String, _ b: String, _ expected: String) throws {
        #expect(try (dec(a) * dec(b)).description == expected)
        #expect(try (dec(b) * dec(a)).description == expected)
    }

    @Test func sumsAndDifferences() throws {
        #expect(try (dec("0.1") + dec("0.2")).description == "0.3")
        #expect(try (dec("10.25") - dec("10.25")).description == "0")
        #expect(try (dec("-5") + dec("5")).description == "0")
        #expect(try (dec("1") - dec("1.0000000001")).description == "-0.0000000001")
        #expect(try (dec("999999999999999999999999999999.9999999999") + dec("0.0000000001")).description
                == "1000000000000000000000000000000")
        #expect(try (dec("-1000000000000000000000000000000") + dec("0.0000000001")).description
                == "-999999999999999999999999999999.9999999999")
        #expect(try (dec("1000000000") - dec("0.000000001")).description == "999999999.999999999")
    }

    /// "10.50" == "10.5", alike in every way a Set or Dictionary can see.
    @Test(arguments: [("10.50", "10.5"), ("3.000", "3"), ("-0.00", "0"), ("0", "-0"), ("007.10", "7.1"),
                      ("1000000000.000000000", "1000000000"), ("-2.5000", "-2.50")])
    func equalityAndHashAcrossScales(_ a: String, _ b: String) throws {
        let x = try dec(a), y = try dec(b)
        #expect(x == y)
        #expect(x.hashValue == y.hashValue)
        #expect(!(x < y) && !(y < x))
        #expect(Set([x, y]).count == 1)
        #expect(x.description == y.description)
    }

    @Test func ordering() throws {
        let sorted = try ["-1000", "-2.5", "-2.4999999999", "-0.0000000001", "0", "0.0000000001", "1", "1.0000000001", "10", "999999999999999999999999999999.9999999999"].map { try dec($0) }
        for i in sorted.indices {
            for j in sorted.indices {
                #expect((sorted[i] < sorted[j]) == (i < j), "\(sorted[i]) < \(sorted[j])")
                #expect((sorted[i] == sorted[j]) == (i == j))
            }
        }
    }
}

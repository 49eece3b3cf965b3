import Foundation
import Testing
@testable import Risk

/// The fixtures folder next to this file (no resources bundle: the files are excluded from the
/// target and found through #filePath, as the oracle finds them through its own path).
let testsFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
let fixtures = testsFolder.appendingPathComponent("fixtures")

struct FixtureError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
func dayNumber(_ text: Substring) throws -> Int {
    let parts = text.split(separator: "-")
    guard parts.count == 3, let y0 = Int(parts[0]), let m = Int(parts[1]), let d = Int(parts[2]) else {
        throw FixtureError("bad date \(text)")
    }
    let y = m <= 2 ? y0 - 1 : y0
    let era = (y >= 0 ? y : y - 399) / 400
    let yoe = y - era * 400
    let doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
    return era * 146_097 + doe - 719_468
}

func dayNumber(_ text: String) throws -> Int { try dayNumber(Substring(text)) }

/// A non-negative decimal held exactly: digits / 10^scale. The fixture's values are small, so
/// Int128 holds every Σ quantity·close without overflow.
struct ExactDecimal: Equatable {
    var digits: Int128
    var scale: Int

    init(digits: Int128, scale: Int) {
        self.digits = digits
        self.scale = scale
    }

    init(_ text: Substring) throws {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), let whole = Int128(parts[0]) else { throw FixtureError("bad decimal \(text)") }
        let fraction = parts.count == 2 ? parts[1] : ""
        guard fraction.allSatisfy(\.isASCII), fraction.allSatisfy(\.isNumber) else { throw FixtureError("bad decimal \(text)") }
        var digits = whole
        for c in fraction {
            guard let v = c.wholeNumberValue else { throw FixtureError("bad decimal \(text)") }
            digits = digits * 10 + Int128(v)
        }
        self.digits = digits
        scale = fraction.count
    }

    static func * (a: ExactDecimal, b: ExactDecimal) -> ExactDecimal {
        ExactDecimal(digits: a.digits * b.digits, scale: a.scale + b.scale)
    }

    static func + (a: ExactDecimal, b: ExactDecimal) -> ExactDecimal {
        let scale = max(a.scale, b.scale)
        return ExactDecimal(digits: a.digits.scaled(by: scale - a.scale) + b.digits.scaled(by: scale - b.scale), scale: scale)
    }

    /// The decimal text, e.g. "1234.5600".
    var text: String {
        var s = String(digits)
        if scale == 0 { return s }
        if s.count <= scale { s = String(repeating: "0", count: scale - s.count + 1) + s }
        s.insert(".", at: s.index(s.endIndex, offsetBy: -scale))
        return s
    }

    /// The nearest double, through Swift's correctly rounded text conversion (as the caller's
    /// decimal type will, and as Python's float(Decimal) does in the oracle).
    var double: Double? { Double(text) }
}

extension Int128 {
    func scaled(by powerOfTen: Int) -> Int128 {
        var x = self
        for _ in 0..<powerOfTen { x *= 10 }
        return x
    }
}

/// bars.csv: symbol → (day → close as its exact decimal).
struct Bars {
    var closes: [String: [Int: ExactDecimal]] = [:]

    static func load() throws -> Bars {
        let text = try String(contentsOf: fixtures.appendingPathComponent("bars.csv"), encoding: .utf8)
        var lines = text.split(separator: "\n")
        guard lines.first == "symbol,date,open,high,low,close,volume" else { throw FixtureError("bars.csv: bad header") }
        lines.removeFirst()
        var bars = Bars()
        for line in lines {
            let f = line.split(separator: ",", omittingEmptySubsequences: false)
            guard f.count == 7 else { throw FixtureError("bars.csv: bad line \(line)") }
            bars.closes[String(f[0]), default: [:]][try dayNumber(f[1])] = try ExactDecimal(f[5])
        }
        return bars
    }

    /// The ascending days on which `symbol` has a bar (empty for an unknown symbol).
    func days(_ symbol: String) -> [Int] { (closes[symbol] ?? [:]).keys.sorted() }
}

struct Case: Decodable, Sendable, CustomTestStringConvertible {
    let name: String
    let holdings: [[String]]
    let benchmark: String?
    let today: String
    let lookback: Int
    let confidence: String
    let riskFreeRate: String
    var testDescription: String { name }
}

struct Expected: Decodable, Equatable {
    struct Figures: Decodable, Equatable {
        let volatility, varHistorical, varParametric, cvar, sharpe, sortino, maxDrawdown, beta: Double?
    }
    let name: String
    let days: Int
    let firstDay: String?
    let asOf: String?
    let benchmarkUsed: Bool
    let observations: Int
    let outcome: String
    let available: Int?
    let k: Int?
    let figures: Figures?
}

struct ExpectedFile: Decodable {
    let cases: [Expected]
}

func loadCases() throws -> [Case] {
    struct File: Decodable { let cases: [Case] }
    return try JSONDecoder().decode(File.self, from: Data(contentsOf: fixtures.appendingPathComponent("cases.json"))).cases
}

func loadExpected(_ url: URL = fixtures.appendingPathComponent("expected.json")) throws -> [Expected] {
    try JSONDecoder().decode(ExpectedFile.self, from: Data(contentsOf: url)).cases
}

/// "0.951234" → 951234: c·10⁶ from its decimal text (at most 6 decimals).
func confidenceMicros(_ text: String) throws -> Int {
    let c = try ExactDecimal(Substring(text))
    guard c.scale <= 6 else { throw FixtureError("confidence \(text): more than 6 decimals") }
    return Int(c.digits.scaled(by: 6 - c.scale))
}

/// The contract's agreement: |a − b| ≤ 1e-9·max(|a|, |b|) + 1e-12.
func agrees(_ a: Double, _ b: Double, relative: Double = 1e-9, absolute: Double = 1e-12) -> Bool {
    abs(a - b) <= relative * max(abs(a), abs(b)) + absolute
}

/// Figures agree: nulls exactly, numbers within the tolerance. Returns the names that differ.
func differences(_ got: Expected.Figures, _ want: Expected.Figures, relative: Double = 1e-9, absolute: Double = 1e-12) -> [String] {
    let pairs: [(String, Double?, Double?)] = [
        ("volatility", got.volatility, want.volatility), ("var.historical", got.varHistorical, want.varHistorical),
        ("var.parametric", got.varParametric, want.varParametric), ("cvar", got.cvar, want.cvar),
        ("sharpe", got.sharpe, want.sharpe), ("sortino", got.sortino, want.sortino),
        ("maxDrawdown", got.maxDrawdown, want.maxDrawdown), ("beta", got.beta, want.beta),
    ]
    return pairs.compactMap { name, a, b in
        switch (a, b) {
        case (nil, nil): return nil
        case let (a?, b?): return agrees(a, b, relative: relative, absolute: absolute) ? nil : "\(name): \(a) vs \(b)"
        default: return "\(name): \(String(describing: a)) vs \(String(describing: b))"
        }
    }
}

extension Expected.Figures {
    init(_ f: RiskFigures) {
        self.init(volatility: f.volatility, varHistorical: f.historicalVaR, varParametric: f.parametricVaR, cvar: f.cvar,
                  sharpe: f.sharpe, sortino: f.sortino, maxDrawdown: f.maxDrawdown, beta: f.beta)
    }
}

import Foundation
import Testing
import Money

/// A value from text in the plain form (`canonicalOrPlain`); the test stops when it is refused.
func dec(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> ExactDecimal {
    try #require(ExactDecimal(canonicalOrPlain: text), "not a plain decimal: \(text)", sourceLocation: sourceLocation)
}

/// base^n by repeated multiplication (exact).
func power(_ base: ExactDecimal, _ n: Int) -> ExactDecimal {
    var out = ExactDecimal(1)
    for _ in 0..<n { out = out * base }
    return out
}

/// This folder (Tests/MoneyTests), found from this file's path.
let testsFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()

/// One line of the oracle's output (format in oracle.py) checked against ExactDecimal: nil when
/// it agrees (or is a comment or blank), otherwise what differs.
func check(_ line: Substring) -> String? {
    if line.isEmpty || line.hasPrefix("#") { return nil }
    let f = line.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
    func operand(_ s: String) -> ExactDecimal? { ExactDecimal(canonicalOrPlain: s) }
    func text(_ d: ExactDecimal?) -> String { d?.description ?? "nil" }
    func same(_ got: String, _ want: String) -> String? { got == want ? nil : "got \(got), expected \(want)" }
    func sameDouble(_ got: Double?, _ want: String) -> String? {
        guard let got else { return want == "nil" ? nil : "got nil, expected \(want)" }
        guard let w = Double(want) else { return "bad expected double \(want)" }
        return got.bitPattern == w.bitPattern ? nil : "got \(got) (\(got.bitPattern)), expected \(want)"
    }
    func need(_ n: Int) -> Bool { f.count == n }
    switch f[0] {
    case "contract" where need(3):
        return same(text(ExactDecimal(contractInput: f[1])), f[2])
    case "plain" where need(3):
        return same(text(ExactDecimal(canonicalOrPlain: f[1])), f[2])
    case "add" where need(4), "sub" where need(4), "mul" where need(4):
        guard let a = operand(f[1]), let b = operand(f[2]) else { return "bad operand" }
        let r = f[0] == "add" ? a + b : f[0] == "sub" ? a - b : a * b
        return same(r.description, f[3])
    case "div" where need(5):
        guard let a = operand(f[1]), let b = operand(f[2]), let s = Int(f[3]) else { return "bad operand" }
        return same(text(a.divided(by: b, scale: s)), f[4])
    case "round" where need(4):
        guard let a = operand(f[1]), let s = Int(f[2]) else { return "bad operand" }
        return same(a.rounded(scale: s).description, f[3])
    case "cmp" where need(4):
        guard let a = operand(f[1]), let b = operand(f[2]) else { return "bad operand" }
        let c = a < b ? -1 : (a == b ? 0 : 1)
        // The other relations must agree with it, and equal values hash alike.
        if (b < a) != (c == 1) { return "a < b and b < a disagree" }
        if c == 0 && a.hashValue != b.hashValue { return "equal values hash differently" }
        return same(String(c), f[3])
    case "info" where need(4):
        guard let a = operand(f[1]) else { return "bad operand" }
        if a.isNegative != (a.signum == -1) || a.isZero != (a.signum == 0) { return "isNegative/isZero vs signum" }
        return same("\(a.signum)|\(a.integerDigitCount)", "\(f[2])|\(f[3])")
    case "ndouble" where need(4):
        guard let a = operand(f[1]), let b = operand(f[2]) else { return "bad operand" }
        return sameDouble(a.nearestDouble(dividedBy: b), f[3])
    case "double" where need(3):
        guard let a = operand(f[1]) else { return "bad operand" }
        return sameDouble(a.doubleValue, f[2])
    default:
        return "unknown or malformed line"
    }
}

/// Checks every line; records at most `limit` failures (each with its line) and returns how
/// many cases there were.
@discardableResult
func checkAll(_ text: String, source: String, limit: Int = 20, sourceLocation: SourceLocation = #_sourceLocation) -> Int {
    var cases = 0
    var failures = 0
    for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
        if line.isEmpty || line.hasPrefix("#") { continue }
        cases += 1
        if let problem = check(line) {
            failures += 1
            if failures <= limit {
                Issue.record("\(source):\(i + 1): \(line)\n  \(problem)", sourceLocation: sourceLocation)
            }
        }
    }
    if failures > limit {
        Issue.record("\(source): \(failures) failing cases in all (first \(limit) shown)", sourceLocation: sourceLocation)
    }
    return cases
}

/// Runs a command through /usr/bin/env in this folder: exit status, standard output, standard error.
func run(_ arguments: [String]) -> (status: Int32, output: String, errors: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    process.currentDirectoryURL = testsFolder
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    do {
        try process.run()
    } catch {
        return (127, "", "cannot start \(arguments[0]): \(error)")
    }
    // Standard error is small; read it after standard output so neither pipe fills and blocks.
    let data = out.fileHandleForReading.readDataToEndOfFile()
    let errors = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self), String(decoding: errors, as: UTF8.self))
}

import Money

/// The value rules of contract 2c's bars and import, pure.
public enum BarRules {
    /// SYMBOL: 1–16 of `A-Z 0-9 . - _`.
    public static func isSymbol(_ s: some StringProtocol) -> Bool {
        isSymbol(bytes: Array(s.utf8)[...])
    }

    public static func isSymbol(bytes: ArraySlice<UInt8>) -> Bool {
        guard (1...16).contains(bytes.count) else { return false }
        return bytes.allSatisfy { b in
            (b >= 0x41 && b <= 0x5A) || (b >= 0x30 && b <= 0x39) || b == 0x2E || b == 0x2D || b == 0x5F
        }
    }

    /// The contract's decimal text without a sign, `(0|[1-9][0-9]*)(\.[0-9]+)?`, at most 38
    /// significant digits (leading zeros are not significant, trailing ones are).
    public static func decimal(bytes: ArraySlice<UInt8>) -> ExactDecimal? {
        var i = bytes.startIndex
        let end = bytes.endIndex
        func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }
        guard i < end, isDigit(bytes[i]) else { return nil }
        if bytes[i] == 0x30 {
            i += 1
        } else {
            while i < end, isDigit(bytes[i]) { i += 1 }
        }
        if i < end {
            guard bytes[i] == 0x2E else { return nil }
            i += 1
            let fracStart = i
            while i < end, isDigit(bytes[i]) { i += 1 }
            guard i > fracStart, i == end else { return nil }
        }
        let significant = bytes.filter { $0 != 0x2E }.drop { $0 == 0x30 }.count
        guard significant <= 38 else { return nil }
        return ExactDecimal(canonicalOrPlain: String(decoding: bytes, as: UTF8.self))
    }

    /// A real `YYYY-MM-DD` (proleptic Gregorian, leap years included) as the UTC midnight in
    /// milliseconds, or nil.
    public static func date(bytes: ArraySlice<UInt8>) -> Int64? {
        guard bytes.count == 10 else { return nil }
        let b = Array(bytes)
        guard b[4] == 0x2D, b[7] == 0x2D else { return nil }
        func number(_ r: Range<Int>) -> Int? {
            var v = 0
            for k in r {
                guard b[k] >= 0x30 && b[k] <= 0x39 else { return nil }
                v = v * 10 + Int(b[k] - 0x30)
            }
            return v
        }
        guard let y = number(0..<4), let m = number(5..<7), let d = number(8..<10), (1...12).contains(m), d >= 1 else { return nil }
        let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
        let days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        guard d <= days[m - 1] else { return nil }
        return Int64(daysFromCivil(y, m, d)) * 86_400_000
    }

    /// Days since 1970-01-01 (H. Hinnant's algorithm).
    static func daysFromCivil(_ year: Int, _ m: Int, _ d: Int) -> Int {
        let y = m <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}

/// The one decimal type for quantities, prices, fees and money (contract 2b): sign, an integer
/// magnitude of any size and a count of fractional digits. Sums and products are exact; the
/// only rounding is the explicit half-to-even of `divided(by:scale:)` and `rounded(scale:)`.
///
/// Why our own and not Foundation's `Decimal`: that one holds 38 digits and rounds silently
/// past them, and the product of two 30-digit amounts with 10 fractional digits each needs 80.
///
/// Always normalised (no trailing fractional zeros, zero is positive with scale 0), so equal
/// values have equal fields: `==` and `hash` are by value ("10.50" == "10.5").
public struct ExactDecimal: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// |value| = magnitude · 10^-scale.
    var magnitude: Magnitude
    var scale: Int
    var negative: Bool

    /// Longest text either parser accepts: bounds the work any input can cause.
    public static let maxTextLength = 200

    public static let zero = ExactDecimal(magnitude: .zero, scale: 0, negative: false)

    init(magnitude: Magnitude, scale: Int, negative: Bool) {
        self.magnitude = magnitude
        self.scale = scale
        self.negative = negative
        normalise()
    }

    public init(_ v: Int) {
        self.init(magnitude: Magnitude(UInt64(v.magnitude)), scale: 0, negative: v < 0)
    }

    private mutating func normalise() {
        if magnitude.isZero {
            scale = 0
            negative = false
            return
        }
        while scale > 0, let low = magnitude.limbs.first, low % 10 == 0 {
            magnitude = magnitude.divided(bySmall: 10).quotient
            scale -= 1
        }
    }

    public var isZero: Bool { magnitude.isZero }
    public var isNegative: Bool { negative }
    public var signum: Int { isZero ? 0 : (negative ? -1 : 1) }

    /// Digits before the point (0 for |value| < 1).
    public var integerDigitCount: Int { max(0, magnitude.digitCount - scale) }

    // MARK: Text

    /// The contract's output form: `-?(0|[1-9][0-9]*)(\.[0-9]*[1-9])?`.
    public var description: String {
        var digits = magnitude.digits
        if scale > 0 {
            if digits.count <= scale { digits = Array(repeating: UInt8(ascii: "0"), count: scale - digits.count + 1) + digits }
            digits.insert(UInt8(ascii: "."), at: digits.count - scale)
        }
        if negative { digits.insert(UInt8(ascii: "-"), at: 0) }
        return String(decoding: digits, as: UTF8.self)
    }

    /// The contract's input grammar `(0|[1-9][0-9]{0,19})(\.[0-9]{1,10})?`: no sign, no
    /// exponent, no leading zeros, at most 20 integer and 10 fractional digits.
    public init?(contractInput text: some StringProtocol) {
        let bytes = Array(text.utf8)
        let (intPart, fracPart) = Self.split(bytes[...])
        guard let intPart, (1...20).contains(intPart.count) else { return nil }
        if intPart.count > 1 && intPart.first == UInt8(ascii: "0") { return nil }
        if let fracPart, !(1...10).contains(fracPart.count) { return nil }
        guard let d = Self.make(intPart, fracPart ?? [], negative: false) else { return nil }
        self = d
    }

    /// The forms a store or a publisher hands back: `-?[0-9]+(\.[0-9]+)?`, leading and trailing
    /// zeros allowed (PostgreSQL's NUMERIC text, `"10.5000"`, `"-0.00"`), at most
    /// `maxTextLength` characters.
    public init?(canonicalOrPlain text: some StringProtocol) {
        var bytes = Array(text.utf8)[...]
        guard bytes.count <= Self.maxTextLength else { return nil }
        var negative = false
        if bytes.first == UInt8(ascii: "-") {
            negative = true
            bytes = bytes.dropFirst()
        }
        let (intPart, fracPart) = Self.split(bytes)
        guard let intPart, !intPart.isEmpty else { return nil }
        if let fracPart, fracPart.isEmpty { return nil }
        guard let d = Self.make(intPart, fracPart ?? [], negative: negative) else { return nil }
        self = d
    }

    /// Integer digits and, after a single point, fractional ones (nil part: none given).
    private static func split(_ bytes: ArraySlice<UInt8>) -> (ArraySlice<UInt8>?, ArraySlice<UInt8>?) {
        guard bytes.count <= maxTextLength else { return (nil, nil) }
        guard let dot = bytes.firstIndex(of: UInt8(ascii: ".")) else { return (bytes, nil) }
        return (bytes[..<dot], bytes[(dot + 1)...])
    }

    private static func make(_ intPart: ArraySlice<UInt8>, _ fracPart: ArraySlice<UInt8>, negative: Bool) -> ExactDecimal? {
        guard let m = Magnitude(digits: Array(intPart) + Array(fracPart)) else { return nil }
        return ExactDecimal(magnitude: m, scale: fracPart.count, negative: negative)
    }

    // MARK: Arithmetic

    /// Both magnitudes at the larger scale.
    private static func aligned(_ a: ExactDecimal, _ b: ExactDecimal) -> (Magnitude, Magnitude, Int) {
        let s = max(a.scale, b.scale)
        return (a.magnitude.shifted(by: s - a.scale), b.magnitude.shifted(by: s - b.scale), s)
    }

    public static func + (a: ExactDecimal, b: ExactDecimal) -> ExactDecimal {
        let (x, y, s) = aligned(a, b)
        if a.negative == b.negative { return ExactDecimal(magnitude: x + y, scale: s, negative: a.negative) }
        // Opposite signs: the larger magnitude's sign wins.
        if Magnitude.compare(x, y) >= 0 { return ExactDecimal(magnitude: x - y, scale: s, negative: a.negative) }
        return ExactDecimal(magnitude: y - x, scale: s, negative: b.negative)
    }

    public static prefix func - (a: ExactDecimal) -> ExactDecimal {
        ExactDecimal(magnitude: a.magnitude, scale: a.scale, negative: !a.negative)
    }

    public static func - (a: ExactDecimal, b: ExactDecimal) -> ExactDecimal { a + (-b) }

    public static func * (a: ExactDecimal, b: ExactDecimal) -> ExactDecimal {
        ExactDecimal(magnitude: a.magnitude * b.magnitude, scale: a.scale + b.scale, negative: a.negative != b.negative)
    }

    public static func < (a: ExactDecimal, b: ExactDecimal) -> Bool {
        if a.negative != b.negative { return a.negative }
        let (x, y, _) = aligned(a, b)
        let c = Magnitude.compare(x, y)
        return a.negative ? c > 0 : c < 0
    }

    /// a ÷ b rounded half-to-even to `scale` fractional digits, once; nil when b is zero.
    public func divided(by b: ExactDecimal, scale s: Int = 10) -> ExactDecimal? {
        guard !b.isZero, s >= 0 else { return nil }
        // |a|/|b|·10^s = A·10^(s − sa + sb) / B.
        let e = s - scale + b.scale
        let n = e >= 0 ? magnitude.shifted(by: e) : magnitude
        let d = e >= 0 ? b.magnitude : b.magnitude.shifted(by: -e)
        let (q, r) = n.divided(by: d)
        return ExactDecimal(magnitude: Self.roundHalfEven(q, remainder: r, divisor: d), scale: s, negative: negative != b.negative)
    }

    /// Rounded half-to-even to `scale` fractional digits (unchanged when it has no more).
    public func rounded(scale s: Int) -> ExactDecimal {
        guard s >= 0, scale > s else { return self }
        let d = Magnitude(1).shifted(by: scale - s)
        let (q, r) = magnitude.divided(by: d)
        return ExactDecimal(magnitude: Self.roundHalfEven(q, remainder: r, divisor: d), scale: s, negative: negative)
    }

    /// q, or q + 1 when r/d is over a half, or exactly a half and q is odd.
    private static func roundHalfEven(_ q: Magnitude, remainder r: Magnitude, divisor d: Magnitude) -> Magnitude {
        let c = Magnitude.compare(r + r, d)
        return c > 0 || (c == 0 && q.isOdd) ? q + Magnitude(1) : q
    }

    // MARK: Binary floating point, at the edges only

    /// The Double nearest to the value (Swift's `Double(String)` rounds correctly).
    public var doubleValue: Double { Double(description) ?? .nan }

    /// The Double nearest to self ÷ b (nil when b is zero): a JSON number such as `weight`.
    ///
    /// Exact without big binary arithmetic: the quotient truncated to 40 significant digits, T,
    /// and T plus one unit in its last place bracket the exact quotient; rounding is monotonic,
    /// so when both ends round to the same Double, so does the quotient. Only near a midpoint
    /// between two Doubles do they differ, and then 800 digits with a sticky last digit decide
    /// (a Double midpoint has at most 767 significant digits).
    public func nearestDouble(dividedBy b: ExactDecimal) -> Double? {
        guard !b.isZero else { return nil }
        if isZero { return 0 }
        let fast = quotientBracket(b, digits: 40)
        if fast.low == fast.high { return fast.low }
        return quotientBracket(b, digits: 800).sticky
    }

    /// Doubles of the quotient truncated to about `digits` significant digits (low), of that plus
    /// one unit in its last place (high), and of the truncation with a nonzero digit appended
    /// when the remainder is not zero (sticky).
    private func quotientBracket(_ b: ExactDecimal, digits: Int) -> (low: Double, high: Double, sticky: Double) {
        // Fractional digits so that the integer quotient has at least `digits` digits.
        let leading = magnitude.digitCount - scale - (b.magnitude.digitCount - b.scale)
        let s = max(0, digits - leading + 1)
        let e = s - scale + b.scale
        let n = e >= 0 ? magnitude.shifted(by: e) : magnitude
        let d = e >= 0 ? b.magnitude : b.magnitude.shifted(by: -e)
        let (q, r) = n.divided(by: d)
        let sign = negative != b.negative
        let low = ExactDecimal(magnitude: q, scale: s, negative: sign).doubleValue
        let high = ExactDecimal(magnitude: q + Magnitude(1), scale: s, negative: sign).doubleValue
        let sticky = r.isZero ? low : ExactDecimal(magnitude: q.times(10) + Magnitude(1), scale: s + 1, negative: sign).doubleValue
        return (low, high, sticky)
    }
}

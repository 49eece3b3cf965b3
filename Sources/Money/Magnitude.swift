/// A non-negative integer of any size, in base-10⁹ limbs, least significant first, no leading
/// zero limbs (zero is `[]`). Base 10⁹ keeps parsing and printing digit-exact and cheap; the
/// numbers here are amounts of a few dozen digits, so schoolbook algorithms are the right size.
struct Magnitude: Equatable, Hashable, Sendable {
    static let base: UInt64 = 1_000_000_000
    private(set) var limbs: [UInt32]

    static let zero = Magnitude(limbs: [])

    init(limbs: [UInt32]) {
        self.limbs = limbs
        trim()
    }

    init(_ v: UInt64) {
        var l: [UInt32] = []
        var v = v
        while v > 0 {
            l.append(UInt32(v % Self.base))
            v /= Self.base
        }
        limbs = l
    }

    var isZero: Bool { limbs.isEmpty }

    private mutating func trim() {
        while limbs.last == 0 { limbs.removeLast() }
    }

    /// Decimal digits (ASCII), most significant first; nil when one is not a digit.
    init?(digits: some Collection<UInt8>) {
        var l: [UInt32] = []
        l.reserveCapacity(digits.count / 9 + 1)
        var chunk: UInt32 = 0
        var mult: UInt32 = 1
        // From the least significant end, nine digits a limb.
        for d in digits.reversed() {
            guard d >= UInt8(ascii: "0"), d <= UInt8(ascii: "9") else { return nil }
            chunk += UInt32(d - UInt8(ascii: "0")) * mult
            mult *= 10
            if mult == 1_000_000_000 {
                l.append(chunk)
                chunk = 0
                mult = 1
            }
        }
        if mult > 1 { l.append(chunk) }
        self.init(limbs: l)
    }

    /// The decimal digits, most significant first ("0" for zero).
    var digits: [UInt8] {
        guard let top = limbs.last else { return [UInt8(ascii: "0")] }
        var out = Array(String(top).utf8)
        for limb in limbs.dropLast().reversed() {
            let s = Array(String(limb).utf8)
            out.append(contentsOf: repeatElement(UInt8(ascii: "0"), count: 9 - s.count))
            out.append(contentsOf: s)
        }
        return out
    }

    var digitCount: Int {
        guard let top = limbs.last else { return 0 }
        var n = (limbs.count - 1) * 9
        var t = top
        while t > 0 {
            n += 1
            t /= 10
        }
        return n
    }

    // MARK: Arithmetic

    static func compare(_ a: Magnitude, _ b: Magnitude) -> Int {
        if a.limbs.count != b.limbs.count { return a.limbs.count < b.limbs.count ? -1 : 1 }
        for i in stride(from: a.limbs.count - 1, through: 0, by: -1) where a.limbs[i] != b.limbs[i] {
            return a.limbs[i] < b.limbs[i] ? -1 : 1
        }
        return 0
    }

    static func + (a: Magnitude, b: Magnitude) -> Magnitude {
        var out: [UInt32] = []
        out.reserveCapacity(max(a.limbs.count, b.limbs.count) + 1)
        var carry: UInt64 = 0
        for i in 0..<max(a.limbs.count, b.limbs.count) {
            let s = UInt64(i < a.limbs.count ? a.limbs[i] : 0) + UInt64(i < b.limbs.count ? b.limbs[i] : 0) + carry
            out.append(UInt32(s % base))
            carry = s / base
        }
        if carry > 0 { out.append(UInt32(carry)) }
        return Magnitude(limbs: out)
    }

    /// a − b for a ≥ b (the callers compare first).
    static func - (a: Magnitude, b: Magnitude) -> Magnitude {
        precondition(compare(a, b) >= 0, "Magnitude subtraction below zero")
        var out = a.limbs
        var borrow: Int64 = 0
        for i in 0..<out.count {
            var d = Int64(out[i]) - borrow - Int64(i < b.limbs.count ? b.limbs[i] : 0)
            borrow = 0
            if d < 0 {
                d += Int64(base)
                borrow = 1
            }
            out[i] = UInt32(d)
        }
        return Magnitude(limbs: out)
    }

    static func * (a: Magnitude, b: Magnitude) -> Magnitude {
        guard !a.isZero, !b.isZero else { return .zero }
        var out = [UInt64](repeating: 0, count: a.limbs.count + b.limbs.count + 1)
        for (i, x) in a.limbs.enumerated() {
            var carry: UInt64 = 0
            for (j, y) in b.limbs.enumerated() {
                // < 10^18 + 10^9 + 10^9: fits easily.
                let t = out[i + j] + UInt64(x) * UInt64(y) + carry
                out[i + j] = t % base
                carry = t / base
            }
            var k = i + b.limbs.count
            while carry > 0 {
                let t = out[k] + carry
                out[k] = t % base
                carry = t / base
                k += 1
            }
        }
        return Magnitude(limbs: out.map { UInt32($0) })
    }

    /// × a small factor (< 10⁹).
    func times(_ small: UInt32) -> Magnitude {
        guard small > 0, !isZero else { return .zero }
        var out: [UInt32] = []
        out.reserveCapacity(limbs.count + 1)
        var carry: UInt64 = 0
        for l in limbs {
            let t = UInt64(l) * UInt64(small) + carry
            out.append(UInt32(t % Self.base))
            carry = t / Self.base
        }
        if carry > 0 { out.append(UInt32(carry)) }
        return Magnitude(limbs: out)
    }

    /// × 10ⁿ.
    func shifted(by n: Int) -> Magnitude {
        guard n > 0, !isZero else { return self }
        var m = Magnitude(limbs: [UInt32](repeating: 0, count: n / 9) + limbs)
        let rest = n % 9
        if rest > 0 {
            var p: UInt32 = 1
            for _ in 0..<rest { p *= 10 }
            m = m.times(p)
        }
        return m
    }

    /// Quotient and remainder by a divisor of one limb (not zero).
    func divided(bySmall d: UInt32) -> (quotient: Magnitude, remainder: UInt32) {
        precondition(d > 0, "division by zero")
        var q = [UInt32](repeating: 0, count: limbs.count)
        var r: UInt64 = 0
        for i in stride(from: limbs.count - 1, through: 0, by: -1) {
            let cur = r * Self.base + UInt64(limbs[i])
            q[i] = UInt32(cur / UInt64(d))
            r = cur % UInt64(d)
        }
        return (Magnitude(limbs: q), UInt32(r))
    }

    /// Quotient and remainder (divisor not zero): schoolbook long division, one base-10⁹ limb
    /// of the quotient at a time, each found by binary search (one-limb divisors directly).
    func divided(by d: Magnitude) -> (quotient: Magnitude, remainder: Magnitude) {
        precondition(!d.isZero, "division by zero")
        if Self.compare(self, d) < 0 { return (.zero, self) }
        if d.limbs.count == 1 {
            let (q, r) = divided(bySmall: d.limbs[0])
            return (q, Magnitude(UInt64(r)))
        }
        var q = [UInt32](repeating: 0, count: limbs.count)
        var r = Magnitude.zero
        for i in stride(from: limbs.count - 1, through: 0, by: -1) {
            // r = r·10⁹ + limb
            r = Magnitude(limbs: [limbs[i]] + r.limbs)
            guard Self.compare(r, d) >= 0 else { continue }
            var lo: UInt32 = 1
            var hi: UInt32 = UInt32(Self.base - 1)
            while lo < hi {
                let mid = lo + (hi - lo + 1) / 2
                if Self.compare(d.times(mid), r) <= 0 { lo = mid } else { hi = mid - 1 }
            }
            q[i] = lo
            r = r - d.times(lo)
        }
        return (Magnitude(limbs: q), r)
    }

    var isOdd: Bool { (limbs.first ?? 0) % 2 == 1 }
}

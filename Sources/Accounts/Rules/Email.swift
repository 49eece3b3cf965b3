/// Email syntax and normal form (contract 2a). Registration and login both look accounts up by
/// `normalize`'s result.
public enum Email {
    /// Leading and trailing spaces and tabs removed, ASCII `A`–`Z` lowercased, nothing else
    /// changed; nil unless the result has 3–254 Unicode scalars, exactly one `@`, a non-empty
    /// local part and a domain with a dot, not at its start or end, and no empty label.
    ///
    /// No whitespace or control character may remain anywhere. Whitespace is the Unicode
    /// White_Space property (so U+00A0, U+2028, U+3000 … too); controls are category Cc
    /// (U+0000–U+001F, U+007F–U+009F).
    public static func normalize(_ raw: String) -> String? {
        let scalars = Array(raw.unicodeScalars)
        let isTrimmed = { (s: Unicode.Scalar) in s == " " || s == "\t" }
        guard let first = scalars.firstIndex(where: { !isTrimmed($0) }),
              let last = scalars.lastIndex(where: { !isTrimmed($0) }) else { return nil }
        var out = String.UnicodeScalarView()
        var ats = 0
        for s in scalars[first...last] {
            guard !s.properties.isWhitespace, s.properties.generalCategory != .control else { return nil }
            if s == "@" { ats += 1 }
            if ("A"..."Z").contains(s), let lower = Unicode.Scalar(s.value + 0x20) {
                out.append(lower)
            } else {
                out.append(s)
            }
        }
        guard (3...254).contains(out.count), ats == 1 else { return nil }
        let email = String(out)
        let halves = email.unicodeScalars.split(separator: "@", omittingEmptySubsequences: false)
        guard halves.count == 2, !halves[0].isEmpty else { return nil }
        let labels = halves[1].split(separator: ".", omittingEmptySubsequences: false)
        // At least two labels means a dot; no empty label means none at the start or end and no "..".
        guard labels.count >= 2, labels.allSatisfy({ !$0.isEmpty }) else { return nil }
        return email
    }
}

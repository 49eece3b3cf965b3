#if canImport(Glibc)
import Glibc
#endif

enum LogText {
    /// Bare when it is plain printable ASCII; otherwise JSON-quoted, so no peer-supplied text
    /// can fake a line break, a field or a terminal escape.
    static func quoteIfNeeded(_ v: String) -> String {
        let plain = !v.isEmpty && v.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "=") && $0 != UInt8(ascii: "\\") }
        return plain ? v : jsonString(v)
    }

    static func jsonString(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                // C0/C1 controls, DEL and the Unicode line separators are escaped.
                if u.value < 0x20 || (u.value >= 0x7F && u.value <= 0x9F) || u.value == 0x2028 || u.value == 0x2029 {
                    let hex = String(u.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }
}

/// The last line of defence for secrets (contract §2e): code is written never to log them, and
/// the handler still masks fields whose name says "secret" and values that carry one.
enum LogRedaction {
    static let mask = "[redacted]"

    /// Field names whose values are never written.
    static func isSecretKey(_ key: String) -> Bool {
        let k = key.lowercased()
        return k.contains("password") || k.contains("secret") || k.contains("token") || k.contains("authorization")
            || k == "key" || k.hasSuffix("_key") || k.hasSuffix("-key") || k.hasSuffix("apikey")
    }

    /// `access_token=…` (a query string) and `Bearer …` inside any text.
    static func scrub(_ text: String) -> String {
        var s = text
        if s.contains("access_token=") { s = maskAfter("access_token=", in: s, until: { $0 == "&" || $0 == " " || $0 == "\"" }) }
        if s.contains("Bearer ") { s = maskAfter("Bearer ", in: s, until: { $0 == " " || $0 == "\"" || $0 == "," }) }
        return s
    }

    private static func maskAfter(_ marker: String, in s: String, until stop: (Character) -> Bool) -> String {
        var out = ""
        var rest = s[...]
        while let r = rest.firstRange(of: marker) {
            out += rest[..<r.upperBound]
            out += mask
            rest = rest[r.upperBound...]
            let end = rest.firstIndex(where: stop) ?? rest.endIndex
            rest = rest[end...]
        }
        return out + rest
    }
}

enum LogClock {
    static func iso8601Now() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        var t = ts.tv_sec
        var tmv = tm()
        gmtime_r(&t, &tmv)
        let ms = ts.tv_nsec / 1_000_000
        func pad(_ v: Int, _ w: Int) -> String {
            let s = String(v)
            return s.count >= w ? s : String(repeating: "0", count: w - s.count) + s
        }
        return "\(pad(Int(tmv.tm_year) + 1900, 4))-\(pad(Int(tmv.tm_mon) + 1, 2))-\(pad(Int(tmv.tm_mday), 2))T"
            + "\(pad(Int(tmv.tm_hour), 2)):\(pad(Int(tmv.tm_min), 2)):\(pad(Int(tmv.tm_sec), 2)).\(pad(ms, 3))Z"
    }
}

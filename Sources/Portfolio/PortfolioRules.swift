import Gateway
import JSON
import Money

/// The input rules of contract 2b, as pure checks: each returns the value or the error the
/// client gets.
enum PortfolioRules {
    static let maxNameScalars = 100

    /// Unicode white space trimmed at both ends; 1–100 scalars; none of category Cc, Cf, Zl, Zp.
    static func name(_ raw: String) -> Result<String, RPCError> {
        let scalars = Array(raw.unicodeScalars)
        var lo = 0
        var hi = scalars.count
        while lo < hi, scalars[lo].properties.isWhitespace { lo += 1 }
        while hi > lo, scalars[hi - 1].properties.isWhitespace { hi -= 1 }
        let kept = scalars[lo..<hi]
        guard (1...maxNameScalars).contains(kept.count) else {
            return .failure(.invalidParam("name", "name must have 1 to \(maxNameScalars) characters after trimming white space"))
        }
        for s in kept {
            switch s.properties.generalCategory {
            case .control, .format, .lineSeparator, .paragraphSeparator:
                return .failure(.invalidParam("name", "name must not contain control, format or separator characters"))
            default: continue
            }
        }
        var out = String.UnicodeScalarView()
        out.append(contentsOf: kept)
        return .success(String(out))
    }

    /// 3 letters A–Z.
    static func isCurrency(_ s: String) -> Bool {
        s.utf8.count == 3 && s.utf8.allSatisfy { (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) }
    }

    /// 1–64 of `A-Za-z0-9_-` (portfolio ids, transaction ids, clientOrderId).
    static func isOpaqueID(_ s: String) -> Bool {
        (1...64).contains(s.utf8.count) && ChannelName.isPortfolioID(s.utf8)
    }

    /// A decimal-string input (quantity, price, fee) by the contract's grammar; a JSON number
    /// where a decimal string is required is invalid params too.
    static func amount(_ value: JSONValue?, _ param: String, positive: Bool) -> Result<ExactDecimal, RPCError> {
        guard case .string(let text)? = value else {
            return .failure(.invalidParam(param, "\(param) must be a decimal string such as \"187.25\""))
        }
        guard let d = ExactDecimal(contractInput: text) else {
            return .failure(.invalidParam(param, "\(param) must be a decimal string of at most 20 integer and 10 fractional digits"))
        }
        if positive && d.isZero { return .failure(.invalidParam(param, "\(param) must be greater than 0")) }
        return .success(d)
    }
}

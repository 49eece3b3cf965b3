/// A channel's kind, from its prefix. Each kind has its own subscribe and publish rules.
public enum ChannelKind: UInt8, Sendable {
    /// `prices:SYMBOL`: market prices, public (a setting can require login), conflatable.
    case prices
    /// `predictions:SYMBOL`: model predictions, public like prices, conflatable.
    case predictions
    /// `portfolio:ID`: one portfolio's changes, its owner only, never conflated or dropped.
    case portfolio

    /// Whether a slow subscriber may get only the newest event instead of every one.
    public var isConflatable: Bool { self != .portfolio }
}

/// A validated channel name: `prices:SYMBOL`, `predictions:SYMBOL` (SYMBOL: 1–16 of
/// `A-Z 0-9 . - _`) or `portfolio:ID` (ID: 1–64 of `A-Z a-z 0-9 - _`).
public struct ChannelName: Hashable, Sendable, CustomStringConvertible {
    public let name: String
    public let kind: ChannelKind
    /// The part after the colon (the symbol, or the portfolio id).
    public let key: String

    public init?(_ name: String) {
        let utf8 = name.utf8
        guard let colon = utf8.firstIndex(of: UInt8(ascii: ":")) else { return nil }
        let prefix = name[..<colon]
        let key = utf8[utf8.index(after: colon)...]
        let kind: ChannelKind
        switch prefix {
        case "prices": kind = .prices
        case "predictions": kind = .predictions
        case "portfolio": kind = .portfolio
        default: return nil
        }
        let valid = kind == .portfolio ? ChannelName.isPortfolioID(key) : ChannelName.isSymbol(key)
        guard valid else { return nil }
        self.name = name
        self.kind = kind
        self.key = String(Substring(key))
    }

    public var description: String { name }

    /// 1–16 of `A-Z 0-9 . - _`.
    public static func isSymbol<S: Collection>(_ s: S) -> Bool where S.Element == UInt8 {
        guard (1...16).contains(s.count) else { return false }
        return s.allSatisfy { c in
            (c >= 0x41 && c <= 0x5A) || (c >= 0x30 && c <= 0x39) || c == 0x2E || c == 0x2D || c == 0x5F
        }
    }

    /// 1–64 of `A-Z a-z 0-9 - _` (UUIDs and database keys fit).
    public static func isPortfolioID<S: Collection>(_ s: S) -> Bool where S.Element == UInt8 {
        guard (1...64).contains(s.count) else { return false }
        return s.allSatisfy { c in
            (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || (c >= 0x30 && c <= 0x39) || c == 0x2D || c == 0x5F
        }
    }
}

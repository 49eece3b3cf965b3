import JSON

/// Checks what publishers send as an event's `data`, per channel kind: the fields the apps rely
/// on must be there with the right types; every other field passes through unchanged, so
/// publishers can add fields without a gateway release.
public enum EventData {
    /// Why data was refused: the field and a short reason (safe to show the publisher).
    public struct Invalid: Error, Equatable, Sendable {
        public let field: String
        public let message: String
    }

    /// Why a publisher may not publish `data` to a channel.
    public enum Refusal: Equatable, Sendable {
        /// Portfolio channels are written by the gateway's own handlers only.
        case portfolioChannel
        case invalidData(Invalid)

        public static let portfolioMessage = "portfolio channels are written by the gateway only"
    }

    /// The rules a publisher's event must pass (over the socket and over HTTP alike).
    public static func refusal(publishing data: JSONValue, to channel: ChannelName) -> Refusal? {
        if channel.kind == .portfolio { return .portfolioChannel }
        return validate(data, for: channel).map { .invalidData($0) }
    }

    public static func validate(_ data: JSONValue, for channel: ChannelName) -> Invalid? {
        guard case .object(let o) = data else { return Invalid(field: "data", message: "data must be an object") }
        switch channel.kind {
        case .prices:
            return symbol(o, channel) ?? decimal(o, "price", positive: true) ?? decimal(o, "volume", required: false, nonNegative: true)
                ?? timestamp(o)
        case .predictions:
            if let e = symbol(o, channel) ?? decimal(o, "predicted") ?? decimal(o, "lower", required: false)
                ?? decimal(o, "upper", required: false) ?? timestamp(o) {
                return e
            }
            guard case .string(let h)? = o["horizon"] else { return Invalid(field: "horizon", message: "horizon must be an ISO-8601 duration string") }
            guard ISODuration.isValid(h) else { return Invalid(field: "horizon", message: "horizon must be an ISO-8601 duration such as PT1H or P1D") }
            guard case .string(let m)? = o["model"], !m.isEmpty else { return Invalid(field: "model", message: "model must be a non-empty string") }
            return nil
        case .portfolio:
            // Written by the gateway's own portfolio handlers, never by publishers.
            guard case .string(let t)? = o["type"], !t.isEmpty else { return Invalid(field: "type", message: "type must be a non-empty string") }
            return nil
        }
    }

    private static func symbol(_ o: JSONObject, _ channel: ChannelName) -> Invalid? {
        guard case .string(let s)? = o["symbol"] else { return Invalid(field: "symbol", message: "symbol must be a string") }
        guard s == channel.key else { return Invalid(field: "symbol", message: "symbol must equal the channel's symbol") }
        return nil
    }

    private static func decimal(_ o: JSONObject, _ field: String, required: Bool = true, positive: Bool = false,
                                nonNegative: Bool = false) -> Invalid? {
        guard let v = o[field] else { return required ? Invalid(field: field, message: "\(field) is required") : nil }
        guard case .string(let s) = v, let d = DecimalString(s) else {
            return Invalid(field: field, message: "\(field) must be a decimal string such as \"187.25\"")
        }
        if positive && !d.isPositive { return Invalid(field: field, message: "\(field) must be greater than 0") }
        if nonNegative && d.isNegative { return Invalid(field: field, message: "\(field) must not be negative") }
        return nil
    }

    private static func timestamp(_ o: JSONObject) -> Invalid? {
        guard case .number(let n)? = o["ts"], let ms = n.int64, ms >= 0 else {
            return Invalid(field: "ts", message: "ts must be an integer count of milliseconds since the Unix epoch")
        }
        return nil
    }
}

/// A decimal string as the contract spells money, prices and quantities:
/// `-?(0|[1-9][0-9]*)(\.[0-9]+)?` with at most 38 significant digits. Never converted to binary
/// floating point.
public struct DecimalString: Sendable, Equatable {
    public let text: String
    public let isNegative: Bool
    /// True when some digit is not zero (so "-0.00" is neither positive nor negative).
    public let isNonZero: Bool

    public var isPositive: Bool { isNonZero && !isNegative }

    public static let maxSignificantDigits = 38

    public init?(_ text: String) {
        var it = Array(text.utf8)[...]
        let negative = it.first == UInt8(ascii: "-")
        if negative { it = it.dropFirst() }
        guard let first = it.first, first >= 0x30 && first <= 0x39 else { return nil }
        var integer = it.prefix { $0 >= 0x30 && $0 <= 0x39 }
        guard !(integer.count > 1 && first == 0x30) else { return nil }   // no leading zeros
        it = it.dropFirst(integer.count)
        var fraction: ArraySlice<UInt8> = []
        if let dot = it.first {
            guard dot == UInt8(ascii: "."), it.count > 1 else { return nil }
            fraction = it.dropFirst()
            guard fraction.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        }
        // Significant digits: from the first non-zero digit of the integer part (or of the
        // fraction when the integer part is 0) to the end.
        while integer.first == 0x30 { integer = integer.dropFirst() }
        var significant = integer.count + fraction.count
        if integer.isEmpty {
            let leadingZeros = fraction.prefix { $0 == 0x30 }.count
            significant = fraction.count - leadingZeros
        }
        guard significant <= DecimalString.maxSignificantDigits else { return nil }
        self.text = text
        self.isNegative = negative
        self.isNonZero = integer.contains { $0 != 0x30 } || fraction.contains { $0 != 0x30 }
    }
}

/// ISO-8601 durations as the prediction `horizon` uses them: `P[nY][nM][nW][nD][T[nH][nM][nS]]`
/// with at least one part, integer counts (seconds may have a fraction), e.g. `PT1H`, `P1D`,
/// `P1DT12H`, `PT0.5S`.
public enum ISODuration {
    public static func isValid(_ s: String) -> Bool {
        let b = Array(s.utf8)
        guard b.count >= 3, b.count <= 64, b[0] == UInt8(ascii: "P") else { return false }
        var i = 1
        var inTime = false
        var parts = 0
        var timeParts = 0
        var lastUnit = 0   // order of units: Y M W D | H M S must ascend
        while i < b.count {
            if b[i] == UInt8(ascii: "T") {
                guard !inTime else { return false }
                inTime = true
                lastUnit = 10
                i += 1
                continue
            }
            let start = i
            while i < b.count, b[i] >= 0x30 && b[i] <= 0x39 { i += 1 }
            guard i > start else { return false }
            var hasFraction = false
            if i < b.count, b[i] == UInt8(ascii: ".") {
                i += 1
                let f = i
                while i < b.count, b[i] >= 0x30 && b[i] <= 0x39 { i += 1 }
                guard i > f else { return false }
                hasFraction = true
            }
            guard i < b.count else { return false }
            let unit: Int
            switch (inTime, b[i]) {
            case (false, UInt8(ascii: "Y")): unit = 1
            case (false, UInt8(ascii: "M")): unit = 2
            case (false, UInt8(ascii: "W")): unit = 3
            case (false, UInt8(ascii: "D")): unit = 4
            case (true, UInt8(ascii: "H")): unit = 11
            case (true, UInt8(ascii: "M")): unit = 12
            case (true, UInt8(ascii: "S")): unit = 13
            default: return false
            }
            guard unit > lastUnit, !hasFraction || unit == 13 else { return false }
            lastUnit = unit
            parts += 1
            if inTime { timeParts += 1 }
            i += 1
        }
        return parts > 0 && (!inTime || timeParts > 0)
    }
}

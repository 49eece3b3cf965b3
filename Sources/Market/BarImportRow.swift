import Money

/// One validated row of an `import-bars` file (contract 2c): a daily bar.
public struct BarImportRow: Sendable, Equatable {
    public static let header = ["symbol", "date", "open", "high", "low", "close", "volume"]

    public let symbol: String
    /// The day's UTC midnight, ms.
    public let t: Int64
    public let open: ExactDecimal
    public let high: ExactDecimal
    public let low: ExactDecimal
    public let close: ExactDecimal
    public let volume: ExactDecimal

    /// A bad row or header: the line and the field are named for the operator.
    public struct Failure: Error, Sendable, Equatable, CustomStringConvertible {
        public let line: Int
        public let field: String?
        public let message: String

        public var description: String {
            "line \(line)" + (field.map { ", field '\($0)'" } ?? "") + ": " + message
        }
    }

    /// The header must be exactly `symbol,date,open,high,low,close,volume`.
    public static func checkHeader(_ fields: [[UInt8]], line: Int) throws(Failure) {
        let names = fields.map { String(decoding: $0, as: UTF8.self) }
        guard names == header else {
            throw Failure(line: line, field: nil, message: "the header must be exactly \(header.joined(separator: ",")), got \(names.joined(separator: ","))")
        }
    }

    public init(fields: [[UInt8]], line: Int) throws(Failure) {
        guard fields.count == 7 else {
            throw Failure(line: line, field: nil, message: "expected 7 fields (\(Self.header.joined(separator: ","))), got \(fields.count)")
        }
        guard BarRules.isSymbol(bytes: fields[0][...]) else {
            throw Failure(line: line, field: "symbol", message: "must be 1-16 of A-Z 0-9 . - _")
        }
        guard let t = BarRules.date(bytes: fields[1][...]) else {
            throw Failure(line: line, field: "date", message: "must be a real date YYYY-MM-DD")
        }
        func positive(_ i: Int) throws(Failure) -> ExactDecimal {
            guard let d = BarRules.decimal(bytes: fields[i][...]), d.signum > 0 else {
                throw Failure(line: line, field: Self.header[i], message: "must be a decimal > 0 (digits, an optional point and digits)")
            }
            return d
        }
        let open = try positive(2), high = try positive(3), low = try positive(4), close = try positive(5)
        guard let volume = BarRules.decimal(bytes: fields[6][...]) else {
            throw Failure(line: line, field: "volume", message: "must be a decimal >= 0 (digits, an optional point and digits)")
        }
        guard low <= min(open, close) else { throw Failure(line: line, field: "low", message: "must be <= open and <= close") }
        guard max(open, close) <= high else { throw Failure(line: line, field: "high", message: "must be >= open and >= close") }
        self.symbol = String(decoding: fields[0], as: UTF8.self)
        self.t = t
        self.open = open
        self.high = high
        self.low = low
        self.close = close
        self.volume = volume
    }
}

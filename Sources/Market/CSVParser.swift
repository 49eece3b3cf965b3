/// RFC 4180 CSV, push-fed so a file of any size streams through a fixed buffer: quoted fields
/// (`""` is a quote inside one, commas and line breaks allowed inside), records ended by LF or
/// CRLF. Pure; `line` numbers count physical lines from 1 and name where a record starts.
/// Bounded: a field longer than `maxFieldBytes` or a record of more than `maxFields` fields is
/// an error, so no input makes the parser hold more than one such record.
public struct CSVParser: Sendable {
    public struct Failure: Error, Sendable, Equatable {
        public let line: Int
        public let message: String

        public init(line: Int, message: String) {
            self.line = line
            self.message = message
        }
    }

    private enum State: Sendable { case fieldStart, unquoted, quoted, quoteInQuoted, carriageReturn }

    private var state = State.fieldStart
    private var fields: [[UInt8]] = []
    private var field: [UInt8] = []
    private var line = 1
    private var recordLine = 1
    private var inRecord = false
    public let maxFieldBytes: Int
    public let maxFields: Int

    public init(maxFieldBytes: Int = 1_024, maxFields: Int = 64) {
        self.maxFieldBytes = maxFieldBytes
        self.maxFields = maxFields
    }

    /// Parses `bytes`, calling `record(fields, line)` for each complete record. A malformed
    /// record throws (`onRecord`'s own errors pass through as `E`).
    public mutating func feed<E: Error>(_ bytes: some Collection<UInt8>,
                                        _ onRecord: ([[UInt8]], Int) throws(E) -> Void) throws(ParseOrRecordError<E>) {
        for b in bytes {
            inRecord = true
            if field.count > maxFieldBytes {
                throw .parse(Failure(line: recordLine, message: "a field longer than \(maxFieldBytes) bytes"))
            }
            switch state {
            case .quoted:
                if b == 0x22 {
                    state = .quoteInQuoted
                } else {
                    if b == 0x0A { line += 1 }
                    field.append(b)
                }
            case .quoteInQuoted:
                switch b {
                case 0x22: field.append(b); state = .quoted
                case 0x2C: try endField(E.self)
                case 0x0A: try endRecord(onRecord)
                case 0x0D: state = .carriageReturn
                default: throw .parse(Failure(line: line, message: "a character after a closing quote"))
                }
            case .fieldStart:
                switch b {
                case 0x22: state = .quoted
                case 0x2C: try endField(E.self)
                case 0x0A: try endRecord(onRecord)
                case 0x0D: state = .carriageReturn
                default: field.append(b); state = .unquoted
                }
            case .unquoted:
                switch b {
                case 0x2C: try endField(E.self)
                case 0x0A: try endRecord(onRecord)
                case 0x0D: state = .carriageReturn
                case 0x22: throw .parse(Failure(line: line, message: "a quote inside an unquoted field"))
                default: field.append(b)
                }
            case .carriageReturn:
                guard b == 0x0A else { throw .parse(Failure(line: line, message: "a CR not followed by LF")) }
                try endRecord(onRecord)
            }
        }
    }

    /// The end of the input: the last record when it has no line break after it.
    public mutating func finish<E: Error>(_ onRecord: ([[UInt8]], Int) throws(E) -> Void) throws(ParseOrRecordError<E>) {
        switch state {
        case .quoted: throw .parse(Failure(line: recordLine, message: "a quoted field is not closed"))
        case .carriageReturn: throw .parse(Failure(line: line, message: "a CR not followed by LF"))
        default: if inRecord { try endRecord(onRecord) }
        }
    }

    private mutating func endField<E: Error>(_: E.Type) throws(ParseOrRecordError<E>) {
        guard field.count <= maxFieldBytes else {
            throw .parse(Failure(line: recordLine, message: "a field longer than \(maxFieldBytes) bytes"))
        }
        guard fields.count < maxFields else {
            throw .parse(Failure(line: recordLine, message: "a record of more than \(maxFields) fields"))
        }
        fields.append(field)
        field.removeAll(keepingCapacity: true)
        state = .fieldStart
    }

    private mutating func endRecord<E: Error>(_ onRecord: ([[UInt8]], Int) throws(E) -> Void) throws(ParseOrRecordError<E>) {
        try endField(E.self)
        let done = fields
        let at = recordLine
        fields.removeAll(keepingCapacity: true)
        line += 1
        recordLine = line
        inRecord = false
        do {
            try onRecord(done, at)
        } catch {
            throw .record(error)
        }
    }
}

/// A malformed CSV, or the record handler's own error.
public enum ParseOrRecordError<E: Error>: Error {
    case parse(CSVParser.Failure)
    case record(E)
}

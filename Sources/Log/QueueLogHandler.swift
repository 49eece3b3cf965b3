import Logging

/// swift-log handler that renders a line (text or JSON, secrets masked) on the calling thread
/// and hands it to a `LogSink`, whose writer thread does the I/O. Loggers made from one handler
/// (`with`, metadata changes) share its sink.
public struct QueueLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    public let format: LogFormat
    let sink: LogSink

    /// Writes to `fd` (stderr by default) through a new writer thread, started on first use.
    public init(level: Logger.Level = .info, format: LogFormat = .text, fd: Int32 = 2) {
        self.logLevel = level
        self.format = format
        self.sink = LogSink(fd: fd)
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields = metadata
        if let extra = event.metadata { fields.merge(extra) { _, new in new } }
        if let error = event.error { fields["error"] = .string("\(error)") }
        sink.enqueue(render(event.level, event.message.description, fields))
    }

    /// Waits (bounded) until queued lines are written; used at exit.
    public func flush() { sink.flush() }

    func render(_ level: Logger.Level, _ message: String, _ fields: Logger.Metadata) -> String {
        let ts = LogClock.iso8601Now()
        // Sorted: a dictionary has no order, and lines should compare across runs.
        let pairs = fields.sorted { $0.key < $1.key }.map { key, value -> (String, String) in
            // A field named like the line's own keys would make a JSON object with duplicate keys.
            let name = ["ts", "level", "msg"].contains(key) ? "field_" + key : key
            return (name, LogRedaction.isSecretKey(key) ? LogRedaction.mask : LogRedaction.scrub(value.description))
        }
        let text = LogRedaction.scrub(message)
        switch format {
        case .text:
            var line = "\(ts) \(level.rawValue.uppercased()) \(text)"
            for (k, v) in pairs { line += " \(k)=\(LogText.quoteIfNeeded(v))" }
            return line + "\n"
        case .json:
            var line = "{\"ts\":\"\(ts)\",\"level\":\"\(level.rawValue)\",\"msg\":\(LogText.jsonString(text))"
            for (k, v) in pairs { line += ",\(LogText.jsonString(k)):\(LogText.jsonString(v))" }
            return line + "}\n"
        }
    }
}

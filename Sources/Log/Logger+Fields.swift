import Logging

/// The project's field-list convenience on swift-log's `Logger`: `logger.info("msg",
/// [("key", "value")])` keeps the fields in a plain list at the call site (they become
/// metadata), `with(_:_:)` adds a field to every line, and `Logger(level:format:)` makes a
/// logger on our non-blocking handler. New code may as well use swift-log's own
/// `metadata:` form; both end in the same handler.
extension Logger {
    /// A logger on a new `QueueLogHandler` (its own writer thread, started on first use).
    public init(level: Logger.Level = .info, format: LogFormat = .text, fd: Int32 = 2, label: String = "quantumvest") {
        self.init(label: label) { _ in QueueLogHandler(level: level, format: format, fd: fd) }
    }

    /// A logger that adds `key=value` to every line (e.g. the event loop index).
    public func with(_ key: String, _ value: String) -> Logger {
        var copy = self
        copy[metadataKey: key] = .string(value)
        return copy
    }

    public var level: Logger.Level { logLevel }

    /// The line format of our handler (text for any other handler).
    public var format: LogFormat { (handler as? QueueLogHandler)?.format ?? .text }

    @inline(__always) public func isEnabled(_ level: Logger.Level) -> Bool { level >= logLevel }

    /// Waits (bounded) until lines already logged are written; at exit. A no-op on other handlers.
    public func flush() {
        (handler as? QueueLogHandler)?.flush()
    }

    public func log(_ level: Logger.Level, _ message: @autoclosure () -> String, _ fields: @autoclosure () -> [(String, String)],
                    file: String = #fileID, function: String = #function, line: UInt = #line) {
        guard level >= logLevel else { return }
        var metadata: Logger.Metadata = [:]
        for (k, v) in fields() { metadata[k] = .string(v) }
        log(level: level, "\(message())", metadata: metadata, file: file, function: function, line: line)
    }

    public func trace(_ m: @autoclosure () -> String, _ f: @autoclosure () -> [(String, String)],
                      file: String = #fileID, function: String = #function, line: UInt = #line) {
        log(.trace, m(), f(), file: file, function: function, line: line)
    }
    public func debug(_ m: @autoclosure () -> String, _ f: @autoclosure () -> [(String, String)],
                      file: String = #fileID, function: String = #function, line: UInt = #line) {
        log(.debug, m(), f(), file: file, function: function, line: line)
    }
    public func info(_ m: @autoclosure () -> String, _ f: @autoclosure () -> [(String, String)],
                     file: String = #fileID, function: String = #function, line: UInt = #line) {
        log(.info, m(), f(), file: file, function: function, line: line)
    }
    public func notice(_ m: @autoclosure () -> String, _ f: @autoclosure () -> [(String, String)],
                       file: String = #fileID, function: String = #function, line: UInt = #line) {
        log(.notice, m(), f(), file: file, function: function, line: line)
    }
    public func warning(_ m: @autoclosure () -> String, _ f: @autoclosure () -> [(String, String)],
                        file: String = #fileID, function: String = #function, line: UInt = #line) {
        log(.warning, m(), f(), file: file, function: function, line: line)
    }
    public func error(_ m: @autoclosure () -> String, _ f: @autoclosure () -> [(String, String)],
                      file: String = #fileID, function: String = #function, line: UInt = #line) {
        log(.error, m(), f(), file: file, function: function, line: line)
    }
}

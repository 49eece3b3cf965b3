import Dispatch
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Severity, lowest first. `--log-level` picks the threshold.
public enum LogLevel: Int, Sendable, Comparable, CaseIterable {
    case trace, debug, info, notice, warning, error

    public init?(name: String) {
        switch name.lowercased() {
        case "trace": self = .trace
        case "debug": self = .debug
        case "info": self = .info
        case "notice": self = .notice
        case "warning", "warn": self = .warning
        case "error": self = .error
        default: return nil
        }
    }

    public var name: String {
        switch self {
        case .trace: "trace"
        case .debug: "debug"
        case .info: "info"
        case .notice: "notice"
        case .warning: "warning"
        case .error: "error"
        }
    }

    public static func < (a: LogLevel, b: LogLevel) -> Bool { a.rawValue < b.rawValue }
}

public enum LogFormat: String, Sendable {
    case text, json
}

/// A logger that never blocks its caller on I/O: lines go into a bounded in-memory queue and a
/// writer thread puts them on stderr. When the queue is full (stderr stuck), lines are dropped
/// and counted; the count is reported once the writer catches up. Event loops log freely.
public final class Logger: Sendable {
    public let level: LogLevel
    public let format: LogFormat
    private let sink: LogSink
    private let labels: [(String, String)]

    public init(level: LogLevel = .info, format: LogFormat = .text, fd: Int32 = 2) {
        self.level = level
        self.format = format
        self.sink = LogSink(fd: fd)
        self.labels = []
    }

    private init(level: LogLevel, format: LogFormat, sink: LogSink, labels: [(String, String)]) {
        self.level = level
        self.format = format
        self.sink = sink
        self.labels = labels
    }

    /// A logger that adds `key=value` to every line (e.g. the event loop index).
    public func with(_ key: String, _ value: String) -> Logger {
        Logger(level: level, format: format, sink: sink, labels: labels + [(key, value)])
    }

    @inline(__always) public func isEnabled(_ l: LogLevel) -> Bool { l >= level }

    public func log(_ l: LogLevel, _ message: @autoclosure () -> String,
                    _ fields: @autoclosure () -> [(String, String)] = []) {
        guard l >= level else { return }
        sink.enqueue(render(l, message(), labels + fields()))
    }

    public func trace(_ m: @autoclosure () -> String, _ f: @autoclosure () -> [(String, String)] = []) { log(.trace, m(), f()) }
    public func debug(_ m: @autoclosure () -> String, _ f: @autoclosure () -> [(String, String)] = []) { log(.debug, m(), f()) }
    public func info(_ m: @autoclosure () -> String, _ f: @autoclosure () -> [(String, String)] = []) { log(.info, m(), f()) }
    public func notice(_ m: @autoclosure () -> String, _ f: @autoclosure () -> [(String, String)] = []) { log(.notice, m(), f()) }
    public func warning(_ m: @autoclosure () -> String, _ f: @autoclosure () -> [(String, String)] = []) { log(.warning, m(), f()) }
    public func error(_ m: @autoclosure () -> String, _ f: @autoclosure () -> [(String, String)] = []) { log(.error, m(), f()) }

    /// Waits (bounded) until queued lines are written; used at exit.
    public func flush() { sink.flush() }

    private func render(_ l: LogLevel, _ message: String, _ fields: [(String, String)]) -> String {
        let ts = LogClock.iso8601Now()
        switch format {
        case .text:
            var line = "\(ts) \(l.name.uppercased()) \(message)"
            for (k, v) in fields { line += " \(k)=\(LogText.quoteIfNeeded(v))" }
            return line + "\n"
        case .json:
            var line = "{\"ts\":\"\(ts)\",\"level\":\"\(l.name)\",\"msg\":\(LogText.jsonString(message))"
            for (k, v) in fields { line += ",\(LogText.jsonString(k)):\(LogText.jsonString(v))" }
            return line + "}\n"
        }
    }
}

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

/// The queue between loggers and the writer thread.
final class LogSink: Sendable {
    private struct State {
        var lines: [String] = []
        var bytes = 0
        var dropped = 0
        var writerStarted = false
        var writing = false
    }

    /// Bound on queued log text; beyond it lines are dropped (and counted), never blocking.
    static let maxQueuedBytes = 4 << 20

    private let fd: Int32
    private let state = Mutex(State())
    /// Wakes the writer thread when lines arrive (no polling while idle).
    private let wake = DispatchSemaphore(value: 0)

    init(fd: Int32) { self.fd = fd }

    func enqueue(_ line: String) {
        let startWriter = state.withLock { s -> Bool in
            if s.bytes + line.utf8.count > LogSink.maxQueuedBytes {
                s.dropped += 1
                return false
            }
            s.lines.append(line)
            s.bytes += line.utf8.count
            if !s.writerStarted { s.writerStarted = true; return true }
            return false
        }
        if startWriter { startWriterThread() }
        wake.signal()
    }

    func flush() {
        for _ in 0..<200 {
            let empty = state.withLock { $0.lines.isEmpty && !$0.writing }
            if empty { return }
            usleep(5_000)
        }
    }

    private func startWriterThread() {
        let box = Unmanaged.passRetained(self)
        var tid = pthread_t()
        let rc = pthread_create(&tid, nil, { arg in
            guard let arg else { return nil }
            let sink = Unmanaged<LogSink>.fromOpaque(arg).takeRetainedValue()
            sink.writerLoop()
            return nil
        }, box.toOpaque())
        if rc != 0 {
            box.release()
        } else {
            pthread_detach(tid)
        }
    }

    private func writerLoop() {
        while true {
            let (batch, dropped) = state.withLock { s -> ([String], Int) in
                let b = s.lines
                let d = s.dropped
                s.lines.removeAll(keepingCapacity: true)
                s.bytes = 0
                s.dropped = 0
                s.writing = !b.isEmpty || d > 0
                return (b, d)
            }
            if batch.isEmpty && dropped == 0 {
                wake.wait()
                continue
            }
            var text = batch.joined()
            if dropped > 0 { text += "log: \(dropped) lines dropped (stderr too slow)\n" }
            writeAll(text)
            state.withLock { $0.writing = false }
        }
    }

    private func writeAll(_ text: String) {
        writeFully(text, to: fd)
    }
}

/// Writes all of `text` to a descriptor, retrying short writes and EINTR; gives up on error.
/// For start-up messages and the log writer thread — never on an event loop.
public func writeFully(_ text: String, to fd: Int32) {
    var text = text
    text.withUTF8 { buf in
        guard let base = buf.baseAddress else { return }
        var off = 0
        while off < buf.count {
            let n = write(fd, base + off, buf.count - off)
            if n > 0 { off += n } else if n < 0 && errno == EINTR { continue } else { return }
        }
    }
}

import Logging

/// `--log-level`: swift-log's levels (trace … critical).
public typealias LogLevel = Logger.Level

extension Logger.Level {
    /// Accepts the level names, any case, and `warn`.
    public init?(name: String) {
        let lower = name.lowercased()
        if lower == "warn" { self = .warning; return }
        self.init(rawValue: lower)
    }

    public var name: String { rawValue }
}

/// `--log-format`: one line per event, `key=value` text or a JSON object.
public enum LogFormat: String, Sendable, CaseIterable {
    case text, json
}

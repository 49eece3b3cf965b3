import Foundation

/// Temporary directories for tests, removed when the test process exits.
public enum TemporaryDirectory {
    // Only touched with `lock` held.
    private nonisolated(unsafe) static var made: [String] = []
    private static let lock = NSLock()

    /// A new empty directory `/tmp/<prefix>-XXXXXX`.
    public static func make(prefix: String = "qv-test") throws -> String {
        var template = Array("/tmp/\(prefix)-XXXXXX".utf8CString)
        guard let p = mkdtemp(&template) else { throw PostgresServer.Failure("mkdtemp failed: errno \(errno)") }
        let dir = String(cString: p)
        lock.lock()
        defer { lock.unlock() }
        if made.isEmpty { atexit { TemporaryDirectory.removeAll() } }
        made.append(dir)
        return dir
    }

    private static func removeAll() {
        lock.lock()
        defer { lock.unlock() }
        for dir in made { try? FileManager.default.removeItem(atPath: dir) }
        made = []
    }
}

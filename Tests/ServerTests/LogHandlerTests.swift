// swift-log through our handler: text and JSON lines, levels, fields, and secrets masked.

#if canImport(Glibc)
import Glibc
#endif
import JSON
import Log
import Testing

@Suite("Log handler")
struct LogHandlerTests {
    /// Logs through a logger writing to a pipe and returns the lines it wrote.
    private func lines(_ format: LogFormat, level: LogLevel = .info, _ body: (Logger) -> Void) throws -> [String] {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { throw ClientError("pipe: errno \(errno)") }
        // Both ends stay open until the logger is done with them (its writer thread holds the number).
        defer { close(fds[0]); close(fds[1]) }
        let logger = Logger(level: level, format: format, fd: fds[1])
        body(logger)
        logger.flush()   // bounded: returns once the writer thread has written every line
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        var p = pollfd(fd: fds[0], events: Int16(POLLIN), revents: 0)
        while poll(&p, 1, 100) > 0 {
            let n = buf.withUnsafeMutableBytes { read(fds[0], $0.baseAddress!, $0.count) }
            if n <= 0 { break }
            out += buf[0..<n]
        }
        return String(decoding: out, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    @Test func textLinesCarryLevelMessageAndFields() throws {
        let got = try lines(.text) { log in
            log.with("loop", "1").info("listening", [("port", "8080"), ("peer", "a b")])
            log.debug("hidden", [("x", "1")])
            log.warning("native form", metadata: ["queued": "12"])
        }
        #expect(got.count == 2, "\(got)")
        #expect(got.first?.contains(" INFO listening loop=1 peer=\"a b\" port=8080") == true, "\(got)")
        #expect(got.last?.contains(" WARNING native form queued=12") == true, "\(got)")
    }

    @Test func jsonLinesParse() throws {
        let got = try lines(.json, level: .debug) { log in
            log.debug("a \"quoted\"\nline", [("k", "v"), ("msg", "a field, not the message")])
        }
        #expect(got.count == 1)
        let value = try JSONParser().parse(Array(try #require(got.first).utf8))
        #expect(value.objectValue?["level"]?.stringValue == "debug")
        #expect(value.objectValue?["msg"]?.stringValue == "a \"quoted\"\nline")
        #expect(value.objectValue?["k"]?.stringValue == "v")
        #expect(value.objectValue?["field_msg"]?.stringValue == "a field, not the message")
    }

    @Test(arguments: [LogFormat.text, .json])
    func secretsNeverReachTheLog(_ format: LogFormat) throws {
        let got = try lines(format) { log in
            log.info("handshake", [("target", "/ws?channel=x&access_token=eyJhbGciOi.secret1&v=2"), ("password", "hunter2hunter2"),
                                   ("publisher_key", "pk-secret-0123456789"), ("jwt_secret", "s3cr3t"),
                                   ("header", "Authorization: Bearer tok-secret-42")])
            log.error("failed for access_token=abc.def.ghi")
        }
        let text = got.joined(separator: "\n")
        for secret in ["eyJhbGciOi.secret1", "hunter2hunter2", "pk-secret-0123456789", "s3cr3t", "tok-secret-42", "abc.def.ghi"] {
            #expect(!text.contains(secret), "\(secret) leaked: \(text)")
        }
        #expect(text.contains("channel=x"), "the rest of the target stays: \(text)")
        #expect(text.contains("[redacted]"))
    }
}

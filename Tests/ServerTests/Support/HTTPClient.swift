// HTTP/1.1 on top of TCPClient: building raw requests (including malformed ones on purpose) and
// reading one response at a time, leaving whatever follows it (WebSocket frames) in the inbox.

/// One response as received.
struct HTTPReply: CustomStringConvertible {
    var statusLine: String
    var status: Int
    var headers: [(name: String, value: String)]
    var body: [UInt8]
    /// The head bytes exactly as received (status line through the blank line).
    var rawHead: [UInt8]

    /// Every value of a header, name compared case-insensitively.
    func values(_ name: String) -> [String] {
        let n = name.lowercased()
        return headers.filter { $0.name.lowercased() == n }.map(\.value)
    }

    func value(_ name: String) -> String? { values(name).first }

    var bodyText: String { String(decoding: body, as: UTF8.self) }

    var description: String { String(decoding: rawHead, as: UTF8.self) + bodyText }
}

/// A request head from lines (no CRLF in them); adds the blank line.
func rawRequest(_ method: String, _ target: String, version: String = "HTTP/1.1", _ headers: [String]) -> [UInt8] {
    var s = "\(method) \(target) \(version)\r\n"
    for h in headers { s += h + "\r\n" }
    s += "\r\n"
    return Array(s.utf8)
}

/// A GET request head.
func rawRequest(_ target: String, version: String = "HTTP/1.1", _ headers: [String]) -> [UInt8] {
    rawRequest("GET", target, version: version, headers)
}

/// The RFC 6455 §1.3 example key and its accept value.
let sampleKey = "dGhlIHNhbXBsZSBub25jZQ=="
let sampleAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

/// Headers of a valid upgrade, to be varied by each case.
func upgradeHeaders(key: String = sampleKey, extra: [String] = []) -> [String] {
    ["Host: 127.0.0.1", "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Key: \(key)",
     "Sec-WebSocket-Version: 13"] + extra
}

extension TCPClient {
    /// Reads one response head (and its Content-Length body unless `bodyExpected` is false).
    func readHTTPResponse(timeoutMs: Int = 2000, bodyExpected: Bool = true) throws -> HTTPReply {
        let start = ContinuousClock.now
        let terminator: [UInt8] = [13, 10, 13, 10]
        var headEnd: Int?
        while true {
            if let i = inbox.firstIndex(of: terminator) {
                headEnd = i + 4
                break
            }
            let left = timeoutMs - millis(since: start)
            guard left > 0 else { throw ClientError("no complete response head within \(timeoutMs) ms (\(inbox.count) bytes)") }
            switch fill(timeoutMs: left) {
            case .data, .timeout: continue
            case .eof: throw ClientError("EOF before a complete response head: \(String(decoding: inbox.peek(200), as: UTF8.self))")
            case .failed(let e): throw ClientError("read error errno \(e) before a complete response head")
            }
        }
        let rawHead = inbox.take(headEnd!)
        let text = String(decoding: rawHead.dropLast(4), as: UTF8.self)
        var lines = text.components(separatedByCRLF: ())
        let statusLine = lines.removeFirst()
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0] == "HTTP/1.1", let status = Int(parts[1]) else {
            throw ClientError("malformed status line '\(statusLine)'")
        }
        var headers: [(name: String, value: String)] = []
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { throw ClientError("malformed header line '\(line)'") }
            let name = String(line[..<colon])
            var value = line[line.index(after: colon)...]
            while value.first == " " { value.removeFirst() }
            headers.append((name, String(value)))
        }
        var reply = HTTPReply(statusLine: statusLine, status: status, headers: headers, body: [], rawHead: rawHead)
        if bodyExpected && status != 101, let cl = reply.value("Content-Length"), let n = Int(cl) {
            reply.body = try readExactly(n, timeoutMs: max(1, timeoutMs - millis(since: start)))
        }
        return reply
    }

    /// Sends a request and reads its response.
    func exchange(_ request: [UInt8], timeoutMs: Int = 2000, bodyExpected: Bool = true) throws -> HTTPReply {
        try send(request)
        return try readHTTPResponse(timeoutMs: timeoutMs, bodyExpected: bodyExpected)
    }
}

extension String {
    /// Splits on CRLF (the head was already checked to use CRLF line ends).
    func components(separatedByCRLF _: Void) -> [String] {
        var out: [String] = []
        var current: [UInt8] = []
        let bytes = Array(utf8)
        var i = 0
        while i < bytes.count {
            if bytes[i] == 13 && i + 1 < bytes.count && bytes[i + 1] == 10 {
                out.append(String(decoding: current, as: UTF8.self))
                current = []
                i += 2
            } else {
                current.append(bytes[i])
                i += 1
            }
        }
        out.append(String(decoding: current, as: UTF8.self))
        return out
    }
}

// MARK: - Independent SHA-1 and base64 (to check Sec-WebSocket-Accept without the server's code)

enum TestSHA1 {
    static func digest(_ message: [UInt8]) -> [UInt8] {
        var h: [UInt32] = [0x6745_2301, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476, 0xC3D2_E1F0]
        var m = message
        let bitLength = UInt64(message.count) * 8
        m.append(0x80)
        while m.count % 64 != 56 { m.append(0) }
        for shift in stride(from: 56, through: 0, by: -8) { m.append(UInt8(truncatingIfNeeded: bitLength >> UInt64(shift))) }
        var w = [UInt32](repeating: 0, count: 80)
        for block in stride(from: 0, to: m.count, by: 64) {
            for i in 0..<16 {
                let j = block + 4 * i
                w[i] = UInt32(m[j]) << 24 | UInt32(m[j + 1]) << 16 | UInt32(m[j + 2]) << 8 | UInt32(m[j + 3])
            }
            for i in 16..<80 { w[i] = rotl(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1) }
            var (a, b, c, d, e) = (h[0], h[1], h[2], h[3], h[4])
            for i in 0..<80 {
                let f: UInt32
                let k: UInt32
                switch i {
                case 0..<20: (f, k) = ((b & c) | (~b & d), 0x5A82_7999)
                case 20..<40: (f, k) = (b ^ c ^ d, 0x6ED9_EBA1)
                case 40..<60: (f, k) = ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC)
                default: (f, k) = (b ^ c ^ d, 0xCA62_C1D6)
                }
                let t = rotl(a, 5) &+ f &+ e &+ k &+ w[i]
                (e, d, c, b, a) = (d, c, rotl(b, 30), a, t)
            }
            h[0] &+= a; h[1] &+= b; h[2] &+= c; h[3] &+= d; h[4] &+= e
        }
        return h.flatMap { v in [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: v >> UInt32($0)) } }
    }

    private static func rotl(_ x: UInt32, _ n: UInt32) -> UInt32 { x << n | x >> (32 - n) }
}

func testBase64(_ bytes: [UInt8]) -> String {
    let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
    var out = ""
    var i = 0
    while i < bytes.count {
        let n = min(3, bytes.count - i)
        var v: UInt32 = 0
        for j in 0..<3 { v = v << 8 | (j < n ? UInt32(bytes[i + j]) : 0) }
        for j in 0..<4 {
            out.append(j <= n ? alphabet[Int(v >> UInt32(18 - 6 * j) & 63)] : "=")
        }
        i += 3
    }
    return out
}

func expectedAccept(forKey key: String) -> String {
    testBase64(TestSHA1.digest(Array((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").utf8)))
}

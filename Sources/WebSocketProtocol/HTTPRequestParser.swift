/// Incremental HTTP/1.1 request-head parser (picohttpparser's contract, with a bounded buffer).
///
/// Bytes are accumulated until the blank line that ends the head, then the head is parsed in
/// one pass. Strict on purpose: anything a smuggling attack or a confused proxy could rely on
/// (bare LF, obs-fold, whitespace before a colon, duplicate Content-Length or Host,
/// Transfer-Encoding) is refused.
public struct HTTPRequestParser: Sendable {
    public enum Result: Equatable, Sendable {
        case needMore
        /// `consumed`: how many bytes of the *last* input belonged to the head; the rest
        /// (a body or the first WebSocket frames) is the caller's.
        case complete(HTTPRequestHead, consumed: Int)
        case rejected(HTTPRequestError)
    }

    public var maxHeadBytes: Int
    public var maxHeaders: Int
    private var buffer: [UInt8] = []
    private var scanned = 0

    public init(maxHeadBytes: Int = 16 * 1024, maxHeaders: Int = 100) {
        self.maxHeadBytes = maxHeadBytes
        self.maxHeaders = maxHeaders
    }

    /// Bytes buffered so far (a partial head).
    public var bufferedCount: Int { buffer.count }

    /// Forget the buffered head (after a complete request on a keep-alive connection).
    public mutating func reset() {
        buffer = []
        scanned = 0
    }

    public mutating func feed(_ input: UnsafeRawBufferPointer) -> Result {
        // RFC 9112 §2.2: empty lines before a request line are ignored (some clients send CRLF
        // after a body). Skipped in the input before anything is buffered, and the same for
        // every split (a CR at the end of one read and its LF at the start of the next).
        var skipped = 0
        if buffer == [0x0D], input.count > 0, input[0] == 0x0A {
            buffer.removeAll()
            skipped = 1
        }
        if buffer.isEmpty {
            while skipped + 1 < input.count && input[skipped] == 0x0D && input[skipped + 1] == 0x0A { skipped += 2 }
        }
        let rest = UnsafeRawBufferPointer(rebasing: input[skipped...])
        let before = buffer.count
        // Never hold more than the limit (+4 to see the terminating CRLFCRLF at the limit).
        let take = min(rest.count, maxHeadBytes + 4 - before)
        if take > 0 { buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: rest[0..<take])) }
        if before == 0 { scanned = 0 }
        var i = scanned
        while i < buffer.count {
            let c = buffer[i]
            if c == 0x0A {
                // Lines end in CRLF only; a bare LF is how request smuggling starts.
                guard i > 0, buffer[i - 1] == 0x0D else {
                    return .rejected(.malformed("bare LF in request head"))
                }
                if i >= 3 && buffer[i - 2] == 0x0A && buffer[i - 3] == 0x0D {
                    let end = i + 1
                    if end > maxHeadBytes { return .rejected(.headTooLarge("request head too large")) }
                    let head = buffer.withUnsafeBytes { HTTPRequestParser.parse(UnsafeRawBufferPointer(rebasing: $0[0..<end]), maxHeaders: maxHeaders) }
                    switch head {
                    case .success(let h): return .complete(h, consumed: skipped + end - before)
                    case .failure(let r): return .rejected(r)
                    }
                }
            } else if c == 0x0D, i + 1 < buffer.count, buffer[i + 1] != 0x0A {
                return .rejected(.malformed("bare CR in request head"))
            }
            i += 1
        }
        // A CR at the very end may still be followed by LF: rescan from it next time.
        scanned = max(0, buffer.count - 1)
        if buffer.count >= maxHeadBytes { return .rejected(.headTooLarge("request head too large")) }
        return .needMore
    }

    // MARK: One-pass parse of a complete head (ends with CRLFCRLF)

    static func parse(_ b: UnsafeRawBufferPointer, maxHeaders: Int) -> Swift.Result<HTTPRequestHead, HTTPRequestError> {
        var i = 0
        let n = b.count
        // Request line: method SP target SP HTTP/1.x CRLF
        let methodStart = i
        while i < n && isTokenChar(b[i]) { i += 1 }
        guard i > methodStart, i < n, b[i] == 0x20 else { return .failure(.malformed("malformed request line")) }
        let method = String(decoding: UnsafeRawBufferPointer(rebasing: b[methodStart..<i]), as: UTF8.self)
        i += 1
        let targetStart = i
        while i < n && b[i] > 0x20 && b[i] < 0x7F { i += 1 }
        guard i > targetStart, i < n, b[i] == 0x20 else { return .failure(.malformed("malformed request target")) }
        let target = String(decoding: UnsafeRawBufferPointer(rebasing: b[targetStart..<i]), as: UTF8.self)
        i += 1
        // HTTP-version = "HTTP/" DIGIT "." DIGIT
        guard i + 10 <= n,
              b[i] == UInt8(ascii: "H"), b[i + 1] == UInt8(ascii: "T"), b[i + 2] == UInt8(ascii: "T"),
              b[i + 3] == UInt8(ascii: "P"), b[i + 4] == UInt8(ascii: "/"),
              isDigit(b[i + 5]), b[i + 6] == UInt8(ascii: "."), isDigit(b[i + 7]),
              b[i + 8] == 0x0D, b[i + 9] == 0x0A
        else { return .failure(.malformed("malformed HTTP version")) }
        guard b[i + 5] == UInt8(ascii: "1") else {
            return .failure(.versionNotSupported)
        }
        let minor = Int(b[i + 7] - UInt8(ascii: "0"))
        guard minor <= 1 else { return .failure(.versionNotSupported) }
        i += 10
        guard target.utf8.first == UInt8(ascii: "/") else {
            return .failure(.malformed("request target must be origin-form"))
        }

        var headers: [HTTPRequestHead.Header] = []
        while i < n {
            if b[i] == 0x0D { break }   // the blank line
            if b[i] == 0x20 || b[i] == 0x09 { return .failure(.malformed("obsolete line folding")) }
            let nameStart = i
            while i < n && isTokenChar(b[i]) { i += 1 }
            guard i > nameStart, i < n, b[i] == UInt8(ascii: ":") else {
                return .failure(.malformed("malformed header name"))
            }
            let name = String(decoding: UnsafeRawBufferPointer(rebasing: b[nameStart..<i]), as: UTF8.self).lowercased()
            i += 1
            while i < n && (b[i] == 0x20 || b[i] == 0x09) { i += 1 }
            let valueStart = i
            while i < n && b[i] != 0x0D {
                let c = b[i]
                // field-vchar, SP, HTAB, obs-text; no other control bytes (NUL, DEL, …)
                guard c == 0x09 || (c >= 0x20 && c != 0x7F) else {
                    return .failure(.malformed("control character in header value"))
                }
                i += 1
            }
            var valueEnd = i
            while valueEnd > valueStart && (b[valueEnd - 1] == 0x20 || b[valueEnd - 1] == 0x09) { valueEnd -= 1 }
            let value = String(decoding: UnsafeRawBufferPointer(rebasing: b[valueStart..<valueEnd]), as: UTF8.self)
            i += 2   // CRLF (the scanner guaranteed CR is followed by LF)
            headers.append(.init(name: name, value: value))
            if headers.count > maxHeaders { return .failure(.headTooLarge("too many header fields")) }
        }
        let head = HTTPRequestHead(method: method, target: target, versionMinor: minor, headers: headers)
        if let problem = framingProblem(head) { return .failure(problem) }
        return .success(head)
    }

    /// Message-framing rules shared by every route.
    static func framingProblem(_ head: HTTPRequestHead) -> HTTPRequestError? {
        let hosts = head.values("host")
        if hosts.count > 1 { return .malformed("duplicate Host header") }
        if head.versionMinor == 1 && hosts.isEmpty { return .malformed("missing Host header") }
        if !head.values("transfer-encoding").isEmpty {
            return .malformed("Transfer-Encoding is not accepted")
        }
        let lengths = head.values("content-length")
        if lengths.count > 1 { return .malformed("duplicate Content-Length header") }
        if let l = lengths.first {
            guard !l.isEmpty, l.utf8.count <= 18, l.utf8.allSatisfy(isDigit) else {
                return .malformed("invalid Content-Length")
            }
        }
        return nil
    }

    @inline(__always) static func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }

    /// RFC 9110 tchar.
    @inline(__always) static func isTokenChar(_ c: UInt8) -> Bool {
        switch c {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"), UInt8(ascii: "'"),
             UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "^"), UInt8(ascii: "_"),
             UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }
}

extension HTTPRequestHead {
    /// The declared body length (0 when absent). Valid after parsing (digits only, ≤ 18 of them).
    public var contentLength: Int {
        value("content-length").flatMap { Int($0) } ?? 0
    }
}

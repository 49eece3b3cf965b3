// libFuzzer target: HTTPRequestParser + UpgradeHandshake.
//
// Input layout: byte 0 picks parser limits (low 2 bits) ; the rest is cut into chunks
// uWS-style (first byte of each chunk = its size, 0 = everything that remains).
//
// Invariants (any failure traps):
//  - `consumed` lies within the last input; the head ends with CRLFCRLF and fits the limit;
//  - a parsed head is well formed: token method, origin-form target, lower-case token header
//    names, values without CR/LF/NUL/DEL or surrounding whitespace, minor version 0 or 1,
//    exactly one Host on HTTP/1.1, no Transfer-Encoding, at most one Content-Length;
//  - upgrade validation refuses with 400/405/426 only, and when it accepts, the key decodes to
//    16 bytes and the 101 response carries the accept value;
//  - a naive second reading of the raw head bytes agrees with the parsed head line by line
//    (no bare CR/LF, same request line, same names and trimmed values, in order);
//  - the same bytes fed in one piece give the same result (a rejection may differ in status
//    only when one side is 431: where the size limit trips depends on where reads end).

let fuzzHTTPLimits: [(Int, Int)] = [(16 * 1024, 100), (64, 4), (300, 8), (1024, 2)]

enum FuzzHTTPOutcome: Equatable {
    case needMore
    case complete(HTTPRequestHead, headBytes: Int)
    case rejected(Int)
}

@inline(never)
func httpCheck(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("invariant violated: \(message())") }
}

func isTchar(_ c: UInt8) -> Bool { HTTPRequestParser.isTokenChar(c) }

func fuzzParse(_ chunks: [ArraySlice<UInt8>], stream: [UInt8], limits: (Int, Int)) -> FuzzHTTPOutcome {
    var parser = HTTPRequestParser(maxHeadBytes: limits.0, maxHeaders: limits.1)
    var fedBefore = 0
    for chunk in chunks {
        // Exactly-sized allocation: ASan sees reads outside the input.
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk.count, alignment: 1)
        defer { buffer.deallocate() }
        chunk.withUnsafeBytes { src in
            if let s = src.baseAddress, let d = buffer.baseAddress, src.count > 0 { d.copyMemory(from: s, byteCount: src.count) }
        }
        let result = parser.feed(UnsafeRawBufferPointer(buffer))
        httpCheck(parser.bufferedCount <= limits.0 + 4, "buffered \(parser.bufferedCount)")
        switch result {
        case .needMore:
            fedBefore += chunk.count
        case .rejected(let r):
            httpCheck([400, 431, 505].contains(r.status.rawValue), "status \(r.status.rawValue)")
            return .rejected(r.status.rawValue)
        case .complete(let head, let consumed):
            httpCheck(consumed >= 0 && consumed <= chunk.count, "consumed \(consumed) of \(chunk.count)")
            let headBytes = fedBefore + consumed
            // Empty lines skipped before the request line do not count toward the head limit.
            var leading = 0
            while leading + 1 < headBytes && stream[leading] == 13 && stream[leading + 1] == 10 { leading += 2 }
            httpCheck(headBytes >= 4 && headBytes - leading <= limits.0, "head of \(headBytes - leading) bytes, limit \(limits.0)")
            httpCheck(Array(stream[(headBytes - 4)..<headBytes]) == [13, 10, 13, 10], "head does not end in CRLFCRLF")
            checkHead(head, maxHeaders: limits.1)
            checkAgainstRawBytes(head, Array(stream[..<headBytes]))
            return .complete(head, headBytes: headBytes)
        }
    }
    return .needMore
}

/// A second, naive reading of the raw head: strict CRLF lines, the request line rebuilt from
/// the parsed fields, and one `name: value` line per parsed header, in order.
func checkAgainstRawBytes(_ head: HTTPRequestHead, _ stream: [UInt8]) {
    // Empty lines before the request line are skipped by the parser (RFC 9112 §2.2).
    var skip = 0
    while skip + 1 < stream.count && stream[skip] == 13 && stream[skip + 1] == 10 { skip += 2 }
    let raw = Array(stream[skip...])
    for (i, c) in raw.enumerated() {
        if c == 13 { httpCheck(i + 1 < raw.count && raw[i + 1] == 10, "bare CR at \(i) in accepted head") }
        if c == 10 { httpCheck(i > 0 && raw[i - 1] == 13, "bare LF at \(i) in accepted head") }
    }
    var lines: [[UInt8]] = [[]]
    var i = 0
    while i < raw.count {
        if raw[i] == 13 { lines.append([]); i += 2 } else { lines[lines.count - 1].append(raw[i]); i += 1 }
    }
    // "…CRLF CRLF" leaves two empty entries at the end: the blank line and the split's tail.
    httpCheck(lines.count == head.headers.count + 3 && lines[lines.count - 1].isEmpty && lines[lines.count - 2].isEmpty,
              "\(lines.count) lines for \(head.headers.count) headers")
    let requestLine = Array("\(head.method) \(head.target) HTTP/1.\(head.versionMinor)".utf8)
    httpCheck(lines[0] == requestLine, "request line \(lines[0]) vs \(requestLine)")
    for (n, h) in head.headers.enumerated() {
        let line = lines[n + 1]
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { httpCheck(false, "no colon in \(line)"); return }
        httpCheck(String(decoding: line[..<colon], as: UTF8.self).lowercased() == h.name, "name of line \(n + 1)")
        var v = line[(colon + 1)...]
        while let f = v.first, f == 0x20 || f == 0x09 { v.removeFirst() }
        while let l = v.last, l == 0x20 || l == 0x09 { v.removeLast() }
        // obs-text (0x80-0xFF) is allowed and decoded as UTF-8 with repair (U+FFFD), so compare
        // after the same decoding.
        httpCheck(String(decoding: v, as: UTF8.self) == h.value, "value of line \(n + 1): \(Array(v)) vs \(Array(h.value.utf8))")
    }
}

func checkHead(_ head: HTTPRequestHead, maxHeaders: Int) {
    httpCheck(!head.method.isEmpty && head.method.utf8.allSatisfy(isTchar), "method \(head.method)")
    httpCheck(head.target.utf8.first == UInt8(ascii: "/"), "target \(head.target)")
    httpCheck(head.target.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F }, "target bytes")
    httpCheck(head.versionMinor == 0 || head.versionMinor == 1, "minor \(head.versionMinor)")
    httpCheck(head.headers.count <= maxHeaders, "\(head.headers.count) headers")
    for h in head.headers {
        httpCheck(!h.name.isEmpty && h.name.utf8.allSatisfy(isTchar) && h.name == h.name.lowercased(), "name \(h.name)")
        let v = Array(h.value.utf8)
        httpCheck(!v.contains { $0 == 13 || $0 == 10 || $0 == 0 || $0 == 0x7F }, "value bytes \(v)")
        httpCheck(v.first != 0x20 && v.first != 0x09 && v.last != 0x20 && v.last != 0x09, "untrimmed value \(v)")
    }
    let hosts = head.values("host").count
    httpCheck(hosts <= 1 && (head.versionMinor == 0 || hosts == 1), "\(hosts) Host headers")
    httpCheck(head.values("transfer-encoding").isEmpty, "Transfer-Encoding accepted")
    httpCheck(head.values("content-length").count <= 1, "several Content-Length accepted")
    httpCheck(head.contentLength >= 0, "content length \(head.contentLength)")
    _ = head.path
    _ = head.query
    _ = head.queryParameter("token")

    switch UpgradeHandshake.validate(head) {
    case .success(let u):
        httpCheck(head.method == "GET" && head.versionMinor == 1, "accepted \(head.method) 1.\(head.versionMinor)")
        httpCheck(Base64.decode(u.key)?.count == 16, "key \(u.key)")
        let accept = UpgradeHandshake.acceptValue(forKey: u.key)
        httpCheck(accept.utf8.count == 28 && Base64.decode(accept)?.count == 20, "accept \(accept)")
        let headers = UpgradeHandshake.responseHeaders(for: u, subprotocol: u.protocols.first)
        httpCheck(headers.contains { $0.0 == "Sec-WebSocket-Accept" && $0.1 == accept }, "101 response")
    case .failure(let r):
        httpCheck([400, 405, 426].contains(r.status.rawValue), "upgrade status \(r.status.rawValue)")
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func httpFuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data, size > 0 else { return 0 }
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    let limits = fuzzHTTPLimits[Int(input[0] & 3)]

    let (chunks, stream) = fuzzChunks(input, from: 1)

    let chunked = fuzzParse(chunks, stream: stream, limits: limits)
    let whole = fuzzParse([stream[...]], stream: stream, limits: limits)
    switch (chunked, whole) {
    case (.rejected(let a), .rejected(let b)):
        httpCheck(a == b || a == 431 || b == 431, "chunked rejected \(a), whole rejected \(b)")
    default:
        httpCheck(chunked == whole, "chunked \(chunked) != whole \(whole)")
    }
    return 0
}

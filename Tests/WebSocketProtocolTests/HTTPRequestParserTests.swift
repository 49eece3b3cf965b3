import Testing
@testable import WebSocketProtocol

/// What feeding a request head should give.
enum HeadOutcome: Equatable, Sendable, CustomStringConvertible {
    case complete
    case needMore
    case rejected(Int)

    var description: String {
        switch self {
        case .complete: "complete"
        case .needMore: "needMore"
        case .rejected(let s): "rejected \(s)"
        }
    }
}

/// One run of the parser over some chunks: the outcome, the head, and how many input bytes the
/// head took in total (the sum of `consumed` offsets into the chunk that completed it).
struct ParserRun: Equatable {
    var outcome: HeadOutcome
    var head: HTTPRequestHead?
    var rejection: HTTPRequestError?
    var headBytes: Int?
}

func runParser(_ chunks: [ArraySlice<UInt8>], maxHeadBytes: Int = 16 * 1024, maxHeaders: Int = 100) -> ParserRun {
    var parser = HTTPRequestParser(maxHeadBytes: maxHeadBytes, maxHeaders: maxHeaders)
    var fedBefore = 0
    for chunk in chunks {
        let r = chunk.withUnsafeBytes { parser.feed($0) }
        switch r {
        case .needMore:
            fedBefore += chunk.count
        case .complete(let head, let consumed):
            guard consumed >= 0 && consumed <= chunk.count else {
                return ParserRun(outcome: .complete, head: head, headBytes: -1_000_000 - consumed)
            }
            return ParserRun(outcome: .complete, head: head, headBytes: fedBefore + consumed)
        case .rejected(let rejection):
            return ParserRun(outcome: .rejected(rejection.status.rawValue), rejection: rejection)
        }
    }
    return ParserRun(outcome: .needMore)
}

func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

@Suite("HTTP request parser")
struct HTTPRequestParserTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var input: [UInt8]
        var expected: HeadOutcome
        var testDescription: String { name }
        init(_ name: String, _ input: [UInt8], _ expected: HeadOutcome) {
            self.name = name
            self.input = input
            self.expected = expected
        }
        init(_ name: String, _ input: String, _ expected: HeadOutcome) {
            self.init(name, bytes(input), expected)
        }
    }

    static let manyHeaders100 = "GET / HTTP/1.1\r\nHost: a\r\n" + (1...99).map { "X-\($0): v\r\n" }.joined() + "\r\n"
    static let manyHeaders101 = "GET / HTTP/1.1\r\nHost: a\r\n" + (1...100).map { "X-\($0): v\r\n" }.joined() + "\r\n"
    static let twentyKB = "GET / HTTP/1.1\r\nHost: a\r\n" + (1...20).map { "X-Big-\($0): \(String(repeating: "v", count: 1000))\r\n" }.joined() + "\r\n"

    static let cases: [Case] = [
        Case("valid GET with Host", "GET /chat?room=1 HTTP/1.1\r\nHost: example.com\r\n\r\n", .complete),
        Case("lower-case header names, odd spacing", "GET / HTTP/1.1\r\nhOsT:example.com  \r\nX-Empty:\r\n\r\n", .complete),
        Case("tab and obs-text in a value", bytes("GET / HTTP/1.1\r\nHost: a\r\nX: a\tb ") + [0xC3, 0xA9] + bytes("\r\n\r\n"), .complete),
        Case("HTTP/1.0 without Host", "GET / HTTP/1.0\r\n\r\n", .complete),
        Case("Content-Length 0", "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", .complete),
        Case("100 header fields", manyHeaders100, .complete),
        Case("missing Host", "GET / HTTP/1.1\r\n\r\n", .rejected(400)),
        Case("missing Host, other headers", "GET / HTTP/1.1\r\nUser-Agent: x\r\n\r\n", .rejected(400)),
        Case("duplicate Host", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", .rejected(400)),
        Case("duplicate Host, same value, other case", "GET / HTTP/1.1\r\nHost: a\r\nHOST: a\r\n\r\n", .rejected(400)),
        Case("duplicate Content-Length", "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", .rejected(400)),
        Case("Content-Length not digits", "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5a\r\n\r\n", .rejected(400)),
        Case("Content-Length negative", "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", .rejected(400)),
        Case("Content-Length list", "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n", .rejected(400)),
        Case("Content-Length 19 digits", "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000000000000000\r\n\r\n", .rejected(400)),
        Case("Transfer-Encoding", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", .rejected(400)),
        Case("Transfer-Encoding with Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", .rejected(400)),
        Case("obs-fold (space)", "GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n 2\r\n\r\n", .rejected(400)),
        Case("obs-fold (tab)", "GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n\t2\r\n\r\n", .rejected(400)),
        Case("whitespace before first header", "GET / HTTP/1.1\r\n Host: a\r\n\r\n", .rejected(400)),
        Case("space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", .rejected(400)),
        Case("tab before colon", "GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", .rejected(400)),
        Case("empty header name", "GET / HTTP/1.1\r\nHost: a\r\n: x\r\n\r\n", .rejected(400)),
        Case("header without colon", "GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", .rejected(400)),
        Case("NUL in header name", bytes("GET / HTTP/1.1\r\nHost: a\r\nX") + [0x00] + bytes("Y: 1\r\n\r\n"), .rejected(400)),
        Case("NUL in header value", bytes("GET / HTTP/1.1\r\nHost: a\r\nX: 1") + [0x00] + bytes("2\r\n\r\n"), .rejected(400)),
        Case("DEL in header value", bytes("GET / HTTP/1.1\r\nHost: a\r\nX: 1") + [0x7F] + bytes("\r\n\r\n"), .rejected(400)),
        Case("control byte in header value", bytes("GET / HTTP/1.1\r\nHost: a\r\nX: ") + [0x1B] + bytes("\r\n\r\n"), .rejected(400)),
        Case("bare LF everywhere", "GET / HTTP/1.1\nHost: a\n\n", .rejected(400)),
        Case("bare LF ending the head", "GET / HTTP/1.1\r\nHost: a\r\n\n", .rejected(400)),
        Case("bare LF inside a value", "GET / HTTP/1.1\r\nHost: a\r\nX: 1\n2\r\n\r\n", .rejected(400)),
        Case("bare LF first byte", "\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", .rejected(400)),
        Case("bare CR", "GET / HTTP/1.1\rHost: a\r\n\r\n", .rejected(400)),
        Case("bare CR inside a value", "GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", .rejected(400)),
        Case("CR CR LF", "GET / HTTP/1.1\r\nHost: a\r\r\n\r\n", .rejected(400)),
        Case("HTTP/2.0", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", .rejected(505)),
        Case("HTTP/1.2", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", .rejected(505)),
        Case("HTTP/0.9 style version", "GET / HTTP/0.9\r\nHost: a\r\n\r\n", .rejected(505)),
        Case("HTTP/9.9", "GET / HTTP/9.9\r\nHost: a\r\n\r\n", .rejected(505)),
        Case("garbage version", "GET / HTTX/1.1\r\nHost: a\r\n\r\n", .rejected(400)),
        Case("lower-case version", "GET / http/1.1\r\nHost: a\r\n\r\n", .rejected(400)),
        Case("two-digit minor", "GET / HTTP/1.10\r\nHost: a\r\n\r\n", .rejected(400)),
        Case("version then space", "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", .rejected(400)),
        Case("no version", "GET /\r\nHost: a\r\n\r\n", .rejected(400)),
        Case("absolute-form target", "GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n", .rejected(400)),
        Case("authority-form target", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com\r\n\r\n", .rejected(400)),
        Case("asterisk-form target", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", .rejected(400)),
        Case("two spaces after method", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", .rejected(400)),
        Case("empty method", " / HTTP/1.1\r\nHost: a\r\n\r\n", .rejected(400)),
        Case("non-token method", "G(T / HTTP/1.1\r\nHost: a\r\n\r\n", .rejected(400)),
        Case("control byte in target", bytes("GET /a") + [0x01] + bytes("b HTTP/1.1\r\nHost: a\r\n\r\n"), .rejected(400)),
        Case("non-ASCII in target", bytes("GET /") + [0xC3, 0xA9] + bytes(" HTTP/1.1\r\nHost: a\r\n\r\n"), .rejected(400)),
        // Empty lines before a request line are ignored (RFC 9112 §2.2): still waiting.
        Case("empty lines only", "\r\n\r\n", .needMore),
        Case("20 KB of headers", twentyKB, .rejected(431)),
        Case("101 header fields", manyHeaders101, .rejected(431)),
        Case("head not finished", "GET / HTTP/1.1\r\nHost: a\r\n", .needMore),
        Case("head ending in CR", "GET / HTTP/1.1\r\nHost: a\r\n\r", .needMore),
        Case("nothing", "", .needMore),
    ]

    @Test(arguments: cases)
    func wholeAndSplitAtEveryByte(_ c: Case) {
        let whole = runParser([c.input[...]])
        #expect(whole.outcome == c.expected, "whole: \(whole.rejection?.reason ?? "")")
        if c.expected == .complete { #expect(whole.headBytes == c.input.count) }
        // Same verdict however the head is split.
        let points = c.input.count <= 4096 ? Array(0...c.input.count) : Array(stride(from: 0, through: c.input.count, by: 97))
        for cut in points {
            let split = runParser([c.input[..<cut], c.input[cut...]])
            if split.outcome != whole.outcome || split.head != whole.head || split.headBytes != whole.headBytes {
                Issue.record("split at \(cut): \(split.outcome) \(split.rejection?.reason ?? "") vs whole \(whole.outcome)")
                return
            }
        }
        let byByte = runParser(c.input.indices.map { c.input[$0...$0] })
        #expect(byByte.outcome == whole.outcome && byByte.head == whole.head && byByte.headBytes == whole.headBytes, "byte by byte")
    }

    @Test func parsedFields() throws {
        let r = runParser([bytes("GET /chat?room=1&name=a%20b+c HTTP/1.1\r\nHost:  example.com \r\nX-A: 1\r\nx-a: 2\r\nConnection: keep-alive, Upgrade\r\n\r\n")[...]])
        let head = try #require(r.head)
        #expect(head.method == "GET")
        #expect(head.target == "/chat?room=1&name=a%20b+c")
        #expect(head.path == "/chat")
        #expect(head.query == "room=1&name=a%20b+c")
        #expect(head.queryParameter("room") == "1")
        #expect(head.queryParameter("name") == "a b c")
        #expect(head.queryParameter("missing") == nil)
        #expect(head.versionMinor == 1)
        #expect(head.value("host") == "example.com")
        #expect(head.values("x-a") == ["1", "2"])
        #expect(head.tokens("connection") == ["keep-alive", "upgrade"])
        #expect(head.headers.map(\.name) == ["host", "x-a", "x-a", "connection"])
    }

    @Test func bytesAfterTheHeadAreReportedThroughConsumed() {
        let head = bytes("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        let frame: [UInt8] = [0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58]
        let input = head + frame
        for cut in 0...input.count {
            let r = runParser([input[..<cut], input[cut...]])
            #expect(r.outcome == .complete && r.headBytes == head.count, "split at \(cut)")
        }
        // Even a large tail beyond the head limit leaves the head intact.
        let big = head + [UInt8](repeating: 0x82, count: 40_000)
        #expect(runParser([big[...]]).headBytes == head.count)
        // With a tail that contains bare LFs and CRs: they are not the parser's business.
        let tail = head + bytes("\n\r\rx\n")
        #expect(runParser([tail[...]]).headBytes == head.count)
    }

    @Test func emptyLinesBeforeTheRequestLineAreIgnored() {
        // RFC 9112 §2.2; consumed covers the skipped CRLFs too.
        let head = bytes("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        let input = bytes("\r\n\r\n") + head
        let whole = runParser([input[...]])
        #expect(whole.outcome == .complete && whole.headBytes == input.count)
        let split = runParser([input[..<2], input[2...]])
        #expect(split.outcome == .complete && split.headBytes == input.count)
        // A bare LF is still refused.
        #expect(runParser([(bytes("\n") + head)[...]]).outcome == .rejected(400))
    }

    @Test func limitsAtTheirBoundaries() {
        // A head of exactly maxHeadBytes is accepted, one byte more is 431, however fed.
        let limit = 256
        func head(ofLength n: Int) -> [UInt8] {
            let start = bytes("GET / HTTP/1.1\r\nHost: a\r\nX: ")
            return start + [UInt8](repeating: 0x76, count: n - start.count - 4) + bytes("\r\n\r\n")
        }
        for (n, expected) in [(limit, HeadOutcome.complete), (limit + 1, .rejected(431)), (limit + 3, .rejected(431)), (limit + 10, .rejected(431))] {
            let h = head(ofLength: n)
            #expect(h.count == n)
            #expect(runParser([h[...]], maxHeadBytes: limit).outcome == expected, "\(n) whole")
            #expect(runParser(h.indices.map { h[$0...$0] }, maxHeadBytes: limit).outcome == expected, "\(n) byte by byte")
            for cut in 0...n {
                #expect(runParser([h[..<cut], h[cut...]], maxHeadBytes: limit).outcome == expected, "\(n) split \(cut)")
            }
        }
        let three = bytes("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n")
        #expect(runParser([three[...]], maxHeaders: 3).outcome == .complete)
        #expect(runParser([three[...]], maxHeaders: 2).outcome == .rejected(431))
    }

    @Test func endlessHeadIsRefusedWithoutUnboundedBuffering() {
        var parser = HTTPRequestParser(maxHeadBytes: 1024)
        let line = bytes("X-Filler: 0123456789abcdef\r\n")
        var result = HTTPRequestParser.Result.needMore
        var fed = 0
        _ = bytes("GET / HTTP/1.1\r\n").withUnsafeBytes { parser.feed($0) }
        while case .needMore = result, fed < 100_000 {
            result = line.withUnsafeBytes { parser.feed($0) }
            fed += line.count
            #expect(parser.bufferedCount <= 1024 + 4)
        }
        guard case .rejected(let r) = result else { Issue.record("not rejected after \(fed) bytes"); return }
        #expect(r.status == .headersTooLarge)
    }

    @Test func resetAllowsTheNextRequest() {
        var parser = HTTPRequestParser()
        for path in ["/one", "/two"] {
            let r = bytes("GET \(path) HTTP/1.1\r\nHost: a\r\n\r\n").withUnsafeBytes { parser.feed($0) }
            guard case .complete(let head, _) = r else { Issue.record("\(path): \(r)"); return }
            #expect(head.target == path)
            parser.reset()
            #expect(parser.bufferedCount == 0)
        }
    }
}

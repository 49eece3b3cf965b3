/// A parsed request line and header block. Header names are lower-cased.
public struct HTTPRequestHead: Sendable, Equatable {
    public var method: String
    /// The origin-form target as sent (path plus optional query).
    public var target: String
    public var versionMinor: Int
    public var headers: [Header]

    public struct Header: Sendable, Equatable {
        public var name: String
        public var value: String
        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    public init(method: String, target: String, versionMinor: Int, headers: [Header]) {
        self.method = method
        self.target = target
        self.versionMinor = versionMinor
        self.headers = headers
    }

    public var path: Substring {
        if let q = target.firstIndex(of: "?") { return target[..<q] }
        return target[...]
    }

    public var query: Substring? {
        guard let q = target.firstIndex(of: "?") else { return nil }
        return target[target.index(after: q)...]
    }

    /// All values of a header (name in lower case).
    public func values(_ name: String) -> [String] {
        headers.filter { $0.name == name }.map(\.value)
    }

    /// The single value of a header; nil when absent.
    public func value(_ name: String) -> String? {
        headers.first { $0.name == name }?.value
    }

    /// Comma-separated tokens across all occurrences, lower-cased and trimmed (for
    /// case-insensitive tokens such as `Connection`).
    public func tokens(_ name: String) -> [String] {
        caseSensitiveTokens(name).map { $0.lowercased() }
    }

    /// Comma-separated tokens, trimmed, case kept (subprotocol names are case-sensitive and a
    /// browser fails the handshake if we echo one in another case).
    public func caseSensitiveTokens(_ name: String) -> [String] {
        values(name).flatMap { $0.split(separator: ",") }.map { HTTPRequestHead.trim($0) }.filter { !$0.isEmpty }
    }

    /// A query parameter, percent-decoded; nil when absent or malformed.
    public func queryParameter(_ name: String) -> String? {
        guard let q = query else { return nil }
        for pair in q.split(separator: "&", omittingEmptySubsequences: true) {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let k = HTTPRequestHead.percentDecode(kv[0]), k == name else { continue }
            return kv.count > 1 ? HTTPRequestHead.percentDecode(kv[1]) : ""
        }
        return nil
    }

    static func trim(_ s: Substring) -> String {
        var s = s
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return String(s)
    }

    public static func percentDecode(_ s: Substring) -> String? {
        var out: [UInt8] = []
        out.reserveCapacity(s.utf8.count)
        var it = s.utf8.makeIterator()
        while let c = it.next() {
            if c == UInt8(ascii: "%") {
                guard let h = it.next(), let l = it.next(), let hv = hexValue(h), let lv = hexValue(l) else { return nil }
                out.append(hv << 4 | lv)
            } else if c == UInt8(ascii: "+") {
                out.append(UInt8(ascii: " "))
            } else {
                out.append(c)
            }
        }
        return String(validating: out, as: UTF8.self)
    }

    /// The value of one hex digit (either case); nil for any other byte.
    public static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

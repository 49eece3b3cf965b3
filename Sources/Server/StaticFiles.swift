import Reactor
import WebSocketProtocol

#if canImport(Glibc)
import Glibc
#endif

/// Files served from memory: a folder read once at start (on the starting thread, before any
/// loop runs) into a bounded table, so a request never touches the disk. `GET`/`HEAD`, a
/// content type by extension, `index.html` for a folder, a strong ETag with `If-None-Match` →
/// 304. Only paths that are keys of the table can be served: nothing outside the folder, no
/// dot segments, no symbolic links, no hidden files.
public struct StaticFiles: Sendable {
    struct File: Sendable {
        /// Sealed: every answer queues this one chunk by reference, so a client pipelining
        /// GETs it never reads costs the queue a reference per answer, not a copy of the file.
        let body: ByteChunk
        let contentType: String
        let etag: String
    }

    private var files: [String: File] = [:]

    /// Bounds on what `load` reads (one dashboard, not a file server).
    public struct Limits: Sendable {
        public var maxFiles = 1_000
        /// Under the loop's 64 MiB outbound hard limit, so any one file can be answered.
        public var maxTotalBytes = 32 << 20
        public var maxDepth = 16
        public init() {}
    }

    public var count: Int { files.count }
    public var totalBytes: Int { files.values.reduce(0) { $0 + $1.body.count } }

    /// Reads every regular file under `directory`. Blocking disk I/O: call at start only.
    public static func load(directory: String, limits: Limits = Limits()) throws(StaticFilesError) -> StaticFiles {
        var table = StaticFiles()
        var total = 0
        try table.read(directory: directory, prefix: "", depth: 0, limits: limits, total: &total)
        return table
    }

    /// Files from memory (tests, or bytes compiled into the binary): path → bytes.
    public init(files: [String: [UInt8]] = [:]) {
        for (path, body) in files { add(path.hasPrefix("/") ? path : "/" + path, body) }
    }

    private mutating func add(_ path: String, _ body: [UInt8]) {
        files[path] = File(body: ByteChunk(sealing: body), contentType: StaticFiles.contentType(forPath: path), etag: StaticFiles.etag(body))
    }

    private mutating func read(directory: String, prefix: String, depth: Int, limits: Limits, total: inout Int) throws(StaticFilesError) {
        guard depth <= limits.maxDepth else { throw .tooDeep(directory) }
        guard let dir = opendir(directory) else { throw .unreadable(directory, errno: errno) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: &entry.pointee.d_name) {
                String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self))
            }
            if !name.hasPrefix(".") { names.append(name) }
        }
        for name in names.sorted() {
            let path = directory + "/" + name
            var st = stat()
            guard lstat(path, &st) == 0 else { throw .unreadable(path, errno: errno) }
            switch st.st_mode & S_IFMT {
            case S_IFDIR:
                try read(directory: path, prefix: prefix + "/" + name, depth: depth + 1, limits: limits, total: &total)
            case S_IFREG:
                guard files.count < limits.maxFiles else { throw .tooManyFiles(limits.maxFiles) }
                let size = Int(st.st_size)
                guard total + size <= limits.maxTotalBytes else { throw .tooLarge(limits.maxTotalBytes) }
                let body = try StaticFiles.readFile(path, size: size)
                total += body.count
                add(prefix + "/" + name, body)
            default:
                continue   // symbolic links, sockets, devices: never served
            }
        }
    }

    private static func readFile(_ path: String, size: Int) throws(StaticFilesError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .unreadable(path, errno: errno) }
        defer { close(fd) }
        var body = [UInt8](repeating: 0, count: size)
        var off = 0
        while off < size {
            let n = body.withUnsafeMutableBytes { buf -> Int in
                guard let base = buf.baseAddress else { return 0 }
                return Glibc.read(fd, base + off, size - off)
            }
            if n > 0 { off += n } else if n < 0 && errno == EINTR { continue } else if n == 0 { break } else {
                throw .unreadable(path, errno: errno)
            }
        }
        return Array(body[0..<off])   // a file that shrank meanwhile
    }

    // MARK: Answering

    /// The answer to a GET or HEAD no route claimed.
    func response(to head: HTTPRequestHead) -> HTTPResponse {
        guard let key = StaticFiles.key(forPath: head.path) else {
            return HTTPRejection(.notFound, "no such endpoint").response
        }
        guard let file = files[key] ?? files[key + "/index.html"] else {
            return HTTPRejection(.notFound, "no such endpoint").response
        }
        // no-cache: the browser keeps the file but asks each time, so a new deployment shows at once.
        let validators = [("ETag", file.etag), ("Cache-Control", "no-cache")]
        if StaticFiles.matches(head.values("if-none-match"), file.etag) {
            return HTTPResponse(status: .notModified, headers: validators)
        }
        return HTTPResponse(status: .ok, headers: [("Content-Type", file.contentType), ("X-Content-Type-Options", "nosniff")] + validators,
                            sharedBody: file.body)
    }

    /// The table key for a request path: percent-decoded, `/` → `/index.html`; nil when it has
    /// dot segments, empty segments, a backslash, NUL or bad percent-encoding.
    static func key(forPath path: Substring) -> String? {
        guard path.hasPrefix("/"), let decoded = percentDecodePath(path) else { return nil }
        let segments = decoded.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        var parts: [Substring] = []
        for (i, s) in segments.enumerated() {
            if s.isEmpty && i == segments.count - 1 { break }   // trailing slash: the folder
            guard !s.isEmpty, s != ".", s != "..", !s.contains("\\"), !s.contains("\0") else { return nil }
            parts.append(s)
        }
        let key = "/" + parts.joined(separator: "/")
        return decoded.hasSuffix("/") ? (key == "/" ? "/index.html" : key + "/index.html") : key
    }

    /// `%XX` only (`+` is a plus in a path); nil for bad escapes or text that is not UTF-8.
    static func percentDecodePath(_ s: Substring) -> String? {
        var out: [UInt8] = []
        var it = s.utf8.makeIterator()
        while let c = it.next() {
            if c == UInt8(ascii: "%") {
                guard let h = it.next(), let l = it.next(), let hv = HTTPRequestHead.hexValue(h), let lv = HTTPRequestHead.hexValue(l)
                else { return nil }
                out.append(hv << 4 | lv)
            } else {
                out.append(c)
            }
        }
        return String(validating: out, as: UTF8.self)
    }

    static func matches(_ ifNoneMatch: [String], _ etag: String) -> Bool {
        for value in ifNoneMatch {
            for candidate in value.split(separator: ",") {
                var tag = candidate.drop { $0 == " " || $0 == "\t" }
                while let last = tag.last, last == " " || last == "\t" { tag.removeLast() }
                if tag == "*" { return true }
                if tag.hasPrefix("W/") { tag = tag.dropFirst(2) }   // weak comparison (RFC 9110 §13.1.2)
                if tag == etag { return true }
            }
        }
        return false
    }

    /// A strong validator from the bytes (64-bit FNV-1a): equal bytes, equal tag, across restarts.
    static func etag(_ body: [UInt8]) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in body {
            h ^= UInt64(b)
            h = h &* 0x0000_0100_0000_01b3
        }
        let hex = String(h, radix: 16)
        return "\"" + String(repeating: "0", count: 16 - hex.count) + hex + "-\(body.count)\""
    }

    static func contentType(forPath path: String) -> String {
        let name = path.split(separator: "/").last ?? ""
        let ext = name.contains(".") ? String(name.split(separator: ".").last ?? "").lowercased() : ""
        switch ext {
        case "html", "htm": return "text/html; charset=utf-8"
        case "css": return "text/css; charset=utf-8"
        case "js", "mjs": return "text/javascript; charset=utf-8"
        case "json", "map": return "application/json"
        case "txt": return "text/plain; charset=utf-8"
        case "svg": return "image/svg+xml"
        case "png": return "image/png"
        case "jpg", "jpeg": return "image/jpeg"
        case "gif": return "image/gif"
        case "webp": return "image/webp"
        case "ico": return "image/x-icon"
        case "woff": return "font/woff"
        case "woff2": return "font/woff2"
        case "wasm": return "application/wasm"
        default: return "application/octet-stream"
        }
    }
}

/// Why the static folder could not be loaded (the server does not start).
public enum StaticFilesError: Error, CustomStringConvertible, Sendable {
    case unreadable(String, errno: Int32)
    case tooManyFiles(Int)
    case tooLarge(Int)
    case tooDeep(String)

    public var description: String {
        switch self {
        case .unreadable(let path, let e): "cannot read \(path): \(String(cString: strerror(e)))"
        case .tooManyFiles(let n): "more than \(n) files"
        case .tooLarge(let n): "more than \(n) bytes in all"
        case .tooDeep(let path): "folders nested too deep at \(path)"
        }
    }
}

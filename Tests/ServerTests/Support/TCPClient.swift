// A small blocking TCP client for integration tests: real loopback sockets, every wait bounded.
// Reads go through poll(2) with a timeout, so a test never hangs on a silent server.

#if canImport(Glibc)
import Glibc
#endif
import COpenSSL

struct ClientError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Received bytes not yet consumed by the test. Consuming from the front is O(1) (an offset);
/// the storage is compacted once the consumed prefix dominates.
struct ByteQueue {
    private var storage: [UInt8] = []
    private var start = 0

    var count: Int { storage.count - start }
    var isEmpty: Bool { count == 0 }

    subscript(i: Int) -> UInt8 { storage[start + i] }

    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        if start > 0 && start >= storage.count / 2 {
            storage.removeFirst(start)
            start = 0
        }
        storage.append(contentsOf: bytes)
    }

    func peek(_ n: Int) -> [UInt8] { Array(storage[start..<(start + min(n, count))]) }

    mutating func take(_ n: Int) -> [UInt8] {
        precondition(n <= count)
        let out = Array(storage[start..<(start + n)])
        start += n
        if start == storage.count {
            storage.removeAll(keepingCapacity: true)
            start = 0
        }
        return out
    }

    mutating func takeAll() -> [UInt8] { take(count) }

    /// Offset of the first occurrence of `pattern`, if any.
    func firstIndex(of pattern: [UInt8]) -> Int? {
        guard !pattern.isEmpty, count >= pattern.count else { return nil }
        var i = start
        let last = storage.count - pattern.count
        while i <= last {
            if storage[i] == pattern[0] {
                var j = 1
                while j < pattern.count && storage[i + j] == pattern[j] { j += 1 }
                if j == pattern.count { return i - start }
            }
            i += 1
        }
        return nil
    }
}

/// What one bounded read produced.
enum FillResult: Equatable {
    case data(Int)
    case eof
    case timeout
    case failed(Int32)
}

/// How a connection ended, as the client saw it.
enum CloseObservation: Equatable, CustomStringConvertible {
    /// A clean FIN; `leftover` is whatever arrived (unconsumed) before it.
    case eof(leftover: [UInt8])
    /// The connection was reset (or another read error).
    case failed(Int32)
    /// Still open when the wait ended.
    case stillOpen(received: Int)

    var description: String {
        switch self {
        case .eof(let l): "EOF after \(l.count) unread bytes"
        case .failed(let e): "read error errno \(e)"
        case .stillOpen(let n): "still open (\(n) bytes unread)"
        }
    }
}

/// Milliseconds elapsed since `start` on the monotonic clock.
func millis(since start: ContinuousClock.Instant) -> Int {
    let d = ContinuousClock.now - start
    let (s, atto) = d.components
    return Int(s) * 1000 + Int(atto / 1_000_000_000_000_000)
}

/// The most a TCP socket's send buffer can grow to here (net.ipv4.tcp_wmem's third field;
/// 4 MiB when it cannot be read): tests that must overflow the kernel's buffers size by it.
func tcpSendBufferMax() -> Int {
    let fallback = 4 << 20
    let fd = open("/proc/sys/net/ipv4/tcp_wmem", O_RDONLY)
    guard fd >= 0 else { return fallback }
    defer { _ = Glibc.close(fd) }
    var buf = [UInt8](repeating: 0, count: 128)
    let n = read(fd, &buf, buf.count)
    guard n > 0 else { return fallback }
    let fields = String(decoding: buf[0..<n], as: UTF8.self).split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" })
    guard fields.count >= 3, let max = Int(fields[2]), max > 0 else { return fallback }
    return max
}

func sleepMillis(_ ms: Int) {
    if ms > 0 { usleep(UInt32(ms) * 1000) }
}

/// Polls `condition` every `every` ms until it holds or `timeoutMs` passes.
@discardableResult
func eventually(within timeoutMs: Int, every: Int = 10, _ condition: () -> Bool) -> Bool {
    let start = ContinuousClock.now
    while true {
        if condition() { return true }
        if millis(since: start) >= timeoutMs { return false }
        sleepMillis(every)
    }
}

/// Byte-wise equality through memcmp (debug-build array comparison is slow for megabytes).
func sameBytes(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    if a.isEmpty { return true }
    return a.withUnsafeBytes { pa in b.withUnsafeBytes { pb in memcmp(pa.baseAddress!, pb.baseAddress!, a.count) == 0 } }
}

final class TCPClient {
    private(set) var fd: Int32
    /// Set by `startTLS`: every send and read then goes through OpenSSL.
    var tls: OpaquePointer?
    var inbox = ByteQueue()
    private var scratch = [UInt8](repeating: 0, count: 256 * 1024)

    /// Connects to 127.0.0.1:`port`. Buffer sizes, when given, are set before connecting so the
    /// TCP window is small from the start (backpressure tests).
    init(port: Int, receiveBuffer: Int32? = nil, sendBuffer: Int32? = nil) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw ClientError("socket: errno \(errno)") }
        if let receiveBuffer { try setOption(SOL_SOCKET, SO_RCVBUF, receiveBuffer) }
        if let sendBuffer { try setOption(SOL_SOCKET, SO_SNDBUF, sendBuffer) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard rc == 0 else {
            let e = errno
            Glibc.close(fd)
            fd = -1
            throw ClientError("connect to port \(port): errno \(e)")
        }
        try setOption(Int32(IPPROTO_TCP), TCP_NODELAY, 1)
    }

    deinit { close() }

    private func setOption(_ level: Int32, _ name: Int32, _ value: Int32) throws {
        var v = value
        guard setsockopt(fd, level, name, &v, socklen_t(MemoryLayout<Int32>.size)) == 0 else {
            throw ClientError("setsockopt(\(level), \(name)): errno \(errno)")
        }
    }

    // MARK: Sending

    /// Sends everything (blocking). Never raises SIGPIPE.
    func send(_ bytes: [UInt8]) throws {
        guard !bytes.isEmpty else { return }
        try bytes.withUnsafeBytes { buf in
            var off = 0
            while off < buf.count {
                if let tls {
                    let w = SSL_write(tls, buf.baseAddress! + off, Int32(buf.count - off))
                    guard w > 0 else { throw ClientError("SSL_write: error \(SSL_get_error(tls, w)) after \(off) of \(buf.count) bytes") }
                    off += Int(w)
                    continue
                }
                let n = Glibc.send(fd, buf.baseAddress! + off, buf.count - off, Int32(MSG_NOSIGNAL))
                if n < 0 {
                    if errno == EINTR { continue }
                    throw ClientError("send: errno \(errno) after \(off) of \(buf.count) bytes")
                }
                off += n
            }
        }
    }

    func send(_ text: String) throws { try send(Array(text.utf8)) }

    /// One non-blocking send attempt: bytes taken, 0 when the socket would block.
    func sendNow(_ bytes: UnsafeRawBufferPointer) throws -> Int {
        guard bytes.count > 0 else { return 0 }
        while true {
            let n = Glibc.send(fd, bytes.baseAddress!, bytes.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT))
            if n >= 0 { return n }
            switch errno {
            case EINTR: continue
            case EAGAIN: return 0
            default: throw ClientError("send: errno \(errno)")
            }
        }
    }

    // MARK: Receiving

    /// Waits up to `timeoutMs` for readability, then reads once into `inbox`.
    @discardableResult
    func fill(timeoutMs: Int) -> FillResult {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let start = ContinuousClock.now
        while tls.map({ SSL_pending($0) == 0 }) ?? true {
            let left = max(0, timeoutMs - millis(since: start))
            let r = poll(&p, 1, Int32(left))
            if r < 0 && errno == EINTR { continue }
            if r < 0 { return .failed(errno) }
            if r == 0 { return .timeout }
            break
        }
        if let tls {
            let n = scratch.withUnsafeMutableBytes { SSL_read(tls, $0.baseAddress!, Int32($0.count)) }
            if n > 0 {
                scratch.withUnsafeBytes { inbox.append(UnsafeRawBufferPointer(rebasing: $0[0..<Int(n)])) }
                return .data(Int(n))
            }
            let e = SSL_get_error(tls, n)
            ERR_clear_error()
            if e == SSL_ERROR_ZERO_RETURN || e == SSL_ERROR_SYSCALL { return .eof }
            return e == SSL_ERROR_WANT_READ ? .timeout : .failed(-Int32(e))
        }
        let n = scratch.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
        if n > 0 {
            scratch.withUnsafeBytes { inbox.append(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            return .data(n)
        }
        if n == 0 { return .eof }
        return errno == EAGAIN ? .timeout : .failed(errno)
    }

    /// Reads until the peer closes or `timeoutMs` passes; unconsumed bytes count as leftover.
    func awaitClose(timeoutMs: Int) -> CloseObservation {
        let start = ContinuousClock.now
        while true {
            let left = timeoutMs - millis(since: start)
            if left <= 0 { return .stillOpen(received: inbox.count) }
            switch fill(timeoutMs: left) {
            case .data: continue
            case .eof: return .eof(leftover: inbox.takeAll())
            case .failed(let e): return .failed(e)
            case .timeout: return .stillOpen(received: inbox.count)
            }
        }
    }

    /// Exactly `n` bytes, waiting at most `timeoutMs` overall.
    func readExactly(_ n: Int, timeoutMs: Int) throws -> [UInt8] {
        let start = ContinuousClock.now
        while inbox.count < n {
            let left = timeoutMs - millis(since: start)
            guard left > 0 else { throw ClientError("timed out with \(inbox.count) of \(n) bytes") }
            switch fill(timeoutMs: left) {
            case .data, .timeout: continue
            case .eof: throw ClientError("EOF with \(inbox.count) of \(n) bytes")
            case .failed(let e): throw ClientError("read error errno \(e) with \(inbox.count) of \(n) bytes")
            }
        }
        return inbox.take(n)
    }

    // MARK: Closing

    func shutdownWrite() {
        _ = shutdown(fd, Int32(SHUT_WR))
    }

    /// Vanishes abruptly: SO_LINGER {1, 0} makes close() send an RST.
    func reset() {
        guard fd >= 0 else { return }
        var l = linger(l_onoff: 1, l_linger: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, socklen_t(MemoryLayout<linger>.size))
        Glibc.close(fd)
        fd = -1
    }

    /// Client TLS handshake over this (blocking) socket; throws when the server refuses.
    func startTLS(_ context: OpaquePointer, timeoutMs: Int = 2000) throws {
        var tv = timeval(tv_sec: timeoutMs / 1000, tv_usec: Int((timeoutMs % 1000) * 1000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        guard let ssl = SSL_new(context) else { throw ClientError("SSL_new failed") }
        SSL_set_fd(ssl, fd)
        let rc = SSL_connect(ssl)
        guard rc == 1 else {
            let e = SSL_get_error(ssl, rc)
            ERR_clear_error()
            SSL_free(ssl)
            throw ClientError("TLS handshake failed: SSL error \(e)")
        }
        tls = ssl
    }

    func close() {
        if let tls {
            SSL_free(tls)
            self.tls = nil
        }
        guard fd >= 0 else { return }
        Glibc.close(fd)
        fd = -1
    }
}

import CSystem

#if canImport(Glibc)
import Glibc
#endif

/// An error from the environment (the peer, the kernel), never from our own misuse.
public struct SystemError: Error, CustomStringConvertible, Sendable {
    public let errno: Int32
    public let call: StaticString

    public init(errno: Int32, call: StaticString) {
        self.errno = errno
        self.call = call
    }

    public var description: String {
        "\(call): \(String(cString: strerror(errno))) (errno \(errno))"
    }
}

/// "Would block" is an ordinary outcome on a non-blocking socket, not an error.
public enum IOResult<T> {
    case processed(T)
    case wouldBlock
}

/// The one funnel every syscall goes through (as in SwiftNIO): retries EINTR, returns EAGAIN as
/// a value, traps on EBADF/EFAULT (those mean a gateway bug, not a bad peer), throws the rest.
@inline(__always)
func syscall<T: FixedWidthInteger>(_ call: StaticString, _ body: () -> T) throws(SystemError) -> IOResult<T> {
    while true {
        let r = body()
        if r != -1 { return .processed(r) }
        let e = cgw_errno()
        switch e {
        case EINTR: continue
        case EAGAIN: return .wouldBlock
        case EBADF, EFAULT: preconditionFailure("\(call): errno \(e) means a gateway bug")
        default: throw SystemError(errno: e, call: call)
        }
    }
}

enum Posix {
    static func recv(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> IOResult<Int> {
        try syscall("recv") { cgw_recv(fd, buffer.baseAddress, buffer.count) }
    }

    static func sendmsg(_ fd: Int32, _ iov: UnsafePointer<iovec>, _ count: Int) throws(SystemError) -> IOResult<Int> {
        try syscall("sendmsg") { cgw_sendmsg(fd, iov, Int32(count)) }
    }

    static func accept(_ fd: Int32) throws(SystemError) -> IOResult<Int32> {
        try syscall("accept4") { cgw_accept(fd) }
    }

    static func close(_ fd: Int32) {
        // close() errors (EINTR included) leave nothing to retry on Linux: the fd is gone.
        _ = cgw_close(fd)
    }

    static func shutdownWrite(_ fd: Int32) {
        _ = cgw_shutdown_write(fd)
    }
}

/// Monotonic milliseconds (coarse clock: cheap enough to read once per loop pass).
public typealias Millis = UInt64

public enum Clock {
    @inline(__always) public static func monotonicMillis() -> Millis { cgw_monotonic_ms() }
    @inline(__always) public static func monotonicNanos() -> UInt64 { cgw_monotonic_ns() }
    @inline(__always) public static func wallMillis() -> Int64 { cgw_wall_ms() }
}

/// Process-wide set-up that event loops depend on.
public enum Process {
    /// Raises the soft RLIMIT_NOFILE to the hard limit; returns the limit now in force.
    @discardableResult
    public static func raiseFileDescriptorLimit() -> Int { cgw_raise_nofile_limit() }

    /// Ignores SIGPIPE (OpenSSL writes through its own BIO) and blocks SIGTERM/SIGINT in this
    /// thread and every thread it creates later, so `waitForTermination` can take them.
    public static func prepareSignals() { cgw_prepare_signals() }

    /// Blocks the calling (non-loop) thread until SIGTERM or SIGINT arrives.
    public static func waitForTermination() -> Int32 { cgw_wait_termination() }

    public static func raiseTermination() { cgw_raise_termination() }

    /// Resident set size of this process, KiB.
    public static func residentKiB() -> Int { cgw_rss_kib() }
}

import CSystem

#if canImport(Glibc)
import Glibc
#endif

/// What a registration wants to hear about. Errors and hang-ups are always reported.
public struct IOInterest: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let read = IOInterest(rawValue: 1)
    public static let write = IOInterest(rawValue: 2)

    /// The kernel's event bits for this interest.
    @inline(__always) var epollEvents: UInt32 {
        (contains(.read) ? CGW_EPOLLIN : 0) | (contains(.write) ? CGW_EPOLLOUT : 0)
    }
}

/// One epoll instance behind named operations (`ae_epoll.c`'s backend, SwiftNIO's `enum Epoll`).
/// Every result is checked: failures throw `SystemError`; the caller decides whether it can
/// throw or must log.
struct Epoll {
    let fd: Int32

    init() throws(SystemError) {
        let ep = cgw_epoll_create()
        guard ep >= 0 else { throw SystemError(errno: cgw_errno(), call: "epoll_create1") }
        fd = ep
    }

    func add(_ target: Int32, _ interest: IOInterest, token: UInt64) throws(SystemError) {
        try control(CGW_EPOLL_CTL_ADD, target, interest.epollEvents, token, "epoll_ctl(ADD)")
    }

    func modify(_ target: Int32, _ interest: IOInterest, token: UInt64) throws(SystemError) {
        try control(CGW_EPOLL_CTL_MOD, target, interest.epollEvents, token, "epoll_ctl(MOD)")
    }

    func remove(_ target: Int32) throws(SystemError) {
        try control(CGW_EPOLL_CTL_DEL, target, 0, 0, "epoll_ctl(DEL)")
    }

    @inline(__always)
    private func control(_ op: Int32, _ target: Int32, _ events: UInt32, _ token: UInt64,
                         _ call: StaticString) throws(SystemError) {
        // epoll_ctl never fails with EINTR; every error here is reported to the caller.
        guard cgw_epoll_ctl(fd, op, target, events, token) == 0 else {
            throw SystemError(errno: cgw_errno(), call: call)
        }
    }

    /// Waits up to `timeout` ms (0: poll). Returns how many events were written; an interrupted
    /// wait returns 0. Any other failure (EBADF, EFAULT, EINVAL) is a gateway bug and traps.
    @inline(__always)
    func wait(into events: UnsafeMutablePointer<cgw_event>, capacity: Int32, timeout: Int32) -> Int {
        let n = cgw_epoll_wait(fd, events, capacity, timeout)
        if n >= 0 { return Int(n) }
        let e = cgw_errno()
        if e == EINTR { return 0 }
        preconditionFailure("epoll_wait: errno \(e) means a gateway bug")
    }

    func close() { Posix.close(fd) }
}

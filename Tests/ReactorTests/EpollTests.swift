// The named epoll operations: each failure comes back as a SystemError with its errno.

#if canImport(Glibc)
import Glibc
#endif
import CSystem
@testable import Reactor
import Testing

@Suite struct EpollTests {
    private func errno(_ body: () throws -> Void) -> Int32 {
        do {
            try body()
            return 0
        } catch let e as SystemError {
            return e.errno
        } catch {
            return -1
        }
    }

    @Test func operationsReportTheKernelsErrors() throws {
        let ep = try Epoll()
        let p = try Pipe()
        defer { ep.close(); p.close() }
        #expect(errno { try ep.modify(p.read, .read, token: 1) } == ENOENT)
        #expect(errno { try ep.remove(p.read) } == ENOENT)
        #expect(errno { try ep.add(p.read, .read, token: 1) } == 0)
        #expect(errno { try ep.add(p.read, .read, token: 1) } == EEXIST)
        #expect(errno { try ep.modify(p.read, [.read, .write], token: 2) } == 0)
        #expect(errno { try ep.remove(p.read) } == 0)
        #expect(errno { try ep.add(-1, .read, token: 1) } == EBADF)
    }

    @Test func waitDeliversTheTokenAndTheInterestAsked() throws {
        let ep = try Epoll()
        let p = try Pipe()
        defer { ep.close(); p.close() }
        try ep.add(p.write, .write, token: 0xABCD)
        try ep.add(p.read, .read, token: 0x1234)
        let events = UnsafeMutablePointer<cgw_event>.allocate(capacity: 4)
        defer { events.deallocate() }
        #expect(ep.wait(into: events, capacity: 4, timeout: 0) == 1)
        #expect(events[0].data == 0xABCD && events[0].events & CGW_EPOLLOUT != 0)
        p.put()
        try ep.modify(p.write, [], token: 0xABCD)
        #expect(ep.wait(into: events, capacity: 4, timeout: 1_000) == 1)
        #expect(events[0].data == 0x1234 && events[0].events & CGW_EPOLLIN != 0)
    }
}

// Watching foreign fds (pipes here): readable, writable, interest changes, cancel within a
// pass, hang-up, and that a watch never closes its fd.

#if canImport(Glibc)
import Glibc
#endif
@testable import Reactor
import Testing

@Suite struct FDWatchTests {
    @Test func readableOnTheLoopThreadUntilCancelled() throws {
        let l = try RunningLoop()
        let p = try Pipe()
        defer { l.stop(); p.close() }
        let seen = Recorder<(FDEvents, Bool, Int)>()
        let keep = LoopLocal<FDWatch?>(nil)
        let ok = l.onLoop { () -> Bool in
            keep.value = try? l.loop.watch(fd: p.read, interest: .read) { ev in
                seen.append((ev, l.loop.inLoopThread, p.drain()))
            }
            return keep.value != nil
        }
        try #require(ok == true)
        p.put()
        #expect(waitUntil { seen.count == 1 })
        let first = seen.all.first
        #expect(first?.0 == .readable && first?.1 == true && first?.2 == 1)
        p.put()
        #expect(waitUntil { seen.count == 2 })
        _ = l.onLoop { keep.value?.cancel(); return keep.value?.isActive == false }
        // Still open: cancel never closes the fd, and the byte stays unread.
        p.put()
        #expect(fcntl(p.read, F_GETFD) != -1)
        let marker = Recorder<Bool>()
        _ = l.onLoop { l.loop.schedule(after: 30) { marker.append(true) }; return true }
        #expect(waitUntil { marker.count == 1 })
        #expect(seen.count == 2)
        #expect(p.drain() == 1)
    }

    @Test func writableOnlyWhileAskedFor() throws {
        let l = try RunningLoop()
        let p = try Pipe()
        defer { l.stop(); p.close() }
        let writable = Recorder<FDEvents>()
        let keep = LoopLocal<FDWatch?>(nil)
        let marker = Recorder<Int>()
        _ = l.onLoop { () -> Bool in
            keep.value = try? l.loop.watch(fd: p.write, interest: []) { ev in
                writable.append(ev)
                // Once is enough: stop asking, or level-triggered epoll repeats it every pass.
                try? keep.value?.setInterest([])
            }
            l.loop.schedule(after: 30) { marker.append(1) }
            return true
        }
        #expect(waitUntil { marker.count == 1 })
        #expect(writable.count == 0, "no interest, no events")
        _ = l.onLoop { () -> Bool in
            try? keep.value?.setInterest(.write)
            return keep.value?.interest == .write
        }
        #expect(waitUntil { writable.count == 1 })
        #expect(writable.all.first == .writable)
        _ = l.onLoop { l.loop.schedule(after: 30) { marker.append(2) }; return true }
        #expect(waitUntil { marker.count == 2 })
        #expect(writable.count == 1)
        _ = l.onLoop { keep.value?.cancel(); return true }
    }

    @Test func aWatchCancelledEarlierInThePassGetsNoFurtherEvents() throws {
        let l = try RunningLoop()
        let a = try Pipe(), b = try Pipe(), c = try Pipe()
        defer { l.stop(); a.close(); b.close(); c.close() }
        // Both readable before they are watched: their events arrive in the same wait.
        a.put()
        b.put()
        let calls = Recorder<String>()
        let watches = LoopLocal<[String: FDWatch]>([:])
        let ok = l.onLoop { () -> Bool in
            // Whichever runs first cancels the other and puts a new watch (on a pipe with
            // nothing to read) in the freed slot: the other's collected event is stale.
            func handler(_ me: String, _ p: Pipe, other: String) -> (FDEvents) -> Void {
                return { _ in
                    calls.append(me)
                    _ = p.drain()
                    guard let victim = watches.value.removeValue(forKey: other) else { return }
                    victim.cancel()
                    watches.value["c"] = try? l.loop.watch(fd: c.read, interest: .read) { _ in calls.append("c") }
                }
            }
            guard let wa = try? l.loop.watch(fd: a.read, interest: .read, onEvent: handler("a", a, other: "b")),
                  let wb = try? l.loop.watch(fd: b.read, interest: .read, onEvent: handler("b", b, other: "a")) else { return false }
            watches.value = ["a": wa, "b": wb]
            #expect(wa.handle.slot != wb.handle.slot)
            return true
        }
        try #require(ok == true)
        #expect(waitUntil { calls.count >= 1 })
        let marker = Recorder<Bool>()
        _ = l.onLoop { l.loop.schedule(after: 30) { marker.append(true) }; return true }
        #expect(waitUntil { marker.count == 1 })
        #expect(calls.count == 1, "calls: \(calls.all)")
        #expect(b.drain() + a.drain() == 1, "the cancelled one's byte is still unread")
        _ = l.onLoop { for w in watches.value.values { w.cancel() }; return true }
    }

    /// The first event a watch on one end of a pipe gets once the other end is closed (the
    /// callback cancels the watch, as an owner giving up on a dead fd would).
    private func firstEventAfterClosingTheOtherEnd(watchReadEnd: Bool, interest: IOInterest) throws -> FDEvents? {
        let l = try RunningLoop()
        let p = try Pipe()
        let (watched, other) = watchReadEnd ? (p.read, p.write) : (p.write, p.read)
        defer { l.stop(); _ = close(watched) }
        let seen = Recorder<FDEvents>()
        let keep = LoopLocal<FDWatch?>(nil)
        _ = l.onLoop { () -> Bool in
            keep.value = try? l.loop.watch(fd: watched, interest: interest) { ev in
                seen.append(ev)
                keep.value?.cancel()
            }
            return true
        }
        _ = close(other)
        _ = waitUntil { seen.count == 1 }
        return seen.all.first
    }

    @Test func hangupIsReportedWhenTheWriterCloses() throws {
        let ev = try firstEventAfterClosingTheOtherEnd(watchReadEnd: true, interest: .read)
        #expect(ev?.contains(.hangup) == true)
    }

    @Test func anErrorIsReportedWithoutInterest() throws {
        // No interest at all: a pipe's write end still reports EPOLLERR once its reader is gone.
        let ev = try firstEventAfterClosingTheOtherEnd(watchReadEnd: false, interest: [])
        #expect(ev?.contains(.error) == true)
        #expect(ev?.contains(.writable) == false)
    }

    @Test func watchingAnInvalidFDThrows() throws {
        let l = try RunningLoop()
        defer { l.stop() }
        let p = try Pipe()
        p.close()
        let errno = l.onLoop { () -> Int32 in
            do {
                _ = try l.loop.watch(fd: p.read, interest: .read) { _ in }
                return 0
            } catch let e as SystemError {
                return e.errno
            } catch {
                return -1
            }
        }
        #expect(errno == EBADF)
        #expect(l.onLoop { l.loop.watches.count } == 0)
    }
}

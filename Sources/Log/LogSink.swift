import Dispatch
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The queue between loggers and the writer thread. A caller never waits on I/O: lines go
/// into a bounded in-memory queue and one writer thread puts them on the descriptor. When the
/// queue is full (stderr stuck), lines are dropped and counted; the count is reported once the
/// writer catches up.
final class LogSink: Sendable {
    private struct State {
        var lines: [String] = []
        var bytes = 0
        var dropped = 0
        var writerStarted = false
        var writing = false
    }

    /// Bound on queued log text; beyond it lines are dropped (and counted), never blocking.
    static let maxQueuedBytes = 4 << 20

    private let fd: Int32
    private let state = Mutex(State())
    /// Wakes the writer thread when lines arrive (no polling while idle).
    private let wake = DispatchSemaphore(value: 0)

    init(fd: Int32) { self.fd = fd }

    func enqueue(_ line: String) {
        let startWriter = state.withLock { s -> Bool in
            if s.bytes + line.utf8.count > LogSink.maxQueuedBytes {
                s.dropped += 1
                return false
            }
            s.lines.append(line)
            s.bytes += line.utf8.count
            if !s.writerStarted { s.writerStarted = true; return true }
            return false
        }
        if startWriter { startWriterThread() }
        wake.signal()
    }

    /// Waits (at most a second) until queued lines are written; for exit paths, never a loop.
    func flush() {
        for _ in 0..<200 {
            let empty = state.withLock { $0.lines.isEmpty && !$0.writing }
            if empty { return }
            usleep(5_000)
        }
    }

    private func startWriterThread() {
        let box = Unmanaged.passRetained(self)
        var tid = pthread_t()
        let rc = pthread_create(&tid, nil, { arg in
            guard let arg else { return nil }
            let sink = Unmanaged<LogSink>.fromOpaque(arg).takeRetainedValue()
            sink.writerLoop()
            return nil
        }, box.toOpaque())
        if rc != 0 {
            box.release()
        } else {
            pthread_detach(tid)
        }
    }

    private func writerLoop() {
        while true {
            let (batch, dropped) = state.withLock { s -> ([String], Int) in
                let b = s.lines
                let d = s.dropped
                s.lines.removeAll(keepingCapacity: true)
                s.bytes = 0
                s.dropped = 0
                s.writing = !b.isEmpty || d > 0
                return (b, d)
            }
            if batch.isEmpty && dropped == 0 {
                wake.wait()
                continue
            }
            var text = batch.joined()
            if dropped > 0 { text += "log: \(dropped) lines dropped (stderr too slow)\n" }
            writeFully(text, to: fd)
            state.withLock { $0.writing = false }
        }
    }
}

/// Writes all of `text` to a descriptor, retrying short writes and EINTR; gives up on error.
/// For start-up messages and the log writer thread — never on an event loop.
public func writeFully(_ text: String, to fd: Int32) {
    var text = text
    text.withUTF8 { buf in
        guard let base = buf.baseAddress else { return }
        var off = 0
        while off < buf.count {
            let n = write(fd, base + off, buf.count - off)
            if n > 0 { off += n } else if n < 0 && errno == EINTR { continue } else { return }
        }
    }
}

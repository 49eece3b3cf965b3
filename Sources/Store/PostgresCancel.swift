#if canImport(Glibc)
import Glibc
#endif
import CLibPQ

/// Asks the server to cancel a connection's running statement, off the worker: `PQcancel`
/// blocks (connect, send, wait for the server to close) with no timeout of its own, so it runs
/// on a short-lived detached thread. A server that stopped answering holds that thread, never
/// a worker. `cancel` comes from `PQgetCancel` and is freed here.
func sendCancelDetached(_ cancel: OpaquePointer) {
    // @unchecked: handed to the new thread once, through pthread_create's argument.
    final class Box: @unchecked Sendable {
        let cancel: OpaquePointer
        init(_ cancel: OpaquePointer) { self.cancel = cancel }
    }
    let box = Unmanaged.passRetained(Box(cancel))
    var thread = pthread_t()
    let rc = pthread_create(&thread, nil, { arg in
        guard let arg else { return nil }
        let box = Unmanaged<Box>.fromOpaque(arg).takeRetainedValue()
        var message = [CChar](repeating: 0, count: 256)
        _ = PQcancel(box.cancel, &message, Int32(message.count))
        PQfreeCancel(box.cancel)
        return nil
    }, box.toOpaque())
    if rc == 0 {
        pthread_detach(thread)
    } else {
        box.release()
        PQfreeCancel(cancel)
    }
}

/// Calls `body` with C strings for `strings` (nil stays NULL) and a NULL after the last: libpq's
/// keyword/value and parameter arrays. The copies are freed when `body` returns.
func withCStrings<R>(_ strings: [String?], _ body: ([UnsafePointer<CChar>?]) -> R) -> R {
    let copies: [UnsafeMutablePointer<CChar>?] = strings.map { $0.flatMap { strdup($0) } }
    defer { copies.forEach { free($0) } }
    return body(copies.map { $0.map { UnsafePointer($0) } } + [nil])
}

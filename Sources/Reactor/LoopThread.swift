#if canImport(Glibc)
import Glibc
#endif
import CSystem

/// A plain pthread for an event loop or a pool worker (no Foundation Thread, no executor).
// @unchecked: a pthread_t is an id; joining it once is the owner's job.
struct LoopThread: @unchecked Sendable {
    private let tid: pthread_t

    static func start(name: String, _ body: @escaping @Sendable () -> Void) -> LoopThread? {
        // @unchecked: immutable; handed to the new thread once (the C trampoline's argument).
        final class Box: @unchecked Sendable {
            let body: @Sendable () -> Void
            let name: String
            init(_ body: @escaping @Sendable () -> Void, _ name: String) { self.body = body; self.name = name }
        }
        // Not an `Unretained`: ownership of the box passes to the new thread through
        // pthread_create's `void *` (retained here, taken back exactly once there).
        let box = Unmanaged.passRetained(Box(body, name))
        var tid = pthread_t()
        let rc = pthread_create(&tid, nil, { arg in
            guard let arg else { return nil }
            let box = Unmanaged<Box>.fromOpaque(arg).takeRetainedValue()
            box.name.withCString { cgw_set_thread_name($0) }
            box.body()
            return nil
        }, box.toOpaque())
        guard rc == 0 else {
            box.release()
            return nil
        }
        return LoopThread(tid: tid)
    }

    func join() {
        pthread_join(tid, nil)
    }
}

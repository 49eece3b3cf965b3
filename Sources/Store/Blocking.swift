#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// One value handed from a worker to a thread waiting for it (`transactionBlocking`). The
/// semaphore lives in allocated memory: POSIX objects must not move.
// @unchecked: the value is behind a Mutex and the semaphore is made for cross-thread use.
final class OneShot<T: Sendable>: @unchecked Sendable {
    private let value = Mutex<T?>(nil)
    private let semaphore = UnsafeMutablePointer<sem_t>.allocate(capacity: 1)

    init() { sem_init(semaphore, 0, 0) }

    deinit {
        sem_destroy(semaphore)
        semaphore.deallocate()
    }

    func put(_ v: T) {
        value.withLock { $0 = v }
        sem_post(semaphore)
    }

    func wait() -> T {
        while true {
            while sem_wait(semaphore) != 0 {}   // EINTR
            if let v = value.withLock({ $0 }) { return v }
        }
    }
}

/// A completion created on a loop and called back on it (`loop.execute` wants `@Sendable`).
// @unchecked: only ever called on the loop that created it.
final class OnLoop<T>: @unchecked Sendable {
    let call: (Result<T, StoreError>) -> Void
    init(_ call: @escaping (Result<T, StoreError>) -> Void) { self.call = call }
}

/// The directory and its parents (`mkdir -p`).
func makeDirectories(_ path: String) throws(StoreStartError) {
    var prefix = path.hasPrefix("/") ? "/" : ""
    for part in path.split(separator: "/") {
        prefix += part + "/"
        if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
            throw StoreStartError(message: "cannot create the data directory \(path): \(String(cString: strerror(errno)))")
        }
    }
}

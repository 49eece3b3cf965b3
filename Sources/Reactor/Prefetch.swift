/// Asks the CPU to start loading an object's first `bytes` (a hint; never faults).
@inline(__always)
public func prefetch<T: AnyObject>(_ object: Unretained<T>, bytes: Int = 192) {
    object.prefetch(bytes: bytes)
}

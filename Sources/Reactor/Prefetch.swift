/// Asks the CPU to start loading an object's first `bytes` (a hint; never faults). For callers
/// still holding an `Unmanaged`; `Unretained.prefetch` is the same.
@inline(__always)
public func prefetch<T: AnyObject>(_ object: Unmanaged<T>, bytes: Int = 192) {
    Unretained(unmanaged: object).prefetch(bytes: bytes)
}

@inline(__always)
public func prefetch<T: AnyObject>(_ object: Unretained<T>, bytes: Int = 192) {
    object.prefetch(bytes: bytes)
}

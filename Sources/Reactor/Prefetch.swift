import CSystem

/// Asks the CPU to start loading an object's first `bytes` (a hint; never faults).
@inline(__always)
public func prefetch<T: AnyObject>(_ object: Unmanaged<T>, bytes: Int = 192) {
    cgw_prefetch(UnsafeRawPointer(object.toOpaque()), bytes)
}

/// A value (usually a completion) that belongs to one loop's thread, carried through another
/// thread and used only back on its own: the hop is what makes it safe, not the type.
// @unchecked: the owner reads `value` only on the loop it came from.
public final class LoopBound<Value>: @unchecked Sendable {
    public let value: Value
    public init(_ value: Value) { self.value = value }
}

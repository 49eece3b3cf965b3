/// A first-in first-out queue on an array with a moving head: O(1) amortised at both ends, and
/// a taken element is released at once (closures in it let go of what they hold).
public struct FIFO<Element> {
    private var items: [Element?] = []
    private var head = 0

    public init() {}

    public var count: Int { items.count - head }
    public var isEmpty: Bool { head == items.count }
    public var first: Element? { head < items.count ? items[head] : nil }

    public mutating func append(_ e: Element) { items.append(e) }

    public mutating func popFirst() -> Element? {
        guard head < items.count else { return nil }
        let e = items[head]
        items[head] = nil
        head += 1
        if head == items.count {
            items.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 1024 && head * 2 >= items.count {
            items.removeFirst(head)
            head = 0
        }
        return e
    }
}

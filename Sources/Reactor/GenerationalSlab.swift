/// Loop-confined records addressed by slot + generation (watches, timers): O(1) insert, lookup
/// and removal, and a handle to a removed record never finds the record that reuses its slot.
/// Generations wrap within `EventToken`'s 30 bits, like connections'.
struct GenerationalSlab<Element> {
    struct Handle: Hashable, Sendable {
        let slot: UInt32
        let generation: UInt32
    }

    private var elements: [Element?] = []
    private var generations: [UInt32] = []
    private var free: [UInt32] = []
    private(set) var count = 0

    mutating func insert(_ element: Element) -> Handle {
        let slot: UInt32
        if let reused = free.popLast() {
            slot = reused
        } else {
            slot = UInt32(elements.count)
            elements.append(nil)
            generations.append(0)
        }
        elements[Int(slot)] = element
        count += 1
        return Handle(slot: slot, generation: generations[Int(slot)])
    }

    @inline(__always)
    func contains(_ h: Handle) -> Bool {
        Int(h.slot) < elements.count && generations[Int(h.slot)] == h.generation && elements[Int(h.slot)] != nil
    }

    /// The record, or nil once removed.
    subscript(_ h: Handle) -> Element? {
        get { contains(h) ? elements[Int(h.slot)] : nil }
        set {
            guard contains(h), let newValue else { return }
            elements[Int(h.slot)] = newValue
        }
    }

    /// Removes and returns the record; the slot's generation moves on at once, so events or
    /// heap entries still carrying this handle are stale from now on.
    @discardableResult
    mutating func remove(_ h: Handle) -> Element? {
        guard contains(h) else { return nil }
        let slot = Int(h.slot)
        let old = elements[slot]
        elements[slot] = nil
        generations[slot] = EventToken.next(generations[slot])
        free.append(h.slot)
        count -= 1
        return old
    }

    /// Every live record's handle (for tear-down).
    var handles: [Handle] {
        elements.indices.compactMap { elements[$0] == nil ? nil : Handle(slot: UInt32($0), generation: generations[$0]) }
    }
}

/// A loop's timers: a binary min-heap of deadlines over a slab of records, cancelled lazily
/// (cancel drops the record at once; its heap entry is skipped when it surfaces, and the heap
/// is rebuilt when stale entries outnumber live ones). Loop-confined, like everything the loop
/// owns. Order: deadline, then scheduling order.
struct TimerQueue {
    typealias Handle = GenerationalSlab<Record>.Handle

    struct Record {
        /// 0 for a one-shot timer.
        let interval: Millis
        let body: (LoopTimer) -> Void
    }

    private struct Entry {
        let deadline: Millis
        let sequence: UInt64
        let handle: Handle

        @inline(__always) func precedes(_ other: Entry) -> Bool {
            deadline != other.deadline ? deadline < other.deadline : sequence < other.sequence
        }
    }

    private var heap: [Entry] = []
    private var records = GenerationalSlab<Record>()
    /// Heap entries whose record is gone (each record has exactly one entry in the heap).
    private var stale = 0
    /// Next scheduling order; also bounds a firing round (see `popDue`).
    private(set) var sequence: UInt64 = 0

    /// The earliest deadline in the heap (`.max` when empty); may be a cancelled one, which
    /// only costs an early wake-up.
    @inline(__always) var earliest: Millis { heap.first?.deadline ?? .max }
    var activeCount: Int { records.count }

    mutating func schedule(at deadline: Millis, interval: Millis, _ body: @escaping (LoopTimer) -> Void) -> Handle {
        let handle = records.insert(Record(interval: interval, body: body))
        push(Entry(deadline: deadline, sequence: nextSequence(), handle: handle))
        return handle
    }

    func isActive(_ handle: Handle) -> Bool { records.contains(handle) }

    mutating func cancel(_ handle: Handle) {
        guard records.remove(handle) != nil else { return }
        stale += 1
        if stale > 64 && stale > heap.count / 2 { dropStale() }
    }

    /// The next timer due at `now` that was scheduled before the round began (`sequence <
    /// bound`, so a callback that schedules a due timer cannot keep the round going forever).
    /// A repeating timer is rescheduled before its body runs, so the body may cancel it.
    mutating func popDue(now: Millis, bound: UInt64) -> (Handle, Record)? {
        while let top = heap.first, top.deadline <= now, top.sequence < bound {
            popTop()
            guard let record = records[top.handle] else {
                stale -= 1
                continue
            }
            if record.interval > 0 {
                var next = TimerQueue.adding(record.interval, to: top.deadline)
                if next <= now { next = TimerQueue.adding(record.interval, to: now) }   // fell behind: skip, don't burst
                push(Entry(deadline: next, sequence: nextSequence(), handle: top.handle))
            } else {
                records.remove(top.handle)
            }
            return (top.handle, record)
        }
        return nil
    }

    /// Every live timer is cancelled (loop tear-down).
    mutating func removeAll() {
        heap.removeAll()
        for h in records.handles { records.remove(h) }
        stale = 0
    }

    /// `base + delay`, saturating: a huge delay means "never", not a wrapped "now".
    @inline(__always) static func adding(_ delay: Millis, to base: Millis) -> Millis {
        let (sum, overflow) = base.addingReportingOverflow(delay)
        return overflow ? .max : sum
    }

    // MARK: Heap

    private mutating func nextSequence() -> UInt64 {
        defer { sequence += 1 }
        return sequence
    }

    private mutating func push(_ e: Entry) {
        heap.append(e)
        siftUp(heap.count - 1)
    }

    private mutating func popTop() {
        let last = heap.removeLast()
        guard !heap.isEmpty else { return }
        heap[0] = last
        siftDown(0)
    }

    private mutating func siftUp(_ start: Int) {
        var i = start
        while i > 0 {
            let parent = (i - 1) / 2
            guard heap[i].precedes(heap[parent]) else { return }
            heap.swapAt(i, parent)
            i = parent
        }
    }

    private mutating func siftDown(_ start: Int) {
        var i = start
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < heap.count && heap[l].precedes(heap[m]) { m = l }
            if r < heap.count && heap[r].precedes(heap[m]) { m = r }
            if m == i { return }
            heap.swapAt(i, m)
            i = m
        }
    }

    private mutating func dropStale() {
        let recs = records
        heap.removeAll { !recs.contains($0.handle) }
        stale = 0
        var i = heap.count / 2
        while i > 0 {
            i -= 1
            siftDown(i)
        }
    }
}

// The generation of a slot wraps without ever colliding with the loop's own tokens: real
// loopback connections through one reused slot keep being served across the wrap.

#if canImport(Glibc)
import Glibc
#endif
import CSystem
@testable import Reactor
import Testing

/// Echoes what it reads and notes which id served it.
private final class Echo: ConnectionHandler {
    let served: Recorder<ConnectionID>
    init(_ served: Recorder<ConnectionID>) { self.served = served }
    func connectionDidRead(_ c: Connection, _ bytes: UnsafeMutableRawBufferPointer) {
        served.append(c.id)
        c.write(UnsafeRawBufferPointer(bytes))
    }
    func connectionDeadlineDidPass(_ c: Connection, now: Millis) {}
}

/// One blocking round trip to 127.0.0.1:`port` (every wait bounded by SO_RCVTIMEO).
private func roundTrip(port: Int, _ message: [UInt8]) -> [UInt8] {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return [] }
    defer { close(fd) }
    var tv = timeval(tv_sec: 3, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = in_port_t(UInt16(port).bigEndian)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    let ok = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard ok == 0, send(fd, message, message.count, Int32(MSG_NOSIGNAL)) == message.count else { return [] }
    var out: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 64)
    while out.count < message.count {
        let n = recv(fd, &buf, buf.count, 0)
        if n <= 0 { break }
        out += buf[0..<n]
    }
    return out
}

@Suite struct ConnectionIDTests {
    @Test func tokenKindsNeverCollide() {
        let top = ConnectionID(slot: .max, generation: ConnectionID.generationLimit - 1)
        #expect(EventToken(raw: top.packed).isConnection)
        #expect(EventToken(raw: top.packed).kind == .connection)
        #expect(ConnectionID(packed: top.packed) == top)
        #expect(EventToken.next(ConnectionID.generationLimit - 1) == 0)
        let watch = EventToken(.watch, slot: 7, generation: EventToken.generationMask)
        #expect(!watch.isConnection && watch.kind == .watch && watch.slot == 7 && watch.generation == EventToken.generationMask)
    }

    @Test func connectionsAreServedAcrossTheGenerationWrap() throws {
        let l = try RunningLoop()
        defer { l.stop() }
        var bound: Int32 = 0
        let fd = cgw_listen_tcp("127.0.0.1", 0, 64, 0, &bound)
        try #require(fd >= 0)
        let served = Recorder<ConnectionID>()
        let limit = ConnectionID.generationLimit
        let ready = l.onLoop { () -> Bool in
            do {
                try l.loop.addListener(fd: fd) { _ in Echo(served) }
            } catch {
                return false
            }
            l.loop.setGeneration(limit - 2, forNextConnectionIn: 0)
            return true
        }
        try #require(ready == true)
        for i in 0..<4 {
            let message = Array("ping \(i)".utf8)
            #expect(roundTrip(port: Int(bound), message) == message, "round trip \(i)")
            // The slot is free again only once the loop has reaped the connection.
            #expect(waitUntil { l.loop.openConnections == 0 })
            #expect(l.onLoop { true } == true)
        }
        let ids = served.all
        #expect(ids.map(\.slot) == [0, 0, 0, 0])
        #expect(ids.map(\.generation) == [limit - 2, limit - 1, 0, 1])
    }
}

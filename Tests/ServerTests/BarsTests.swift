// Contract 2c's bars through real sockets, on both stores: bars from published prices,
// prices.history windows and errors, persistence across a restart, and `quantumvest
// import-bars` run as the built binary.
#if canImport(Glibc)
import Glibc
#endif
import Gateway
import JSON
import Market
import Money
import Reactor
import Store
import TestSupport
import Testing

@Suite("Bars and prices.history (2c)")
struct BarsTests {
    static let minute: Int64 = 60_000
    static let day: Int64 = 86_400_000

    func publish(_ p: RPCClient, _ symbol: String, _ price: String, ts: Int64, volume: String? = nil) throws {
        let v = volume.map { #","volume":"\#($0)""# } ?? ""
        let r = try p.call("publish", #"{"channel":"prices:\#(symbol)","data":{"symbol":"\#(symbol)","price":"\#(price)","ts":\#(ts)\#(v)}}"#)
        #expect(r.result != nil, "\(r.value)")
    }

    func history(_ c: RPCClient, _ params: String) throws -> Incoming { try c.call("prices.history", params, timeoutMs: 5000) }

    /// The bars of an answer as [t, open, high, low, close, volume] strings.
    func bars(_ r: Incoming) -> [[String]] {
        (r.result?["bars"]?.arrayValue ?? []).map { b in
            [b["t"]?.numberValue.map { String(describing: $0.int64 ?? -1) } ?? "?"] +
                ["open", "high", "low", "close", "volume"].map { b[$0]?.stringValue ?? "?" }
        }
    }

    @Test(arguments: TestStore.allCases)
    func barsFromPublishedPrices(_ store: TestStore) throws {
        let g = try TestGateway(store: try store.backend())
        defer { g.stop() }
        let p = try g.client(publisher: true)
        let now = Clock.wallMillis()
        let m0 = now - now % Self.minute - 10 * Self.minute   // a whole minute, ten minutes ago
        try publish(p, "AAPL", "10.50", ts: m0 + 5_000, volume: "2")
        try publish(p, "AAPL", "12", ts: m0 + 1_000)            // earliest: the open
        try publish(p, "AAPL", "9", ts: m0 + 1_000, volume: "0.5")  // same ts, published later: not the open
        try publish(p, "AAPL", "11", ts: m0 + 9_000)
        try publish(p, "AAPL", "11.250", ts: m0 + 9_000, volume: "1")  // same ts, published last: the close
        try publish(p, "AAPL", "13", ts: m0 + Self.minute)       // the next minute
        try publish(p, "AAPL", "99", ts: now - 3 * Self.day)      // too old
        try publish(p, "AAPL", "98", ts: now + 5 * Self.minute)   // too far ahead

        let c = try g.client()
        // Visible at once (before the flush), then the same after it.
        for _ in 0..<2 {
            let r = try history(c, #"{"symbol":"AAPL","interval":"1m"}"#)
            #expect(r.result?["symbol"] == .string("AAPL") && r.result?["interval"] == .string("1m"))
            #expect(bars(r) == [[String(m0), "12", "12", "9", "11.25", "3.5"], [String(m0 + Self.minute), "13", "13", "13", "13", "0"]])
            let d = try history(c, #"{"symbol":"AAPL","interval":"1d","from":\#(now - 4 * Self.day)}"#)
            let dayStart = m0 - m0 % Self.day
            let expected = [String(dayStart), "12", "13", "9", "13", "3.5"]
            // The ten minutes may straddle a UTC midnight: then the two minutes are two days.
            if (m0 + Self.minute) - (m0 + Self.minute) % Self.day == dayStart {
                #expect(bars(d) == [expected])
            } else {
                #expect(bars(d).count == 2)
            }
            usleep(1_500_000)
        }
    }

    @Test(arguments: TestStore.allCases)
    func minuteAndDayBoundariesAreUTC(_ store: TestStore) throws {
        let g = try TestGateway(store: try store.backend())
        defer { g.stop() }
        let p = try g.client(publisher: true)
        let now = Clock.wallMillis()
        let midnight = now - now % Self.day
        try publish(p, "UTC.X", "1", ts: midnight - 1)
        try publish(p, "UTC.X", "2", ts: midnight)
        try publish(p, "UTC.X", "3", ts: midnight + 59_999)
        let c = try g.client()
        let m = bars(try history(c, #"{"symbol":"UTC.X","interval":"1m"}"#))
        #expect(m.map { $0[0] } == [String(midnight - Self.minute), String(midnight)])
        #expect(m.last?[4] == "3")
        let d = bars(try history(c, #"{"symbol":"UTC.X","interval":"1d"}"#))
        #expect(d.map { $0[0] } == [String(midnight - Self.day), String(midnight)])
        #expect(d.last?[1] == "2" && d.last?[4] == "3")
    }

    @Test(arguments: TestStore.allCases)
    func windowsLimitsAndErrors(_ store: TestStore) throws {
        let g = try TestGateway(store: try store.backend())
        defer { g.stop() }
        let p = try g.client(publisher: true)
        let now = Clock.wallMillis()
        let m0 = now - now % Self.minute - 30 * Self.minute
        for i in 0..<10 { try publish(p, "WIN", String(i + 1), ts: m0 + Int64(i) * Self.minute) }
        let c = try g.client()
        func ts(_ params: String) throws -> [Int64] {
            bars(try history(c, params)).compactMap { Int64($0[0]) }.map { ($0 - m0) / Self.minute }
        }
        #expect(try ts(#"{"symbol":"WIN","interval":"1m"}"#) == Array(0..<10))
        #expect(try ts(#"{"symbol":"WIN","interval":"1m","limit":3}"#) == [7, 8, 9])
        #expect(try ts(#"{"symbol":"WIN","interval":"1m","from":\#(m0 + 2 * Self.minute),"to":\#(m0 + 5 * Self.minute)}"#) == [2, 3, 4])
        #expect(try ts(#"{"symbol":"WIN","interval":"1m","from":\#(m0 + 2 * Self.minute + 1),"to":\#(m0 + 5 * Self.minute),"limit":1}"#) == [4])
        #expect(try ts(#"{"symbol":"WIN","interval":"1m","from":\#(m0 + 5 * Self.minute),"to":\#(m0 + 5 * Self.minute)}"#) == [])
        #expect(try ts(#"{"symbol":"WIN","interval":"1m","from":\#(m0 + 6 * Self.minute),"to":\#(m0)}"#) == [])
        let unknown = try history(c, #"{"symbol":"NOBARS","interval":"1d"}"#)
        #expect(unknown.result?["bars"] == .array([]))
        for (params, name) in [(#"{"symbol":"WIN","interval":"5m"}"#, "interval"), (#"{"symbol":"WIN"}"#, "interval"),
                               (#"{"symbol":"win","interval":"1m"}"#, "symbol"), (#"{"symbol":"WIN","interval":"1m","limit":0}"#, "limit"),
                               (#"{"symbol":"WIN","interval":"1m","limit":1001}"#, "limit"), (#"{"symbol":"WIN","interval":"1m","limit":"5"}"#, "limit"),
                               (#"{"symbol":"WIN","interval":"1m","from":1.5}"#, "from"), (#"{"symbol":"WIN","interval":"1m","to":"x"}"#, "to")] {
            let r = try history(c, params)
            #expect(r.errorCode == -32602, "\(params): \(r.value)")
            #expect(r.error?["data"]?["param"] == .string(name), "\(params): \(r.value)")
        }
        #expect(bars(try history(c, #"{"symbol":"WIN","interval":"1m","limit":1000}"#)).count == 10)
    }

    @Test func requireLoginRefusesAnonymous() throws {
        let g = try TestGateway({ $0.requireLoginForMarket = true })
        defer { g.stop() }
        let r = try g.client().call("prices.history", #"{"symbol":"AAPL","interval":"1d"}"#)
        #expect(r.errorCode == -32001, "\(r.value)")
        #expect(try g.client(publisher: true).call("prices.history", #"{"symbol":"AAPL","interval":"1d"}"#).result != nil)
    }

    @Test(arguments: TestStore.allCases)
    func barsSurviveARestart(_ store: TestStore) throws {
        let backend = try store.backend()
        let now = Clock.wallMillis()
        let m0 = now - now % Self.minute - 5 * Self.minute
        do {
            let g = try TestGateway(store: backend)
            defer { g.stop() }
            let p = try g.client(publisher: true)
            try publish(p, "KEEP", "5", ts: m0, volume: "1")
            usleep(1_500_000)   // flushed by the timer
            try publish(p, "KEEP", "7", ts: m0 + 1, volume: "1")   // written by the flush at stop
        }
        let g = try TestGateway(store: backend)
        defer { g.stop() }
        let p = try g.client(publisher: true)
        try publish(p, "KEEP", "6", ts: m0 + 2, volume: "1")   // merges into the stored bar
        let c = try g.client()
        #expect(bars(try history(c, #"{"symbol":"KEEP","interval":"1m"}"#)) == [[String(m0), "5", "7", "5", "6", "3"]])
        usleep(1_500_000)
        #expect(bars(try history(c, #"{"symbol":"KEEP","interval":"1m"}"#)) == [[String(m0), "5", "7", "5", "6", "3"]])
    }

    // MARK: import-bars (the binary)

    /// Runs the binary on `csv`; `viaEnvironment`: the store flag as its QV_ twin.
    func importBars(_ backend: StoreBackend, _ csv: String, viaEnvironment: Bool = false) throws -> (ChildProcess.Exit?, String, String) {
        let dir = try TemporaryDirectory.make(prefix: "qv-csv")
        let path = dir + "/bars.csv"
        guard let f = fopen(path, "wb") else { throw ClientError("cannot write \(path)") }
        let bytes = Array(csv.utf8)
        _ = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, f) }
        fclose(f)
        var args = ["import-bars", path]
        var environment: [String: String] = [:]
        switch (backend, viaEnvironment) {
        case (.sqlite(let directory), false): args += ["--data-dir", directory]
        case (.postgres(let url), false): args += ["--postgres", url]
        case (.sqlite(let directory), true): environment["QV_DATA_DIR"] = directory
        case (.postgres(let url), true): environment["QV_POSTGRES"] = url
        }
        let exe = try #require(quantumvestExecutable(), "quantumvest not found next to the test bundle")
        let child = try ChildProcess(exe, args, environment: environment)
        let exit = child.waitForExit(timeoutMs: 20_000)
        let output = child.readAll(timeoutMs: 1000)
        return (exit, output.stdout, output.stderr)
    }

    static let header = "symbol,date,open,high,low,close,volume\n"

    @Test(arguments: TestStore.allCases)
    func importGoodBadAndReplacing(_ store: TestStore) throws {
        let backend = try store.backend()
        let good = Self.header + "SPY,2024-01-02,470.5,472,468.25,471,1000\nSPY,2024-01-03,471,473.10,470,472.5,0\nAAPL,2024-01-02,185,186,184,185.5,12.5\nNULL,2024-01-02,1,1,1,1,1\n"
        let (exit, out, err) = try importBars(backend, good)
        #expect(exit == .exited(0), "\(err)")
        #expect(out.contains("imported 4 daily bars"), "\(out)")
        let jan2: Int64 = 1_704_153_600_000
        do {
            let g = try TestGateway(store: backend)
            defer { g.stop() }
            let c = try g.client()
            // A symbol spelled NULL stays a symbol (PostgreSQL's array literal quotes it).
            #expect(bars(try history(c, #"{"symbol":"NULL","interval":"1d"}"#)) == [[String(jan2), "1", "1", "1", "1", "1"]])
            #expect(bars(try history(c, #"{"symbol":"SPY","interval":"1d"}"#)) == [
                [String(jan2), "470.5", "472", "468.25", "471", "1000"], [String(jan2 + Self.day), "471", "473.1", "470", "472.5", "0"],
            ])
        }

        // A bad row: exit 1, the line and the field named, nothing of this file imported.
        let bad = Self.header + "SPY,2024-01-02,1,2,1,1,5\nMSFT,2024-01-02,10,11,10.5,10.8,0\n"
        let (exit2, _, err2) = try importBars(backend, bad)
        #expect(exit2 == .exited(1))
        #expect(err2.contains("line 3") && err2.contains("field 'low'"), "\(err2)")
        // A duplicate (symbol, date).
        let dup = Self.header + "QQQ,2024-01-02,1,2,1,1,5\nQQQ,2024-01-02,1,2,1,1,5\n"
        let (exit3, _, err3) = try importBars(backend, dup)
        #expect(exit3 == .exited(1))
        #expect(err3.contains("line 3") && err3.contains("line 2") && err3.contains("field 'date'"), "\(err3)")
        // Not valid CSV, a wrong header: exit 1 as well.
        #expect(try importBars(backend, "symbol,date\n").0 == .exited(1))
        #expect(try importBars(backend, Self.header + "\"SPY,2024-01-02,1,1,1,1,1\n").0 == .exited(1))

        // Re-import replacing, with CRLF and quoted fields.
        let again = "symbol,date,open,high,low,close,volume\r\n\"SPY\",\"2024-01-02\",\"10\",11,9,10.5,\"7\"\r\nNEW,2024-01-05,1,1,1,1,1"
        let (exit4, out4, err4) = try importBars(backend, again)
        #expect(exit4 == .exited(0), "\(err4)")
        #expect(out4.contains("imported 2 daily bars"), "\(out4)")
        let g = try TestGateway(store: backend)
        defer { g.stop() }
        let c = try g.client()
        #expect(bars(try history(c, #"{"symbol":"SPY","interval":"1d"}"#)) == [
            [String(jan2), "10", "11", "9", "10.5", "7"], [String(jan2 + Self.day), "471", "473.1", "470", "472.5", "0"],
        ])
        #expect(bars(try history(c, #"{"symbol":"MSFT","interval":"1d"}"#)) == [])
        #expect(bars(try history(c, #"{"symbol":"QQQ","interval":"1d"}"#)) == [])
        #expect(bars(try history(c, #"{"symbol":"NEW","interval":"1d"}"#)).count == 1)
    }

    @Test(arguments: TestStore.allCases)
    func liveEventsUpdateAnImportedBar(_ store: TestStore) throws {
        let backend = try store.backend()
        let now = Clock.wallMillis()
        let today = now - now % Self.day
        var y = 1970, rest = today / Self.day
        // The date text of `today` (days since the epoch to a civil date).
        while true {
            let len: Int64 = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 ? 366 : 365
            if rest < len { break }
            rest -= len
            y += 1
        }
        let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
        var month = 1
        for len in [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31] {
            if rest < Int64(len) { break }
            rest -= Int64(len)
            month += 1
        }
        let date = "\(y)-\(month < 10 ? "0" : "")\(month)-\(rest + 1 < 10 ? "0" : "")\(rest + 1)"
        // Imported while a gateway runs: its next answer has the bar (history is read from the store).
        let g = try TestGateway(store: backend)
        defer { g.stop() }
        let c = try g.client()
        #expect(bars(try history(c, #"{"symbol":"LIVE","interval":"1d"}"#)) == [])
        let (exit, _, err) = try importBars(backend, Self.header + "LIVE,\(date),100,110,90,105,50\n", viaEnvironment: true)
        #expect(exit == .exited(0), "\(err)")
        #expect(bars(try history(c, #"{"symbol":"LIVE","interval":"1d"}"#)) == [[String(today), "100", "110", "90", "105", "50"]])
        let p = try g.client(publisher: true)
        try publish(p, "LIVE", "120", ts: now - 1_000, volume: "2")
        let expected = [[String(today), "100", "120", "90", "120", "52"]]
        #expect(bars(try history(c, #"{"symbol":"LIVE","interval":"1d"}"#)) == expected)
        usleep(1_500_000)
        #expect(bars(try history(c, #"{"symbol":"LIVE","interval":"1d"}"#)) == expected)
    }

    /// A crash (SIGKILL) loses at most the last second: what was published more than a flush
    /// interval before it is there after the restart.
    @Test func aCrashLosesAtMostTheLastSecond() throws {
        let exe = try #require(quantumvestExecutable(), "quantumvest not found next to the test bundle")
        let dir = try TemporaryDirectory.make(prefix: "qv-crash")
        func serve() throws -> (ChildProcess, Int) {
            let child = try ChildProcess(exe, ["serve", "--port", "0", "--threads", "1", "--log-level", "warning", "--data-dir", dir,
                                               "--publisher-key", testPublisherKey])
            let line = try #require(child.readLine(timeoutMs: 10_000), "no 'listening on' line: \(child.readAll(timeoutMs: 500))")
            return (child, try #require(Int(line.dropFirst("listening on 127.0.0.1:".count))))
        }
        let now = Clock.wallMillis()
        let m0 = now - now % Self.minute - 3 * Self.minute
        do {
            let (child, port) = try serve()
            let p = RPCClient(try TCPClient.webSocket(port: port, path: "/ws", extraHeaders: ["Authorization: Bearer \(testPublisherKey)"]))
            try publish(p, "CRASH", "42.5", ts: m0 + 10, volume: "3")
            usleep(2_000_000)   // two flush intervals
            child.signal(SIGKILL)
            #expect(child.waitForExit(timeoutMs: 5000) != nil)
        }
        let (child, port) = try serve()
        defer {
            child.signal(SIGTERM)
            _ = child.waitForExit(timeoutMs: 5000)
        }
        let c = RPCClient(try TCPClient.webSocket(port: port, path: "/ws"))
        #expect(bars(try history(c, #"{"symbol":"CRASH","interval":"1m"}"#)) == [[String(m0), "42.5", "42.5", "42.5", "42.5", "3"]])
    }

    /// The prune deletes 1-minute bars older than its bound, never daily bars; the store's
    /// merge of a delta into a stored bar (the flush's read-modify-write).
    @Test(arguments: TestStore.allCases)
    func pruneAndTheFlushMergeInTheStore(_ store: TestStore) throws {
        var configuration = StoreConfiguration()
        configuration.backend = try store.backend()
        let s = try Store(configuration: configuration, logger: testLogger)
        defer { s.shutdown() }
        func d(_ text: String) -> ExactDecimal { ExactDecimal(canonicalOrPlain: text) ?? .zero }
        func bar(_ t: Int64, _ p: String, ts: Int64) -> Bar { Bar(t: t, open: d(p), high: d(p), low: d(p), close: d(p), volume: d("1"), openTs: ts, closeTs: ts) }
        let now = Clock.wallMillis()
        let old = BarInterval.minute.start(now - 31 * Self.day), fresh = BarInterval.minute.start(now - 29 * Self.day)
        let oldDay = BarInterval.day.start(now - 400 * Self.day)
        let deltas: [BarKey: Bar] = [
            BarKey(symbol: "P", interval: .minute, t: old): bar(old, "1", ts: old + 5),
            BarKey(symbol: "P", interval: .minute, t: fresh): bar(fresh, "2", ts: fresh + 5),
            BarKey(symbol: "P", interval: .day, t: oldDay): bar(oldDay, "3", ts: oldDay + 5),
        ]
        _ = try s.transactionBlocking { c throws(StoreError) in try BarStore.upsert(c, deltas) }.get()
        // A second delta: earlier ts takes the open, later the close, volumes add.
        let more: [BarKey: Bar] = [
            BarKey(symbol: "P", interval: .minute, t: fresh): Bar(t: fresh, open: d("0.5"), high: d("9"), low: d("0.5"), close: d("0.5"),
                                                                volume: d("2.5"), openTs: fresh + 1, closeTs: fresh + 1),
        ]
        _ = try s.transactionBlocking { c throws(StoreError) in try BarStore.upsert(c, more) }.get()
        let pruned = try s.transactionBlocking { c throws(StoreError) in try BarStore.pruneMinutes(c, before: now - 30 * Self.day) }.get()
        #expect(pruned == 1)
        let minutes = try s.transactionBlocking(write: false) { c throws(StoreError) in
            try BarStore.history(c, symbol: "P", interval: .minute, from: .min, to: .max, limit: 10)
        }.get()
        #expect(minutes.map(\.t) == [fresh])
        #expect(minutes.first.map { [$0.open, $0.high, $0.low, $0.close, $0.volume].map(\.description) } == ["0.5", "9", "0.5", "2", "3.5"])
        let days = try s.transactionBlocking(write: false) { c throws(StoreError) in
            try BarStore.history(c, symbol: "P", interval: .day, from: .min, to: .max, limit: 10)
        }.get()
        #expect(days.map(\.t) == [oldDay])
    }
}

#if canImport(Glibc)
import Glibc
#endif
import Gateway
import JSON
import Testing

/// Replays every conversation in `protocol/scenarios/` (the specification's own examples of
/// whole exchanges) against a live gateway, one connection per scenario. The format is in
/// `protocol/scenarios/README.md`.
@Suite("Protocol scenarios")
struct ProtocolScenarioTests {
    static let directory: String = {
        var path = #filePath
        for _ in 0..<3 { path = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)]) }
        return path + "/protocol/scenarios"
    }()

    static var files: [String] {
        guard let dir = opendir(directory) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name.hasSuffix(".json") { names.append(name) }
        }
        return names.sorted()
    }

    static func load(_ name: String) throws -> JSONValue {
        guard let f = fopen(directory + "/" + name, "rb") else { throw ClientError("cannot open \(name)") }
        defer { fclose(f) }
        var bytes: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = fread(&buf, 1, buf.count, f)
            if n <= 0 { break }
            bytes += buf[0..<n]
        }
        return try JSONParser().parse(bytes)
    }

    @Test func scenariosArePresent() {
        #expect(Self.files.count >= 5, "\(Self.directory)")
    }

    @Test(arguments: ProtocolScenarioTests.files)
    func replay(_ name: String) throws {
        let scenario = try Self.load(name)
        let g = try TestGateway()
        defer { g.stop() }
        let client = try g.client(publisher: scenario["role"] == .string("publisher"))
        defer { client.close() }
        var run = ScenarioRun(client: client)
        let steps = try #require(scenario["steps"]?.arrayValue)
        for (i, step) in steps.enumerated() {
            do {
                try run.perform(step)
            } catch {
                Issue.record("\(name) step \(i + 1): \(error)")
                return
            }
        }
        // Nothing unexpected may follow the last step.
        client.drain(forMs: 50)
        #expect(client.events.isEmpty && client.answers.isEmpty, "\(name): unexpected messages after the last step")
    }
}

/// One scenario's state: the connection and the values saved by `<save:NAME>`.
struct ScenarioRun {
    let client: RPCClient
    var saved: [String: JSONValue] = [:]
    /// Messages in arrival order (events and answers interleaved, as the scenario sees them).
    private var inbox: [JSONValue] = []

    init(client: RPCClient) { self.client = client }

    mutating func perform(_ step: JSONValue) throws {
        guard case .object(let o) = step, let (kind, arg) = o.members.first else { throw ClientError("bad step \(step)") }
        switch kind {
        case "send":
            try client.tcp.send(WSFrame.text(String(decoding: substitute(arg).jsonBytes, as: UTF8.self)))
        case "send_text":
            try client.tcp.send(WSFrame.text(arg.stringValue ?? ""))
        case "send_binary":
            try client.tcp.send(WSFrame.binary(Array((arg.stringValue ?? "").utf8)))
        case "expect":
            let m = try next()
            guard match(arg, m) else { throw ClientError("expected \(text(arg)), got \(text(m))") }
        case "expect_batch":
            let m = try next()
            guard let patterns = arg.arrayValue, let entries = m.arrayValue, patterns.count == entries.count,
                  matchAsMultiset(patterns, entries) else { throw ClientError("expected batch \(text(arg)), got \(text(m))") }
        case "expect_unordered":
            let patterns = arg.arrayValue ?? []
            var got: [JSONValue] = []
            for _ in patterns { got.append(try next()) }
            guard matchAsMultiset(patterns, got) else { throw ClientError("expected in any order \(text(arg)), got \(got.map(text))") }
        case "expect_close":
            let frame = try client.awaitCloseFrame(timeoutMs: 5000)
            guard let code = arg.numberValue?.int64, frame.closeCode.map(Int64.init) == code else {
                throw ClientError("expected close \(text(arg)), got \(frame)")
            }
        default:
            throw ClientError("unknown step kind \(kind)")
        }
    }

    /// The next message, events and answers in the order they arrived.
    private mutating func next() throws -> JSONValue {
        let start = ContinuousClock.now
        while true {
            if let m = takeEarliest() { return m }
            let left = 5000 - millis(since: start)
            guard left > 0 else { throw ClientError("no message within 5 s") }
            try client.readOne(timeoutMs: left)
        }
    }

    /// RPCClient sorts messages into events and answers; the scenario wants arrival order,
    /// so read one frame at a time and take whichever list grew.
    private func takeEarliest() -> JSONValue? {
        if !client.answers.isEmpty { return client.answers.removeFirst().value }
        if !client.events.isEmpty { return client.events.removeFirst().value }
        return nil
    }

    private func text(_ v: JSONValue) -> String { String(decoding: v.jsonBytes, as: UTF8.self) }

    /// `"<$NAME>"` in a message to send becomes the saved value.
    private func substitute(_ v: JSONValue) -> JSONValue {
        switch v {
        case .string(let s) where s.hasPrefix("<$") && s.hasSuffix(">"):
            let name = String(s.dropFirst(2).dropLast())
            return box.values[name] ?? saved[name] ?? v
        case .array(let a):
            return .array(a.map(substitute))
        case .object(let o):
            return .object(JSONObject(o.members.map { ($0.key, substitute($0.value)) }))
        default:
            return v
        }
    }

    private func matchAsMultiset(_ patterns: [JSONValue], _ values: [JSONValue]) -> Bool {
        var left = values
        for p in patterns {
            guard let i = left.firstIndex(where: { match(p, $0) }) else { return false }
            left.remove(at: i)
        }
        return left.isEmpty
    }

    /// Pattern matching as the scenario README defines it. Saving happens only on a match of
    /// the whole message, so a failed alternative in a multiset match saves nothing.
    private func match(_ pattern: JSONValue, _ value: JSONValue) -> Bool {
        var pending: [String: JSONValue] = [:]
        guard matches(pattern, value, &pending) else { return false }
        // Not `mutating` (called from closures): the saves go through a reference box.
        box.merge(pending)
        return true
    }

    private let box = SavedBox()

    private func lookup(_ name: String, _ pending: [String: JSONValue]) -> JSONValue? {
        pending[name] ?? box.values[name] ?? saved[name]
    }

    private func matches(_ p: JSONValue, _ v: JSONValue, _ pending: inout [String: JSONValue]) -> Bool {
        switch p {
        case .string(let s) where s.hasPrefix("<") && s.hasSuffix(">"):
            let inner = String(s.dropFirst().dropLast())
            switch inner {
            case "any": return true
            case "string": return v.stringValue != nil
            case "integer": return v.numberValue?.isInteger == true
            default:
                if inner.hasPrefix("save:") {
                    pending[String(inner.dropFirst(5))] = v
                    return true
                }
                if inner.hasPrefix("$") {
                    guard let saved = lookup(String(inner.dropFirst()), pending) else { return false }
                    return sameValue(saved, v)
                }
                return v == p
            }
        case .object(let po):
            guard case .object(let vo) = v else { return false }
            for (k, pv) in po.members {
                if pv == .string("<absent>") {
                    if vo[k] != nil { return false }
                    continue
                }
                guard let vv = vo[k], matches(pv, vv, &pending) else { return false }
            }
            return true
        case .array(let pa):
            guard case .array(let va) = v, pa.count == va.count else { return false }
            for (x, y) in zip(pa, va) where !matches(x, y, &pending) { return false }
            return true
        default:
            return sameValue(p, v)
        }
    }

    /// JSON equality, numbers by value.
    private func sameValue(_ a: JSONValue, _ b: JSONValue) -> Bool {
        if case .number(let x) = a, case .number(let y) = b {
            return x.text == y.text || (x.double != nil && x.double == y.double)
        }
        return a == b
    }
}

/// Values saved during a run (a class so matching can save from non-mutating code).
final class SavedBox {
    var values: [String: JSONValue] = [:]
    func merge(_ more: [String: JSONValue]) { values.merge(more) { $1 } }
}

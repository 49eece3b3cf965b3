// The gateway on an in-process server (real sockets, two event loops), and a JSON-RPC client
// that keeps server-initiated events apart from answers.
import Accounts
import App
import Gateway
import JSON
import Reactor
import Server
import Store
import TestSupport

let testPublisherKey = "test-publisher-key-0123456789"

/// A started gateway: the `Application` that `quantumvest serve` runs, on port 0 with short timeouts.
final class TestGateway: Sendable {
    let application: Application

    init(threads: Int = 2, _ adjust: (inout GatewayConfiguration) -> Void = { _ in },
         server adjustServer: (inout ServerConfiguration) -> Void = { _ in },
         store: StoreBackend? = nil,
         storeSettings: (inout StoreConfiguration) -> Void = { _ in },
         accounts adjustAccounts: (inout AccountsConfiguration) -> Void = { _ in },
         app adjustApp: (inout AppConfiguration) -> Void = { _ in },
         modules: (inout GatewayModules) -> Void = { _ in },
         storeModules: (inout GatewayModules, Store) -> Void = { _, _ in }) throws {
        var c = AppConfiguration()
        c.accounts.hashThreads = 1
        // Cheap password hashes: the suite hashes hundreds of times on two shared cores, and at
        // the real cost (~20 ms, below the loops' priority) a busy run made logins time out.
        // Tests about the hash itself (timing, re-hash, a full queue) set the real cost back.
        c.accounts.hashMemoryKiB = 1024
        c.accounts.hashIterations = 1
        adjustAccounts(&c.accounts)
        // Each gateway its own SQLite file unless a test names a store.
        c.store.backend = try store ?? .sqlite(directory: TemporaryDirectory.make(prefix: "qv-gw"))
        storeSettings(&c.store)
        c.gateway.publisherKeys = [testPublisherKey]
        adjust(&c.gateway)
        c.server.port = 0
        c.server.threads = threads
        c.server.headTimeout = 2000
        c.server.closeTimeout = 500
        c.server.drainTimeout = 1000
        adjustServer(&c.server)
        adjustApp(&c)
        application = try Application(configuration: c, logger: testLogger, modules: { m, store in
            modules(&m)
            storeModules(&m, store)
        })
        application.start()
    }

    var server: Server { application.server }
    var gateway: Gateway { application.gateway }
    var port: Int { application.port }

    func stop() { application.stop() }

    /// A /ws client; `publisher` presents the publisher key.
    func client(publisher: Bool = false, headers: [String] = [], receiveBuffer: Int32? = nil) throws -> RPCClient {
        var h = headers
        if publisher { h.append("Authorization: Bearer \(testPublisherKey)") }
        return RPCClient(try TCPClient.webSocket(port: port, path: "/ws", extraHeaders: h, receiveBuffer: receiveBuffer))
    }

    /// GET `path` on a fresh connection.
    func httpGet(_ path: String) throws -> HTTPReply {
        let c = try TCPClient(port: port)
        defer { c.close() }
        return try c.exchange(rawRequest(path, ["Host: 127.0.0.1", "Connection: close"]))
    }

    /// POST /api/v1/publish with `body`.
    func httpPublish(_ body: String, key: String? = testPublisherKey) throws -> HTTPReply {
        let c = try TCPClient(port: port)
        defer { c.close() }
        var headers = ["Host: 127.0.0.1", "Content-Type: application/json", "Content-Length: \(body.utf8.count)", "Connection: close"]
        if let key { headers.append("Authorization: Bearer \(key)") }
        return try c.exchange(rawRequest("POST", "/api/v1/publish", headers) + Array(body.utf8))
    }
}

/// One JSON message from the server.
struct Incoming {
    let value: JSONValue
    let raw: [UInt8]

    var isEvent: Bool { value["method"] == .string("event") }
    var params: JSONValue? { value["params"] }
    var seq: Int64? { params?["seq"]?.numberValue?.int64 }
    var error: JSONValue? { value["error"] }
    var errorCode: Int64? { error?["code"]?.numberValue?.int64 }
    var errorReason: String? { error?["data"]?["reason"]?.stringValue }
    var result: JSONValue? { value["result"] }
}

extension JSONValue {
    subscript(key: String) -> JSONValue? { objectValue?[key] }
    subscript(index: Int) -> JSONValue? {
        guard let a = arrayValue, index >= 0, index < a.count else { return nil }
        return a[index]
    }
}

/// A JSON-RPC client over TCPClient. Events and answers arrive interleaved; `call` returns the
/// answer with its id and keeps events that came first in `events`.
final class RPCClient {
    let tcp: TCPClient
    private var nextID = 1
    /// Events received and not yet taken, in arrival order.
    var events: [Incoming] = []
    /// Answers not yet claimed (e.g. batch answers, answers to `send`).
    var answers: [Incoming] = []
    /// Events and `resync` notifications in arrival order (never taken: replica tests check the whole stream).
    var stream: [Incoming] = []
    /// Non-text frames (close, ping) seen while reading.
    var controlFrames: [ReceivedFrame] = []

    init(_ tcp: TCPClient) { self.tcp = tcp }

    /// Sends raw text as one frame.
    func sendText(_ text: String) throws { try tcp.send(WSFrame.text(text)) }

    /// Sends a request and returns its id.
    @discardableResult
    func send(_ method: String, _ params: String? = nil) throws -> Int {
        let id = nextID
        nextID += 1
        let p = params.map { ",\"params\":\($0)" } ?? ""
        try sendText("{\"jsonrpc\":\"2.0\",\"id\":\(id),\"method\":\"\(method)\"\(p)}")
        return id
    }

    /// Calls a method and waits for its answer.
    func call(_ method: String, _ params: String? = nil, timeoutMs: Int = 3000) throws -> Incoming {
        let id = try send(method, params)
        return try answer(id: id, timeoutMs: timeoutMs)
    }

    /// The answer with this id.
    func answer(id: Int, timeoutMs: Int = 3000) throws -> Incoming {
        let start = ContinuousClock.now
        while true {
            if let i = answers.firstIndex(where: { $0.value["id"] == .number(JSONNumber(id)) }) {
                return answers.remove(at: i)
            }
            let left = timeoutMs - millis(since: start)
            guard left > 0 else { throw ClientError("no answer to id \(id) within \(timeoutMs) ms") }
            try readOne(timeoutMs: left)
        }
    }

    /// The next message that is not an event (an answer to a raw send, a batch answer).
    func nextAnswer(timeoutMs: Int = 3000) throws -> Incoming {
        let start = ContinuousClock.now
        while answers.isEmpty {
            let left = timeoutMs - millis(since: start)
            guard left > 0 else { throw ClientError("no answer within \(timeoutMs) ms") }
            try readOne(timeoutMs: left)
        }
        return answers.removeFirst()
    }

    /// Waits until `count` events are held (or throws).
    func waitForEvents(_ count: Int, timeoutMs: Int = 5000) throws {
        let start = ContinuousClock.now
        while events.count < count {
            let left = timeoutMs - millis(since: start)
            guard left > 0 else { throw ClientError("\(events.count) of \(count) events within \(timeoutMs) ms") }
            try readOne(timeoutMs: left)
        }
    }

    /// Takes the events received so far.
    func takeEvents() -> [Incoming] {
        defer { events = [] }
        return events
    }

    /// Reads whatever arrives within `ms` (to check that nothing more comes).
    func drain(forMs ms: Int) {
        let start = ContinuousClock.now
        while millis(since: start) < ms {
            do { try readOne(timeoutMs: ms - millis(since: start)) } catch { return }
        }
    }

    /// The close frame the server sends next (answers and events before it are kept).
    func awaitCloseFrame(timeoutMs: Int = 3000) throws -> ReceivedFrame {
        let start = ContinuousClock.now
        while true {
            if let f = controlFrames.first(where: { $0.opcode == Op.close }) { return f }
            let left = timeoutMs - millis(since: start)
            guard left > 0 else { throw ClientError("no close frame within \(timeoutMs) ms") }
            try readOne(timeoutMs: left)
        }
    }

    func readOne(timeoutMs: Int) throws {
        let frame = try tcp.readFrame(timeoutMs: timeoutMs)
        guard frame.opcode == Op.text else {
            if frame.opcode == Op.ping { try tcp.send(WSFrame.build(Op.pong, frame.payload)) }
            controlFrames.append(frame)
            return
        }
        let value = try JSONParser().parse(frame.payload)
        let m = Incoming(value: value, raw: frame.payload)
        if m.isEvent { events.append(m) } else { answers.append(m) }
        if m.isEvent || m.value["method"] == .string("resync") { stream.append(m) }
    }

    func close() { tcp.close() }
}

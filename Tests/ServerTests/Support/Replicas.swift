import Accounts
import Gateway
import JSON
import Redis
import Store
import TestSupport

/// Which channel log a suite runs against: the in-process one, or Redis with two replicas.
enum BrokerKind: String, CaseIterable, CustomStringConvertible, Sendable {
    case local
    case redis
    var description: String { rawValue }
}

/// Two gateways that behave as one: with Redis, two `Application`s (each its own event loops,
/// Redis connections and store file) on one real `redis-server`; in-process, one gateway
/// playing both parts, so a suite written against `a` and `b` runs unchanged on both logs.
final class Replicas {
    let kind: BrokerKind
    let redis: [RedisServer]
    let a: TestGateway
    let b: TestGateway

    init(_ kind: BrokerKind, servers: Int = 1, _ adjust: @escaping (inout GatewayConfiguration) -> Void = { _ in },
         persistence: RedisServer.Persistence = .none, redisConfig: [String] = [], store: StoreBackend? = nil,
         accounts: @escaping (inout AccountsConfiguration) -> Void = { _ in }) throws {
        self.kind = kind
        switch kind {
        case .local:
            redis = []
            a = try TestGateway(adjust, store: store, accounts: accounts)
            b = a
        case .redis:
            let started = try (0..<servers).map { _ in try RedisServer.start(persistence: persistence, extraConfig: redisConfig) }
            redis = started
            let configure: (inout GatewayConfiguration) -> Void = { c in
                c.redis.servers = started.map { RedisURL(host: "127.0.0.1", port: $0.port) }
                adjust(&c)
            }
            a = try TestGateway(configure, store: store, accounts: accounts)
            b = try TestGateway(configure, store: store, accounts: accounts)
        }
    }

    func stop() {
        a.stop()
        if b !== a { b.stop() }
        for r in redis { r.destroy() }
    }

    /// The gateways (one when in-process).
    var all: [TestGateway] { a === b ? [a] : [a, b] }
}

extension RPCClient {
    /// `resync` notifications received so far (they are kept with the answers).
    var resyncs: [Incoming] { answers.filter { $0.value["method"] == .string("resync") } }

    func publish(_ channel: String, _ data: String, key: String? = nil, timeoutMs: Int = 3000) throws -> Incoming {
        let k = key.map { ",\"idempotencyKey\":\"\($0)\"" } ?? ""
        return try call("publish", "{\"channel\":\"\(channel)\",\"data\":\(data)\(k)}", timeoutMs: timeoutMs)
    }
}

/// `{"symbol":S,"price":P,"ts":…}`
func priceJSON(_ symbol: String, _ price: String) -> String {
    "{\"symbol\":\"\(symbol)\",\"price\":\"\(price)\",\"ts\":1764377000000}"
}

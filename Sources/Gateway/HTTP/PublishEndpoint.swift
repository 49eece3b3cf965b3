import JSON
import Reactor
import Server
import Synchronization
import WebSocketProtocol

/// `POST /api/v1/publish`: internal publishers push one event (`{"channel","data"}`) or a batch
/// (an array of those) with `Authorization: Bearer <publisher key>`. A batch is validated as a
/// whole: one bad item refuses all of it. The answer lists each event's position in order.
final class PublishEndpoint: Sendable {
    let broker: Broker
    let credentials: Credentials
    let configuration: GatewayConfiguration
    let isDraining: @Sendable () -> Bool
    /// One bucket for all HTTP publishers (events per second): the same budget as a publisher
    /// connection, so HTTP is no way around the socket's limit.
    private let bucket: Mutex<TokenBucket>

    init(broker: Broker, credentials: Credentials, configuration: GatewayConfiguration, isDraining: @escaping @Sendable () -> Bool) {
        self.broker = broker
        self.credentials = credentials
        self.configuration = configuration
        self.isDraining = isDraining
        self.bucket = Mutex(TokenBucket(rate: configuration.publisherRequestRate, burst: configuration.publisherRequestBurst,
                                        now: Clock.monotonicMillis()))
    }

    /// Answers through `respond`, exactly once: at once for a refused request, and for a
    /// publish when the log completes (inline with the in-process log).
    func handle(_ request: HTTPRequest, respond: @escaping (HTTPResponse) -> Void) {
        switch check(request) {
        case .refuse(let response):
            respond(response)
        case .publish(let items):
            broker.publish(items, now: Clock.monotonicMillis(), on: nil) { result in
                switch result {
                case .success(let outcome):
                    // A shared log lost a server mid-batch: 503 with what was published (2d).
                    respond(PublishEndpoint.results(items, outcome.positions, status: outcome.isComplete ? .ok : .serviceUnavailable))
                case .failure(let error):
                    respond(PublishEndpoint.error(.serviceUnavailable, error.reason, error == .tooManyChannels
                        ? "the gateway holds its maximum number of channels" : "the channel store does not answer; nothing was published"))
                }
            }
        }
    }

    /// What `check` decided: refuse with this answer, or publish these items.
    private enum Checked {
        case refuse(HTTPResponse)
        case publish([PublishItem])
    }

    /// Everything before the publish: drain, key, body, items, rate.
    private func check(_ request: HTTPRequest) -> Checked {
        if isDraining() { return .refuse(PublishEndpoint.error(.serviceUnavailable, "unavailable", "the gateway is shutting down")) }
        // The header only: a key in a URL ends up in proxy and access logs.
        switch Credentials.bearer(request.head, allowQuery: false) {
        case .success(let token?) where credentials.isPublisherKey(token):
            break
        case .success(nil):
            return .refuse(PublishEndpoint.error(.unauthorized, "unauthenticated", "a publisher key is required (Authorization: Bearer KEY)",
                                                 headers: [("WWW-Authenticate", "Bearer")]))
        default:
            return .refuse(PublishEndpoint.error(.unauthorized, "unauthenticated", "invalid publisher key",
                                                 headers: [("WWW-Authenticate", "Bearer error=\"invalid_token\"")]))
        }
        let body: JSONValue
        do {
            body = try JSONParser(maxDepth: 64).parse(request.body)
        } catch {
            return .refuse(PublishEndpoint.error(.badRequest, "parse_error", "invalid JSON: \(error.description)"))
        }
        let entries: [JSONValue]
        switch body {
        case .array(let a):
            guard !a.isEmpty else { return .refuse(PublishEndpoint.error(.badRequest, "invalid_request", "empty batch")) }
            guard a.count <= configuration.maxPublishBatch else {
                return .refuse(PublishEndpoint.error(.payloadTooLarge, "too_large", "at most \(configuration.maxPublishBatch) events per request"))
            }
            entries = a
        case .object:
            entries = [body]
        default:
            return .refuse(PublishEndpoint.error(.badRequest, "invalid_request", "the body must be an event object or an array of them"))
        }
        var items: [PublishItem] = []
        items.reserveCapacity(entries.count)
        for (i, entry) in entries.enumerated() {
            switch PublishEndpoint.item(entry) {
            case .success(let item): items.append(item)
            case .failure(let f):
                return .refuse(PublishEndpoint.error(f.status, f.reason, f.message, index: body.arrayValue != nil ? i : nil))
            }
        }
        let admitted = bucket.withLock { $0.take(items.count, now: Clock.monotonicMillis()) }
        guard admitted else {
            return .refuse(PublishEndpoint.error(.tooManyRequests, "rate_limited", "publish rate over \(configuration.publisherRequestRate) events/s"))
        }
        return .publish(items)
    }

    /// `{"results":[{"channel","epoch","seq"},…]}` in request order; null for an item not
    /// published (503: its server was lost in the middle of the batch, contract 2d).
    static func results(_ items: [PublishItem], _ positions: [StreamPosition?], status: HTTPStatus) -> HTTPResponse {
        var w = JSONWriter(reservingCapacity: 32 + positions.count * 64)
        if status != .ok {
            w.writeRaw("{\"error\":{\"code\":")
            w.writeInt(Int64(status.rawValue))
            w.writeRaw(",\"reason\":\"unavailable\",\"message\":\"a channel store was lost in the middle of the batch: the items with null results were not published\"},")
        } else {
            w.writeRaw("{")
        }
        w.writeRaw("\"results\":[")
        for (i, (item, position)) in zip(items, positions).enumerated() {
            if i > 0 { w.writeRaw(",") }
            if let position { w.write(.object(ChannelMethods.positionResult(item.channel, position))) } else { w.writeRaw("null") }
        }
        w.writeRaw("]}")
        return HTTPResponse(status: status, headers: [("Content-Type", "application/json")], body: w.bytes)
    }

    struct ItemError: Error {
        let status: HTTPStatus
        let reason: String
        let message: String
    }

    static func item(_ entry: JSONValue) -> Result<PublishItem, ItemError> {
        guard case .object(let o) = entry else {
            return .failure(ItemError(status: .badRequest, reason: "invalid_request", message: "each event must be an object"))
        }
        if let extra = o.keys.first(where: { $0 != "channel" && $0 != "data" && $0 != "idempotencyKey" }) {
            let shown = String(decoding: extra.utf8.prefix(64), as: UTF8.self)
            return .failure(ItemError(status: .badRequest, reason: "invalid_request", message: "unknown member '\(shown)'"))
        }
        guard case .string(let name)? = o["channel"], let channel = ChannelName(name) else {
            return .failure(ItemError(status: .badRequest, reason: "invalid_channel", message: "unknown channel prefix or bad channel name"))
        }
        var key: String?
        if let k = o["idempotencyKey"] {
            guard case .string(let s) = k, PublishItem.isValidIdempotencyKey(s) else {
                return .failure(ItemError(status: .badRequest, reason: "invalid_request", message: PublishItem.idempotencyKeyRule))
            }
            key = s
        }
        switch EventData.refusal(publishing: o["data"] ?? .null, to: channel) {
        case .portfolioChannel?:
            return .failure(ItemError(status: .forbidden, reason: "forbidden", message: EventData.Refusal.portfolioMessage))
        case .invalidData(let invalid)?:
            let message = o["data"] == nil ? "data is required" : "\(invalid.field): \(invalid.message)"
            return .failure(ItemError(status: .badRequest, reason: "invalid_data", message: message))
        case nil:
            return .success(PublishItem(channel, o["data"] ?? .null, idempotencyKey: key))
        }
    }

    /// `{"error":{"code":STATUS,"reason":…,"message":…}}`
    static func error(_ status: HTTPStatus, _ reason: String, _ message: String, index: Int? = nil,
                      headers: [(String, String)] = []) -> HTTPResponse {
        var w = JSONWriter(reservingCapacity: 128)
        w.writeRaw("{\"error\":{\"code\":")
        w.writeInt(Int64(status.rawValue))
        w.writeRaw(",\"reason\":")
        w.writeString(reason)
        w.writeRaw(",\"message\":")
        w.writeString(message)
        if let index {
            w.writeRaw(",\"index\":")
            w.writeInt(Int64(index))
        }
        w.writeRaw("}}")
        return HTTPResponse(status: status, headers: [("Content-Type", "application/json")] + headers, body: w.bytes)
    }
}

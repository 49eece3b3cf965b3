import JSON
import Reactor

/// `subscribe`, `unsubscribe`, `publish`, `prices.latest`, `predictions.latest`.
enum ChannelMethods {
    static func register(in registry: inout MethodRegistry, broker: Broker, configuration: GatewayConfiguration,
                         access: (any ChannelAccess)?) {
        registry.register(MethodSpec("subscribe", params: [
            .required("channel", .string), .optional("since", .object), .optional("snapshot", .bool), .optional("maxRate", .number),
        ]) { call in subscribe(call, broker: broker, configuration: configuration, access: access) })

        registry.register(MethodSpec("unsubscribe", params: [.required("channel", .string)]) { call in
            guard let channel = channelParam(call) else { return }
            let removed = call.session.stopSubscription(channel.name)
            call.succeed(.object(JSONObject([("unsubscribed", .bool(removed))])))
        })

        registry.register(MethodSpec("publish", params: [
            .required("channel", .string), .required("data", .object), .optional("idempotencyKey", .string),
        ]) { call in
            guard let channel = channelParam(call) else { return }
            guard call.client.role.isPublisher else {
                call.fail(.forbidden("publishing needs a publisher key"))
                return
            }
            let data = call.params["data"] ?? .null
            switch EventData.refusal(publishing: data, to: channel) {
            case .portfolioChannel?:
                call.fail(.forbidden(EventData.Refusal.portfolioMessage))
                return
            case .invalidData(let invalid)?:
                call.fail(.invalidData(field: invalid.field, invalid.message))
                return
            case nil:
                break
            }
            var key: String?
            if case .string(let k)? = call.params["idempotencyKey"] {
                guard PublishItem.isValidIdempotencyKey(k) else { return call.fail(.invalidParam("idempotencyKey", PublishItem.idempotencyKeyRule)) }
                key = k
            }
            broker.publish([PublishItem(channel, data, idempotencyKey: key)], now: call.session.now, on: call.client.loop) { result in
                switch result {
                case .success(let outcome):
                    guard let position = outcome.positions.first ?? nil else { return call.fail(ChannelLogError.unavailable.rpcError) }
                    call.succeed(.object(positionResult(channel, position)))
                case .failure(let error): call.fail(error.rpcError)
                }
            }
        })

        registry.register(MethodSpec("prices.latest", params: [.required("symbols", .array)]) { call in
            guard case .array(let symbols)? = call.params["symbols"], (1...100).contains(symbols.count) else {
                call.fail(.invalidParam("symbols", "symbols must hold 1 to 100 symbols"))
                return
            }
            var channels: [ChannelName] = []
            for s in symbols {
                guard case .string(let sym) = s, let ch = ChannelName("prices:" + sym) else {
                    call.fail(.invalidParam("symbols", "each symbol must be 1-16 of A-Z 0-9 . - _"))
                    return
                }
                channels.append(ch)
            }
            guard marketAllowed(call, configuration) else { return }
            broker.latest(channels, on: call.client.loop) { result in
                switch result {
                case .success(let events):
                    var prices = JSONObject()
                    for (ch, e) in zip(channels, events) { prices.set(ch.key, e?.params ?? .null) }
                    call.succeed(.object(JSONObject([("prices", .object(prices))])))
                case .failure(let error):
                    call.fail(error.rpcError)
                }
            }
        })

        registry.register(MethodSpec("predictions.latest", params: [.required("symbol", .string)]) { call in
            guard case .string(let sym)? = call.params["symbol"], let ch = ChannelName("predictions:" + sym) else {
                call.fail(.invalidParam("symbol", "symbol must be 1-16 of A-Z 0-9 . - _"))
                return
            }
            guard marketAllowed(call, configuration) else { return }
            broker.latest([ch], on: call.client.loop) { result in
                switch result {
                case .success(let events): call.succeed(events.first??.params ?? .null)
                case .failure(let error): call.fail(error.rpcError)
                }
            }
        })
    }

    /// `{"channel","epoch","seq"}`: what publish and subscribe answer.
    static func positionResult(_ channel: ChannelName, _ p: StreamPosition) -> JSONObject {
        JSONObject([("channel", .string(channel.name)), ("epoch", .string(p.epoch)), ("seq", .number(JSONNumber(Int(p.seq))))])
    }

    private static func channelParam(_ call: RPCCall) -> ChannelName? {
        guard case .string(let name)? = call.params["channel"], let channel = ChannelName(name) else {
            call.fail(.invalidChannel())
            return nil
        }
        return channel
    }

    private static func marketAllowed(_ call: RPCCall, _ configuration: GatewayConfiguration) -> Bool {
        if configuration.requireLoginForMarket, case .anonymous = call.client.role {
            call.fail(.unauthenticated("market data needs a logged-in user on this gateway"))
            return false
        }
        return true
    }

    /// Who may subscribe: market channels are public (unless the setting requires login);
    /// a portfolio channel only for its owner.
    private static func mayRead(_ channel: ChannelName, _ call: RPCCall, _ configuration: GatewayConfiguration) -> Bool {
        switch channel.kind {
        case .prices, .predictions:
            return marketAllowed(call, configuration)
        case .portfolio:
            switch call.client.role {
            case .anonymous:
                call.fail(.unauthenticated("portfolio channels need a logged-in owner"))
                return false
            case .publisher:
                call.fail(.forbidden("publishers cannot read portfolio channels"))
                return false
            case .user:
                return true   // ownership: `authorize` asks the store
            }
        }
    }

    private static func subscribe(_ call: RPCCall, broker: Broker, configuration: GatewayConfiguration, access: (any ChannelAccess)?) {
        guard let channel = channelParam(call) else { return }
        let p = call.params
        var since: StreamPosition?
        if case .object(let s)? = p["since"] {
            guard case .string(let epoch)? = s["epoch"], case .number(let n)? = s["seq"], let seq = n.int64, seq >= 0,
                  s.count == 2 else {
                call.fail(.invalidParam("since", "since must be {\"epoch\": string, \"seq\": integer >= 0}"))
                return
            }
            since = StreamPosition(epoch: epoch, seq: UInt64(seq))
        }
        var minInterval: Millis = 0
        if case .number(let n)? = p["maxRate"] {
            guard let rate = n.double, rate > 0, rate <= 1000 else {
                call.fail(.invalidParam("maxRate", "maxRate must be a number of events per second in (0, 1000]"))
                return
            }
            // Rounded up (never faster than asked) and capped at a day, so no rate, however
            // tiny, overflows the clock arithmetic.
            let ms = (1000 / rate).rounded(.up)
            minInterval = ms >= 86_400_000 ? 86_400_000 : max(1, Millis(ms))
        }
        let snapshot = p["snapshot"] == .bool(true)
        authorize(channel, call, configuration, access) {
            proceed(call, channel, since: since, snapshot: snapshot, minInterval: minInterval, broker: broker, configuration: configuration)
        }
    }

    /// Runs `then` when the caller may read `channel`; answers the refusal otherwise. Market
    /// channels are decided at once; a portfolio channel asks the store who owns it (`access`),
    /// and only a user still that user when the answer comes may go on.
    private static func authorize(_ channel: ChannelName, _ call: RPCCall, _ configuration: GatewayConfiguration,
                                  _ access: (any ChannelAccess)?, then: @escaping () -> Void) {
        guard mayRead(channel, call, configuration) else { return }
        guard channel.kind == .portfolio else { return then() }
        guard case .user(let userId) = call.client.role, let access else {
            return call.fail(.forbidden(portfolioRefusal))
        }
        access.mayRead(channel, userId: userId, on: call.client.loop) { allowed in
            guard allowed, call.client.role == .user(id: userId) else { return call.fail(.forbidden(portfolioRefusal)) }
            then()
        }
    }

    /// The one refusal for a portfolio channel that is missing, another user's, or malformed.
    static let portfolioRefusal = "no such portfolio of yours"

    private static func proceed(_ call: RPCCall, _ channel: ChannelName, since: StreamPosition?, snapshot: Bool, minInterval: Millis,
                                broker: Broker, configuration: GatewayConfiguration) {
        let session = call.session

        if let existing = session.subscription(channel.name) {
            // Idempotent: no second delivery; a new maxRate applies from now.
            existing.minInterval = minInterval
            broker.position(channel, on: session.eventLoop) { answer in
                let pos: StreamPosition
                switch answer {
                case .failure(let error):
                    call.fail(error.rpcError)
                    return
                case .success(let position):
                    pos = position ?? StreamPosition(epoch: "", seq: 0)
                }
                var result = positionResult(channel, pos)
                if let since {
                    // Everything after the subscription began reaches this client anyway.
                    result.set("recovered", .bool(since.epoch == pos.epoch && since.seq >= existing.startSeq && since.seq <= pos.seq))
                }
                call.succeed(.object(result))
            }
            return
        }
        guard session.subscriptionCount < configuration.maxSubscriptions else {
            call.fail(.limitExceeded("too_many_subscriptions", "at most \(configuration.maxSubscriptions) subscriptions per connection"))
            return
        }
        // On the hub (held) before the log is asked: live events may arrive before its answer.
        let subscription = session.addSubscription(channel, minInterval: minInterval)
        broker.subscribe(channel, hub: session.hub.index, since: since, snapshot: snapshot, now: session.now,
                         on: session.eventLoop) { answer in
            switch answer {
            case .failure(let error):
                session.abandon(subscription)
                call.fail(error.rpcError)
            case .success(let grant):
                var result = positionResult(channel, StreamPosition(epoch: grant.epoch, seq: grant.seq))
                if let recovered = grant.recovered { result.set("recovered", .bool(recovered)) }
                session.granted(subscription, grant)
                let replay = grant.replay
                call.afterReply { session.start(subscription, replay: replay) }
                call.succeed(.object(result))
            }
        }
    }
}

@testable import Gateway
import JSON
import Reactor
@testable import Server
import Synchronization
import Testing
import WebSocketProtocol

/// A log that answers later (as Redis will), driven by hand: the publish paths wait for it, map
/// its refusals, and run taps only for what it published.
final class HeldLog: ChannelLog, @unchecked Sendable {
    // @unchecked: a test double driven from the test's one thread.
    var publishes: [([PublishItem], (Result<PublishOutcome, ChannelLogError>) -> Void)] = []

    func publish(_ items: [PublishItem], now: Millis, on loop: EventLoop?, _ done: @escaping (Result<PublishOutcome, ChannelLogError>) -> Void) {
        publishes.append((items, done))
    }

    /// Answers the oldest waiting publish (and lets go of its callback, which holds the broker).
    func completeNext(_ result: Result<PublishOutcome, ChannelLogError>) {
        guard !publishes.isEmpty else { return }
        publishes.removeFirst().1(result)
    }
    func subscribe(_ channel: ChannelName, since: StreamPosition?, snapshot: Bool, now: Millis, on loop: EventLoop?,
                   _ done: @escaping (Result<ChannelGrant, ChannelLogError>) -> Void) { done(.failure(.unavailable)) }
    func unsubscribe(_ channels: [ChannelName], now: Millis) {}
    func position(_ channel: ChannelName, on loop: EventLoop?, _ done: @escaping (Result<StreamPosition?, ChannelLogError>) -> Void) {
        done(.failure(.unavailable))
    }
    func latest(_ channels: [ChannelName], on loop: EventLoop?, _ done: @escaping (Result<[Event?], ChannelLogError>) -> Void) {
        done(.failure(.unavailable))
    }
    func history(_ channel: ChannelName, after since: StreamPosition, now: Millis, on loop: EventLoop?,
                 _ done: @escaping (Result<[Event]?, ChannelLogError>) -> Void) { done(.failure(.unavailable)) }
    func trim(now: Millis) {}
    var trimInterval: Millis { 10_000 }
    var channelCount: Int { 0 }
}

@Suite("A deferred channel log")
struct DeferredLogTests {
    let key = "publisher-key-for-deferred-log-tests"

    func endpoint(_ log: HeldLog) -> (PublishEndpoint, Broker) {
        var c = GatewayConfiguration()
        c.publisherKeys = [key]
        let broker = Broker(log: log, fanOut: FanOut(hubs: [LoopHub(index: 0)]))
        return (PublishEndpoint(broker: broker, credentials: Credentials(c, accessTokens: nil), configuration: c, isDraining: { false }), broker)
    }

    func request(_ body: String) -> HTTPRequest {
        HTTPRequest(head: HTTPRequestHead(method: "POST", target: "/api/v1/publish", versionMinor: 1,
                                          headers: [.init(name: "authorization", value: "Bearer \(key)")]),
                    body: Array(body.utf8))
    }

    let body = #"{"channel":"prices:D","data":{"symbol":"D","price":"1","ts":1}}"#

    @Test func httpPublishAnswersWhenTheLogDoes() throws {
        let log = HeldLog()
        let (publish, broker) = endpoint(log)
        let tapped = Mutex(0)
        broker.addTap { events in tapped.withLock { $0 += events.count } }
        var answers: [HTTPResponse] = []
        publish.handle(request(body)) { answers.append($0) }
        #expect(answers.isEmpty)                         // waiting for the log
        try #require(log.publishes.count == 1)
        let channel = try #require(ChannelName("prices:D"))
        #expect(log.publishes[0].0.map(\.channel) == [channel])
        let event = Event(channel: channel, position: StreamPosition(epoch: "e", seq: 7), data: .object(JSONObject()),
                          dataJSON: Array("{}".utf8), publishedAt: 1)
        log.completeNext(.success(PublishOutcome(positions: [event.position], events: [event])))
        #expect(answers.map(\.status) == [.ok])
        #expect(String(decoding: answers[0].body, as: UTF8.self) == #"{"results":[{"channel":"prices:D","epoch":"e","seq":7}]}"#)
        #expect(tapped.withLock { $0 } == 1)
    }

    @Test func anUnavailableLogIs503AndNoTap() throws {
        let log = HeldLog()
        let (publish, broker) = endpoint(log)
        let tapped = Mutex(0)
        broker.addTap { _ in tapped.withLock { $0 += 1 } }
        var answers: [HTTPResponse] = []
        publish.handle(request(body)) { answers.append($0) }
        try #require(log.publishes.count == 1)
        log.completeNext(.failure(.unavailable))
        #expect(answers.map(\.status) == [.serviceUnavailable])
        let error = try JSONParser().parse(answers[0].body)
        #expect(error.objectValue?["error"]?.objectValue?["reason"] == .string("unavailable"))
        #expect(tapped.withLock { $0 } == 0)
    }

    @Test func aServerLostMidBatchIs503WithThePublishedPositions() throws {
        let log = HeldLog()
        let (publish, broker) = endpoint(log)
        let tapped = Mutex(0)
        broker.addTap { events in tapped.withLock { $0 += events.count } }
        var answers: [HTTPResponse] = []
        let second = #"{"channel":"prices:E","data":{"symbol":"E","price":"1","ts":1}}"#
        publish.handle(request("[\(body),\(second)]")) { answers.append($0) }
        try #require(log.publishes.count == 1)
        let channel = try #require(ChannelName("prices:D"))
        let event = Event(channel: channel, position: StreamPosition(epoch: "e", seq: 3), data: .object(JSONObject()),
                          dataJSON: Array("{}".utf8), publishedAt: 1)
        log.completeNext(.success(PublishOutcome(positions: [event.position, nil], events: [event])))
        #expect(answers.map(\.status) == [.serviceUnavailable])
        let answer = try JSONParser().parse(answers[0].body)
        #expect(answer.objectValue?["error"]?.objectValue?["code"] == .number(JSONNumber(503)))
        let results = try #require(answer.objectValue?["results"]?.arrayValue)
        #expect(results.count == 2 && results[1] == .null)
        #expect(results[0].objectValue?["seq"] == .number(JSONNumber(3)))
        #expect(tapped.withLock { $0 } == 1)
    }

    @Test func logErrorsMapToTheContractsCodes() {
        #expect(ChannelLogError.tooManyChannels.rpcError.code == -32008)
        #expect(ChannelLogError.tooManyChannels.rpcError.reason == "too_many_channels")
        #expect(ChannelLogError.unavailable.rpcError.code == -32013)
        #expect(ChannelLogError.unavailable.rpcError.reason == "unavailable")
    }
}

import JSON
import Reactor
import WebSocketProtocol

/// Where an event sits in its channel's stream.
public struct StreamPosition: Equatable, Sendable {
    public let epoch: String
    public let seq: UInt64

    public init(epoch: String, seq: UInt64) {
        self.epoch = epoch
        self.seq = seq
    }
}

/// One published event, immutable once made. Its notification is serialised and framed once,
/// and the same sealed bytes are queued to every subscriber on every loop (by reference).
public final class Event: Sendable {
    public let channel: ChannelName
    public let position: StreamPosition
    public let data: JSONValue
    /// Monotonic time of publication: the history's age limit is measured against it.
    public let publishedAt: Millis
    /// `{"jsonrpc":"2.0","method":"event","params":{…}}` as one unmasked text frame.
    public let frame: ByteChunk
    /// Where the notification starts in `frame` (after the header).
    let payloadOffset: Int
    /// Estimated bytes this event holds (objects, frame, parsed data), for the history budget.
    let footprint: Int
    /// Not an event but a `resync` notice (contract 2d): the stream goes on after `position`,
    /// whatever a subscriber had before; its frame is the `resync` notification.
    let isResync: Bool

    /// `dataJSON` is `data` already written (done before the broker's lock is taken).
    convenience init(channel: ChannelName, position: StreamPosition, data: JSONValue, dataJSON: [UInt8], publishedAt: Millis) {
        var w = JSONWriter(reservingCapacity: dataJSON.count + channel.name.utf8.count + 96)
        w.writeRaw("{\"jsonrpc\":\"2.0\",\"method\":\"event\",\"params\":")
        Event.writeParams(&w, channel: channel, position: position, dataJSON: dataJSON)
        w.writeRaw("}")
        self.init(channel: channel, position: position, data: data, payload: w.bytes, dataCount: dataJSON.count,
                  publishedAt: publishedAt, isResync: false)
    }

    /// `{"jsonrpc":"2.0","method":"resync","params":{"channel","epoch","seq"}}`: the next event
    /// of the channel has seq + 1 (in `position`'s epoch).
    static func resync(_ channel: ChannelName, at position: StreamPosition, now: Millis) -> Event {
        var w = JSONWriter(reservingCapacity: channel.name.utf8.count + 96)
        w.writeRaw("{\"jsonrpc\":\"2.0\",\"method\":\"resync\",\"params\":")
        w.write(.object(ChannelMethods.positionResult(channel, position)))
        w.writeRaw("}")
        return Event(channel: channel, position: position, data: .null, payload: w.bytes, dataCount: 0, publishedAt: now, isResync: true)
    }

    private init(channel: ChannelName, position: StreamPosition, data: JSONValue, payload: [UInt8], dataCount: Int,
                 publishedAt: Millis, isResync: Bool) {
        self.channel = channel
        self.position = position
        self.data = data
        self.publishedAt = publishedAt
        self.isResync = isResync
        let chunk = ByteChunk(capacity: FrameEncoder.maxHeaderLength + payload.count)
        self.payloadOffset = FrameEncoder.headerLength(payloadLength: payload.count)
        chunk.withUnsafeTail(reserving: FrameEncoder.maxHeaderLength + payload.count) { out in
            guard let base = out.baseAddress else { return 0 }
            let h = FrameEncoder.writeHeader(opcode: .text, payloadLength: payload.count, to: base)
            payload.withUnsafeBytes { p in
                if let src = p.baseAddress { (base + h).copyMemory(from: src, byteCount: p.count) }
            }
            return h + payload.count
        }
        chunk.seal()
        self.frame = chunk
        // The parsed `data` tree costs about twice its JSON text; objects ~200 bytes.
        self.footprint = 200 + chunk.capacity + 2 * dataCount
    }

    public var seq: UInt64 { position.seq }

    /// The notification's bytes (the frame without its header).
    var payload: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: frame.bytes[payloadOffset...]) }

    /// The notification's `params`: the "event" object that `prices.latest` and friends answer.
    public var params: JSONValue {
        .object(JSONObject([
            ("channel", .string(channel.name)),
            ("epoch", .string(position.epoch)),
            ("seq", .number(JSONNumber(uncheckedText: String(position.seq)))),
            ("data", data),
        ]))
    }

    static func writeParams(_ w: inout JSONWriter, channel: ChannelName, position: StreamPosition, dataJSON: [UInt8]) {
        w.writeRaw("{\"channel\":")
        w.writeString(channel.name)
        w.writeRaw(",\"epoch\":")
        w.writeString(position.epoch)
        w.writeRaw(",\"seq\":")
        w.writeInt(Int64(position.seq))
        w.writeRaw(",\"data\":")
        w.writeRaw(dataJSON)
        w.writeRaw("}")
    }
}

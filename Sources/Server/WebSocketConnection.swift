import Log
import Reactor
import WebSocketProtocol

/// An established WebSocket: the RFC 6455 session on top of one reactor connection. It turns
/// bytes into messages for the application, answers pings, runs the keep-alive (ping every
/// `pingInterval`, close 4000 after `idleTimeout` of silence) and the close handshake.
public final class WebSocketConnection: ConnectionHandler {
    enum State: UInt8 {
        case open
        /// We sent a close frame and wait for the peer's (bounded by `closeTimeout`).
        case closeSent
        case closed
    }

    /// A strong reference (counted once here, released in deinit); the connection holds us as
    /// its handler until the loop reaps it, which breaks the cycle. `Retained` so the per-event
    /// path reads it without retaining it each time.
    private let connectionRef: Retained<Connection>
    public var connection: Connection { connectionRef.object }
    let settings: WebSocketSettings
    var application: (any WebSocketApplication)?
    private var assembler: MessageAssembler
    /// permessage-deflate, when negotiated; nil keeps every path exactly as without it.
    private let compression: ConnectionCompression?
    private(set) var state: State = .open
    private var lastActivity: Millis
    private var lastPing: Millis = 0
    private var closeCode: CloseCode = .abnormalClosure

    init(connection: Connection, settings: WebSocketSettings, deflate: DeflateParameters? = nil) {
        self.connectionRef = Retained(connection)
        self.settings = settings
        self.assembler = MessageAssembler(maxMessageSize: settings.maxMessageSize)
        if let deflate {
            compression = ConnectionCompression(deflate, minMessageSize: settings.deflateMinMessageSize,
                                                shared: settings.loopCompression[connection.loop.index])
            assembler.decoder.allowsRSV1 = true
        } else {
            compression = nil
        }
        self.lastActivity = connection.loop.now
        connection.setDeadline(lastActivity + settings.pingInterval)
    }

    deinit { connectionRef.release() }

    public var isOpen: Bool { state == .open }

    // MARK: Sending

    /// Sends one unfragmented message (copied once into the outbound queue; compressed on the
    /// way when permessage-deflate was negotiated and it is at least the minimum size).
    public func send(_ opcode: Opcode, _ payload: UnsafeRawBufferPointer) {
        guard state == .open else { return }
        if let compression, payload.count >= compression.minMessageSize {
            sendCompressed(opcode, payload, compression)
            return
        }
        connection.write(reserving: FrameEncoder.maxHeaderLength + payload.count) { out in
            guard let base = out.baseAddress else { return 0 }
            return WebSocketConnection.writePlainFrame(opcode, payload, to: base)
        }
    }

    /// Compresses straight into the outbound buffer.
    private func sendCompressed(_ opcode: Opcode, _ payload: UnsafeRawBufferPointer, _ compression: ConnectionCompression) {
        let deflater = compression.deflater()
        let room = deflater.maxCompressedSize(payload.count)
        connection.write(reserving: FrameEncoder.maxHeaderLength + room) { out in
            guard let base = out.baseAddress else { return 0 }
            // Without context takeover an incompressible message may go out as it is; with it,
            // the peer must see every message our deflater's history holds.
            return WebSocketConnection.writeCompressedFrame(opcode, payload, deflater, to: base, room: room,
                                                            evenIfLarger: !compression.parameters.serverNoContextTakeover)
                ?? WebSocketConnection.writePlainFrame(opcode, payload, to: base)
        }
        compression.didCompress(deflater)
    }

    /// Header and payload at `base` (room for `maxHeaderLength + payload.count`); the length.
    private static func writePlainFrame(_ opcode: Opcode, _ payload: UnsafeRawBufferPointer, to base: UnsafeMutableRawPointer) -> Int {
        let n = payload.count
        let h = FrameEncoder.writeHeader(opcode: opcode, payloadLength: n, to: base)
        if let src = payload.baseAddress, n > 0 { (base + h).copyMemory(from: src, byteCount: n) }
        return h + n
    }

    /// A compressed (RSV1) frame at `base` (room for `maxHeaderLength + room`): the payload is
    /// compressed after room for the longest header, then moved down once its length (and so
    /// the header's) is known. nil when it did not fit or, unless `evenIfLarger`, did not shrink.
    private static func writeCompressedFrame(_ opcode: Opcode, _ payload: UnsafeRawBufferPointer, _ deflater: Deflater,
                                             to base: UnsafeMutableRawPointer, room: Int, evenIfLarger: Bool) -> Int? {
        let gap = FrameEncoder.maxHeaderLength
        guard let c = deflater.compress(payload, into: UnsafeMutableRawBufferPointer(start: base + gap, count: room)),
              c < payload.count || evenIfLarger else { return nil }
        let h = FrameEncoder.headerLength(payloadLength: c)
        (base + h).copyMemory(from: base + gap, byteCount: c)   // memmove: the ranges may overlap
        _ = FrameEncoder.writeHeader(opcode: opcode, rsv1: true, payloadLength: c, to: base)
        return h + c
    }

    public func send(text: String) {
        var text = text
        text.withUTF8 { send(.text, UnsafeRawBufferPointer($0)) }
    }

    /// The key under which a compressed copy of a shared message suits this connection: its
    /// server window bits, when it agreed to no server context takeover (every message then
    /// compresses on its own, so one copy serves every such connection with the same window).
    /// nil: send shared messages uncompressed (always allowed by RFC 7692).
    public var sharedCompressionKey: Int? {
        guard let compression, compression.parameters.serverNoContextTakeover else { return nil }
        return compression.parameters.serverMaxWindowBits
    }

    /// Messages shorter than this go out uncompressed.
    public var compressionMinSize: Int { compression?.minMessageSize ?? .max }

    /// A sealed, compressed (RSV1) frame of `payload` for every connection whose
    /// `sharedCompressionKey` equals this one's; nil when it would not be smaller or this
    /// connection has no shared key. Uses the loop's shared deflater.
    public func makeSharedCompressedFrame(_ opcode: Opcode, _ payload: UnsafeRawBufferPointer) -> ByteChunk? {
        guard let compression, sharedCompressionKey != nil else { return nil }
        let deflater = compression.deflater()
        defer { compression.didCompress(deflater) }
        let room = deflater.maxCompressedSize(payload.count)
        let chunk = ByteChunk(capacity: FrameEncoder.maxHeaderLength + room)
        var smaller = false
        chunk.withUnsafeTail(reserving: FrameEncoder.maxHeaderLength + room) { out in
            guard let base = out.baseAddress,
                  let n = WebSocketConnection.writeCompressedFrame(opcode, payload, deflater, to: base, room: room, evenIfLarger: false)
            else { return 0 }
            smaller = true
            return n
        }
        guard smaller else { return nil }
        chunk.seal()
        return chunk
    }

    /// Queues a frame that was encoded once for many connections (shared, not copied).
    public func send(sharedFrame: ByteChunk) {
        guard state == .open else { return }
        connection.write(shared: sharedFrame)
    }

    /// `send(sharedFrame:)` for fan-out inside a connection burst: the caller keeps the frame
    /// alive until the burst ends (see `Connection.write(borrowed:)`).
    @inline(__always)
    public func send(borrowedFrame: Unretained<ByteChunk>) {
        guard state == .open else { return }
        connectionRef.with { $0.write(borrowed: borrowedFrame) }
    }

    /// Starts the closing handshake with `code`. With `discardingQueued`, messages queued but
    /// not started are dropped first, so the close goes out now (a slow consumer learns why).
    public func close(_ code: CloseCode, reason: String = "", discardingQueued: Bool = false) {
        guard state == .open else { return }
        if discardingQueued { connection.discardQueuedOutput() }
        connection.write(FrameEncoder.closeFrame(code, reason: reason))
        closeCode = code
        state = .closeSent
        connection.setDeadline(connection.loop.now + settings.closeTimeout)
    }

    // MARK: ConnectionHandler

    public func connectionDidRead(_ connection: Connection, _ bytes: UnsafeMutableRawBufferPointer) {
        lastActivity = connection.loop.now
        guard state != .closed else { return }
        var index = 0
        do {
            while let message = try assembler.next(bytes, &index) {
                switch message {
                case .text(let p):
                    if state == .open && !deliver(.text, p, in: bytes) { return }
                case .binary(let p):
                    if state == .open && !deliver(.binary, p, in: bytes) { return }
                case .ping(let payload):
                    if state == .open { connection.write(FrameEncoder.frame(.pong, payload: payload)) }
                case .pong:
                    break   // activity is recorded above
                case .close(let code, _):
                    receivedClose(code)
                    return
                }
                if connection.isClosed { return }
            }
        } catch {
            fail(error)
        }
    }

    /// Hands a data message to the application; false when the connection failed instead.
    @inline(__always)
    private func deliver(_ opcode: Opcode, _ payload: MessagePayload, in bytes: UnsafeMutableRawBufferPointer) -> Bool {
        if assembler.messageIsCompressed { return deliverCompressed(opcode, payload, in: bytes) }
        payload.withBytes(in: bytes) { application?.webSocket(self, didReceive: opcode, payload: $0) }
        return true
    }

    /// Inflates a compressed message (bounded by the message limit: 1009 as soon as it is
    /// crossed), checks text as UTF-8 (1007) and delivers it. False when the connection failed.
    private func deliverCompressed(_ opcode: Opcode, _ payload: MessagePayload, in bytes: UnsafeMutableRawBufferPointer) -> Bool {
        // RSV1 is only accepted when negotiated, so `compression` is set here.
        guard let compression else { return false }
        let inflater = compression.inflater()
        let outcome = payload.withBytes(in: bytes) { compressed -> Result<Bool, InflateError> in
            Result { () throws(InflateError) -> Bool in
                try inflater.inflate(compressed, limit: settings.maxMessageSize) { plain -> Bool in
                    if opcode == .text && !UTF8Validator.isValid(plain) { return false }
                    application?.webSocket(self, didReceive: opcode, payload: plain)
                    return true
                }
            }
        }
        compression.didInflate(inflater)
        switch outcome {
        case .success(true):
            return true
        case .success(false):
            fail(.invalidUTF8)
        case .failure(let error):
            fail(error.closeCode, reason: error.reason)
        }
        return false
    }

    public func connectionDidReadEOF(_ connection: Connection) {
        // TCP ended without a close frame: abnormal (1006).
        connection.close()
    }

    public func connectionDeadlineDidPass(_ connection: Connection, now: Millis) {
        switch state {
        case .closed:
            return
        case .closeSent:
            settings.logger.debug("close handshake timed out", metadata: ["conn": "\(connection.id)"])
            connection.close()
        case .open:
            if now &- lastActivity >= settings.idleTimeout {
                settings.logger.debug("idle timeout", metadata: ["conn": "\(connection.id)"])
                close(.idleTimeout, reason: "idle timeout")
                return
            }
            let quietSince = max(lastActivity, lastPing)
            if now &- quietSince >= settings.pingInterval {
                connection.write(FrameEncoder.frame(.ping, payload: []))
                lastPing = now
            }
            connection.setDeadline(min(max(lastActivity, lastPing) + settings.pingInterval,
                                       lastActivity + settings.idleTimeout))
        }
    }

    public func connectionShouldDrain(_ connection: Connection) {
        if state == .open {
            close(.goingAway, reason: "server shutting down")
        }
    }

    public func connectionDidClose(_ connection: Connection, error: SystemError?) {
        state = .closed
        let app = application
        application = nil
        app?.webSocketDidClose(self, code: closeCode)
    }

    // MARK: Closing

    private func receivedClose(_ code: CloseCode?) {
        if state == .open {
            // Echo the peer's code (§5.5.1); an empty close gets an empty close back.
            if let code {
                connection.write(FrameEncoder.closeFrame(code))
            } else {
                connection.write(FrameEncoder.frame(.close, payload: []))
            }
            closeCode = code ?? .noStatus
        }
        state = .closed
        // The server closes TCP first (§7.1.1), once the close frame is out.
        connection.close(afterFlush: true)
    }

    private func fail(_ violation: ProtocolViolation) {
        fail(violation.closeCode, reason: violation.reason)
    }

    private func fail(_ code: CloseCode, reason: String) {
        settings.logger.debug("protocol violation", metadata: ["conn": "\(connection.id)", "reason": "\(reason)", "close": "\(code)"])
        if state == .open {
            connection.write(FrameEncoder.closeFrame(code, reason: reason))
            closeCode = code
        }
        state = .closed
        connection.close(afterFlush: true)
    }
}

extension CloseCode {
    /// Never on the wire: the connection dropped without a close frame.
    public static let abnormalClosure = CloseCode(1006)
}

/// Settings shared by every WebSocket of a server (one instance, referenced, not copied).
final class WebSocketSettings: Sendable {
    let maxMessageSize: Int
    let pingInterval: Millis
    let idleTimeout: Millis
    let closeTimeout: Millis
    let logger: Logger
    let deflateMinMessageSize: Int
    /// One per event loop (`loop.index`), each used only by its loop's thread, so sharing
    /// them needs no lock.
    nonisolated(unsafe) let loopCompression: [LoopCompression]

    init(_ c: ServerConfiguration, logger: Logger) {
        self.maxMessageSize = c.maxMessageSize
        self.pingInterval = c.pingInterval
        self.idleTimeout = c.idleTimeout
        self.closeTimeout = c.closeTimeout
        self.logger = logger
        self.deflateMinMessageSize = c.deflate.minMessageSize
        self.loopCompression = (0..<max(1, c.threads)).map { _ in LoopCompression(level: c.deflate.compressionLevel) }
    }
}

/// One event loop's zlib streams for the connections that agreed to no context takeover:
/// their messages are (de)compressed each on its own, so one inflater, and one deflater per
/// window size, serve every such connection of the loop, reset after each message. Created on
/// first use: connections that never send or receive a compressed message cost no zlib memory.
final class LoopCompression {
    let level: Int32
    private var inflater: Inflater?
    /// Indexed by window bits (9...15).
    private var deflaters: [Deflater?] = Array(repeating: nil, count: 16)

    init(level: Int) {
        self.level = Int32(level)
    }

    func sharedInflater() -> Inflater {
        if let inflater { return inflater }
        let i = Inflater()
        inflater = i
        return i
    }

    func sharedDeflater(windowBits: Int) -> Deflater {
        if let d = deflaters[windowBits] { return d }
        let d = Deflater(windowBits: windowBits, level: level)
        deflaters[windowBits] = d
        return d
    }
}

/// permessage-deflate for one connection: what was agreed, which zlib streams to use (the
/// loop's shared ones without context takeover), and its own streams where context takeover
/// was agreed, allocated on its first compressed message.
final class ConnectionCompression {
    let parameters: DeflateParameters
    let minMessageSize: Int
    private let shared: LoopCompression
    private var ownInflater: Inflater?
    private var ownDeflater: Deflater?

    init(_ parameters: DeflateParameters, minMessageSize: Int, shared: LoopCompression) {
        self.parameters = parameters
        self.minMessageSize = minMessageSize
        self.shared = shared
    }

    func inflater() -> Inflater {
        if parameters.clientNoContextTakeover { return shared.sharedInflater() }
        if let ownInflater { return ownInflater }
        let i = Inflater()
        ownInflater = i
        return i
    }

    /// After each message: a stream without context takeover forgets it (the shared ones must,
    /// before the next connection uses them).
    func didInflate(_ inflater: Inflater) {
        if parameters.clientNoContextTakeover { inflater.reset() }
    }

    func deflater() -> Deflater {
        if parameters.serverNoContextTakeover { return shared.sharedDeflater(windowBits: parameters.serverMaxWindowBits) }
        if let ownDeflater { return ownDeflater }
        let d = Deflater(windowBits: parameters.serverMaxWindowBits, level: shared.level)
        ownDeflater = d
        return d
    }

    func didCompress(_ deflater: Deflater) {
        if parameters.serverNoContextTakeover { deflater.reset() }
    }
}

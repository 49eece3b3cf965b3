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

    public unowned let connection: Connection
    let settings: WebSocketSettings
    var application: (any WebSocketApplication)?
    private var assembler: MessageAssembler
    private(set) var state: State = .open
    private var lastActivity: Millis
    private var lastPing: Millis = 0
    private var closeCode: CloseCode = .abnormalClosure

    init(connection: Connection, settings: WebSocketSettings) {
        self.connection = connection
        self.settings = settings
        self.assembler = MessageAssembler(maxMessageSize: settings.maxMessageSize)
        self.lastActivity = connection.loop.now
        connection.setDeadline(lastActivity + settings.pingInterval)
    }

    public var isOpen: Bool { state == .open }

    // MARK: Sending

    /// Sends one unfragmented message (copied once into the outbound queue).
    public func send(_ opcode: Opcode, _ payload: UnsafeRawBufferPointer) {
        guard state == .open else { return }
        let n = payload.count
        connection.write(reserving: FrameEncoder.maxHeaderLength + n) { out in
            guard let base = out.baseAddress else { return 0 }
            let h = FrameEncoder.writeHeader(opcode: opcode, payloadLength: n, to: base)
            if let src = payload.baseAddress, n > 0 { (base + h).copyMemory(from: src, byteCount: n) }
            return h + n
        }
    }

    public func send(text: String) {
        var text = text
        text.withUTF8 { send(.text, UnsafeRawBufferPointer($0)) }
    }

    /// Queues a frame that was encoded once for many connections (shared, not copied).
    public func send(sharedFrame: ByteChunk) {
        guard state == .open else { return }
        connection.write(shared: sharedFrame)
    }

    /// Starts the closing handshake with `code`.
    public func close(_ code: CloseCode, reason: String = "") {
        guard state == .open else { return }
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
                    if state == .open { p.withBytes(in: bytes) { application?.webSocket(self, didReceive: .text, payload: $0) } }
                case .binary(let p):
                    if state == .open { p.withBytes(in: bytes) { application?.webSocket(self, didReceive: .binary, payload: $0) } }
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

    public func connectionDidReadEOF(_ connection: Connection) {
        // TCP ended without a close frame: abnormal (1006).
        connection.close()
    }

    public func connectionDeadlineDidPass(_ connection: Connection, now: Millis) {
        switch state {
        case .closed:
            return
        case .closeSent:
            settings.logger.debug("close handshake timed out", [("conn", connection.id.description)])
            connection.close()
        case .open:
            if now &- lastActivity >= settings.idleTimeout {
                settings.logger.debug("idle timeout", [("conn", connection.id.description)])
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
        settings.logger.debug("protocol violation", [("conn", connection.id.description), ("reason", violation.reason),
                                                      ("close", violation.closeCode.description)])
        if state == .open {
            connection.write(FrameEncoder.closeFrame(violation.closeCode, reason: violation.reason))
            closeCode = violation.closeCode
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

    init(_ c: ServerConfiguration, logger: Logger) {
        self.maxMessageSize = c.maxMessageSize
        self.pingInterval = c.pingInterval
        self.idleTimeout = c.idleTimeout
        self.closeTimeout = c.closeTimeout
        self.logger = logger
    }
}

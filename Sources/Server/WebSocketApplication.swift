import WebSocketProtocol

/// What runs on an established WebSocket (echo, the gateway's JSON-RPC session). Called on the
/// connection's event loop; must not block.
public protocol WebSocketApplication: AnyObject {
    /// A whole text or binary message. `payload` is valid only during the call.
    func webSocket(_ ws: WebSocketConnection, didReceive opcode: Opcode, payload: UnsafeRawBufferPointer)
    /// The connection is gone; `code` is what was sent or received (1006 if the TCP dropped).
    func webSocketDidClose(_ ws: WebSocketConnection, code: CloseCode)
}

extension WebSocketApplication {
    public func webSocketDidClose(_ ws: WebSocketConnection, code: CloseCode) {}
}

/// `/echo`: sends every data message back as it came (text stays text).
public final class EchoApplication: WebSocketApplication, Sendable {
    public static let shared = EchoApplication()

    public func webSocket(_ ws: WebSocketConnection, didReceive opcode: Opcode, payload: UnsafeRawBufferPointer) {
        ws.send(opcode, payload)
    }
}

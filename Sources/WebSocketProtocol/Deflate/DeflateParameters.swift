/// What one connection agreed to for permessage-deflate (RFC 7692): the result of
/// `DeflateNegotiation.negotiate`, and the source of the `Sec-WebSocket-Extensions` answer.
public struct DeflateParameters: Sendable, Equatable {
    /// We reset our compressor after every message (our deflate stream carries no history).
    public var serverNoContextTakeover: Bool
    /// The client resets its compressor after every message, so our inflater keeps no history
    /// between messages either.
    public var clientNoContextTakeover: Bool
    /// The LZ77 window we compress with (9...15).
    public var serverMaxWindowBits: Int
    /// Whether the offer carried `server_max_window_bits`; only then may the answer name it
    /// (§7.1.2.1).
    public var announcesServerMaxWindowBits: Bool

    public init(serverNoContextTakeover: Bool, clientNoContextTakeover: Bool, serverMaxWindowBits: Int,
                announcesServerMaxWindowBits: Bool) {
        self.serverNoContextTakeover = serverNoContextTakeover
        self.clientNoContextTakeover = clientNoContextTakeover
        self.serverMaxWindowBits = serverMaxWindowBits
        self.announcesServerMaxWindowBits = announcesServerMaxWindowBits
    }

    /// The value of the 101's `Sec-WebSocket-Extensions` header. `client_max_window_bits` is
    /// never sent: our inflater always has a 32 KiB window, so whatever the client uses is fine.
    public var responseHeader: String {
        var s = "permessage-deflate"
        if serverNoContextTakeover { s += "; server_no_context_takeover" }
        if clientNoContextTakeover { s += "; client_no_context_takeover" }
        if announcesServerMaxWindowBits { s += "; server_max_window_bits=\(serverMaxWindowBits)" }
        return s
    }
}

/// The server side of the permessage-deflate handshake (RFC 7692 §5, §7.1), as pure functions.
public enum DeflateNegotiation {
    public static let extensionName = "permessage-deflate"

    /// Accepts the first acceptable permessage-deflate offer among the client's
    /// `Sec-WebSocket-Extensions` values, or nil (then the answer names no extension and every
    /// message travels uncompressed). Other extensions are ignored.
    public static func negotiate(_ headerValues: [String], settings: DeflateSettings) -> DeflateParameters? {
        guard settings.enabled, !headerValues.isEmpty else { return nil }
        for case let offer? in ExtensionOffer.parse(headerValues) where offer.name == extensionName {
            if let accepted = accept(offer, settings: settings) { return accepted }
        }
        return nil
    }

    /// The parameters we answer one offer with, or nil to decline it: unknown or repeated
    /// parameters, a value where none belongs (or none where one is required), window bits
    /// outside 8...15 or with leading zeros, and `server_max_window_bits=8`, which zlib cannot
    /// produce for raw deflate.
    public static func accept(_ offer: ExtensionOffer, settings: DeflateSettings) -> DeflateParameters? {
        var serverNoContextTakeover = false
        var clientNoContextTakeover = false
        var offeredServerBits: Int?
        var seen: Set<String> = []
        for p in offer.parameters {
            guard seen.insert(p.name).inserted else { return nil }
            switch p.name {
            case "server_no_context_takeover":
                guard p.value == nil else { return nil }
                serverNoContextTakeover = true
            case "client_no_context_takeover":
                guard p.value == nil else { return nil }
                clientNoContextTakeover = true
            case "server_max_window_bits":
                guard let v = p.value, let bits = windowBits(v), bits >= 9 else { return nil }
                offeredServerBits = bits
            case "client_max_window_bits":
                // A hint that the client can limit its window; we never ask it to.
                if let v = p.value, windowBits(v) == nil { return nil }
            default:
                return nil
            }
        }
        // We may add either no-context-takeover parameter on our own (§7.1.1.1, §7.1.1.2); an
        // offered one is always echoed.
        let ours = min(15, max(9, settings.serverMaxWindowBits))
        return DeflateParameters(
            serverNoContextTakeover: serverNoContextTakeover || settings.serverNoContextTakeover,
            clientNoContextTakeover: clientNoContextTakeover || settings.clientNoContextTakeover,
            serverMaxWindowBits: min(ours, offeredServerBits ?? 15),
            announcesServerMaxWindowBits: offeredServerBits != nil)
    }

    /// 8...15 in decimal without leading zeros (§7.1.2.1, §7.1.2.2).
    static func windowBits(_ s: String) -> Int? {
        guard !s.hasPrefix("0"), s.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
              s.utf8.count <= 2, let n = Int(s), (8...15).contains(n) else { return nil }
        return n
    }
}

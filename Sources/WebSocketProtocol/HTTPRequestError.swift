/// Everything the codecs find wrong with a request, each with its status in one place (as
/// `ProtocolViolation` does for close codes). The server turns it into its answer
/// (`HTTPRejection` in `Server`).
public enum HTTPRequestError: Error, Equatable, Sendable {
    /// 400, with what was wrong.
    case malformed(String)
    /// 431: the head, or its number of fields, is over the bound.
    case headTooLarge(String)
    /// 505: anything but HTTP/1.0 and 1.1.
    case versionNotSupported
    /// 405: a WebSocket upgrade must be a GET.
    case upgradeNeedsGET
    /// 426: a Sec-WebSocket-Version other than 13.
    case unsupportedWebSocketVersion

    public var status: HTTPStatus {
        switch self {
        case .malformed: .badRequest
        case .headTooLarge: .headersTooLarge
        case .versionNotSupported: .versionNotSupported
        case .upgradeNeedsGET: .methodNotAllowed
        case .unsupportedWebSocketVersion: .upgradeRequired
        }
    }

    /// A short reason for the body and the logs (never request bytes beyond a header's name).
    public var reason: String {
        switch self {
        case .malformed(let why), .headTooLarge(let why): why
        case .versionNotSupported: "only HTTP/1.1 is supported"
        case .upgradeNeedsGET: "WebSocket upgrade requires GET"
        case .unsupportedWebSocketVersion: "unsupported WebSocket version"
        }
    }

    /// Headers the answer must carry (RFC 9110 §15.5.6, RFC 6455 §4.4).
    public var headers: [HTTPRequestHead.Header] {
        switch self {
        case .upgradeNeedsGET: [.init(name: "Allow", value: "GET")]
        case .unsupportedWebSocketVersion: [.init(name: "Sec-WebSocket-Version", value: "13")]
        default: []
        }
    }
}

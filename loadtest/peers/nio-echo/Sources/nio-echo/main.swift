// nio-echo: the idiomatic SwiftNIO WebSocket echo server.
//
//   nio-echo [--host 127.0.0.1] [--port 8080] [--threads N]
//
// HTTP/1.1 pipeline with NIOWebSocketServerUpgrader on any path; after the upgrade,
// text and binary frames are echoed back with their opcode, pings are answered with
// pongs, and a close frame is answered with a close before the channel is closed.
// Prints `listening on HOST:PORT` once the socket is bound.

import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket

#if canImport(Glibc)
import Glibc
#endif

/// Writes straight to a file descriptor: unbuffered, so a script waiting for the
/// "listening" line sees it at once even when stdout is a pipe.
func say(_ text: String, fd: Int32 = 1) {
    var text = text
    text.withUTF8 { bytes in _ = write(fd, bytes.baseAddress, bytes.count) }
}

func usage(_ code: Int32) -> Never {
    say("usage: nio-echo [--host 127.0.0.1] [--port PORT] [--threads N]\n", fd: code == 0 ? 1 : 2)
    exit(code)
}

var host = "127.0.0.1"
var port = 8080
var threads = System.coreCount
var args = CommandLine.arguments.dropFirst()
while let flag = args.popFirst() {
    switch flag {
    case "-h", "--help":
        usage(0)
    case "--host":
        guard let v = args.popFirst() else { usage(2) }
        host = v
    case "--port":
        guard let v = args.popFirst(), let p = Int(v), (0...65535).contains(p) else { usage(2) }
        port = p
    case "--threads":
        guard let v = args.popFirst(), let t = Int(v), t >= 1 else { usage(2) }
        threads = t
    default:
        usage(2)
    }
}

final class WebSocketEchoHandler: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private var closeSent = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .text, .binary, .continuation:
            let reply = WebSocketFrame(fin: frame.fin, opcode: frame.opcode, data: frame.unmaskedData)
            context.write(wrapOutboundOut(reply), promise: nil)
        case .ping:
            let pong = WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)
            context.write(wrapOutboundOut(pong), promise: nil)
        case .connectionClose:
            receivedClose(context: context, frame: frame)
        case .pong:
            break
        default:
            closeOnError(context: context)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }

    private func receivedClose(context: ChannelHandlerContext, frame: WebSocketFrame) {
        if closeSent {
            context.close(promise: nil)
            return
        }
        closeSent = true
        // Echo the status code (first two bytes of the payload) back, then close.
        var payload = frame.unmaskedData
        let code = payload.readSlice(length: 2) ?? context.channel.allocator.buffer(capacity: 0)
        let reply = WebSocketFrame(fin: true, opcode: .connectionClose, data: code)
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(reply)).whenComplete { _ in
            bound.value.close(promise: nil)
        }
    }

    private func closeOnError(context: ChannelHandlerContext) {
        var data = context.channel.allocator.buffer(capacity: 2)
        data.write(webSocketErrorCode: .protocolError)
        let frame = WebSocketFrame(fin: true, opcode: .connectionClose, data: data)
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(frame)).whenComplete { _ in
            bound.value.close(mode: .output, promise: nil)
        }
        closeSent = true
    }
}

/// Answers plain HTTP requests that did not ask for an upgrade.
final class NotFoundHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .end = unwrapInboundIn(data) else { return }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Length", value: "0")
        headers.add(name: "Connection", value: "close")
        let head = HTTPResponseHead(version: .http1_1, status: .notFound, headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            bound.value.close(promise: nil)
        }
    }
}

let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)

let bootstrap = ServerBootstrap(group: group)
    .serverChannelOption(.backlog, value: 4096)
    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
    .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
    .childChannelOption(.socketOption(.so_reuseaddr), value: 1)
    .childChannelInitializer { channel in
        let upgrader = NIOWebSocketServerUpgrader(
            maxFrameSize: 1 << 24,
            shouldUpgrade: { channel, _ in channel.eventLoop.makeSucceededFuture(HTTPHeaders()) },
            upgradePipelineHandler: { channel, _ in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(WebSocketEchoHandler())
                }
            }
        )
        return channel.eventLoop.makeCompletedFuture {
            let notFound = NIOLoopBound(NotFoundHandler(), eventLoop: channel.eventLoop)
            try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                withServerUpgrade: (upgraders: [upgrader], completionHandler: { context in
                    context.pipeline.syncOperations.removeHandler(notFound.value, promise: nil)
                })
            )
            try channel.pipeline.syncOperations.addHandler(notFound.value)
        }
    }

do {
    let channel = try bootstrap.bind(host: host, port: port).wait()
    let bound = channel.localAddress?.port ?? port
    say("listening on \(host):\(bound) threads=\(threads)\n")
    try channel.closeFuture.wait()
} catch {
    say("nio-echo: \(error)\n", fd: 2)
    exit(1)
}

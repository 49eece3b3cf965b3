import Gateway
import Log
import Reactor
import Server

#if canImport(Glibc)
import Glibc
#endif

// Signals first: every thread created later inherits the mask, so only the main thread
// (in waitForTermination) ever sees SIGTERM/SIGINT.
Reactor.Process.prepareSignals()

/// stdio's globals are not concurrency-safe in Swift 6: write to the descriptors directly.
func emit(_ text: String, to fd: Int32) {
    writeFully(text, to: fd)
}

func fail(_ message: String, code: Int32) -> Never {
    emit("quantumvest: \(message)\n", to: 2)
    exit(code)
}

var arguments = Array(CommandLine.arguments.dropFirst())
guard let command = arguments.first else {
    emit(ServeOptions.usage, to: 2)
    exit(2)
}
arguments.removeFirst()
switch command {
case "serve":
    break
case "-h", "--help", "help":
    emit(ServeOptions.usage, to: 1)
    exit(0)
default:
    fail("unknown command '\(command)'\n\(ServeOptions.usage)", code: 2)
}
if arguments.contains("--help") || arguments.contains("-h") {
    emit(ServeOptions.usage, to: 1)
    exit(0)
}

let options: ServeOptions
do {
    var env: [String: String] = [:]
    var p = environ
    while let entry = p.pointee {
        let s = String(cString: entry)
        if let eq = s.firstIndex(of: "=") { env[String(s[..<eq])] = String(s[s.index(after: eq)...]) }
        p += 1
    }
    options = try ServeOptions.parse(arguments, environment: env, cores: Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
} catch {
    fail("\(error.description)\n(see 'quantumvest serve --help')", code: 2)
}

let logger = Logger(level: options.logLevel, format: options.logFormat)
let fdLimit = Reactor.Process.raiseFileDescriptorLimit()

var gatewayConfiguration = GatewayConfiguration()
gatewayConfiguration.publisherKeys = options.publisherKeys
gatewayConfiguration.allowedOrigins = options.allowedOrigins
gatewayConfiguration.broker.historySize = options.historySize
gatewayConfiguration.broker.historyTTL = Millis(options.historyTTLSeconds) * 1000
gatewayConfiguration.broker.historyBytes = options.historyBytes
let gateway = Gateway(configuration: gatewayConfiguration, loops: options.server.threads, logger: logger)
var routes = Routes()
gateway.install(into: &routes)

let server: Server
do {
    server = try Server(configuration: options.server, routes: routes, logger: logger)
} catch {
    logger.error("cannot start", [("host", options.server.host), ("port", String(options.server.port)), ("error", error.description)])
    logger.flush()
    fail("cannot start on \(options.server.host):\(options.server.port): \(error)", code: 1)
}
gateway.attach(server.loops)
server.start()
logger.info("listening", [("host", server.host), ("port", String(server.port)), ("tls", String(server.isTLS)),
                          ("threads", String(options.server.threads)),
                          ("echo", String(options.server.echoEnabled)), ("max_message", String(options.server.maxMessageSize)),
                          ("fd_limit", String(fdLimit))])
emit("listening on \(server.host):\(server.port)\n", to: 1)

let signal = Reactor.Process.waitForTermination()
logger.notice("draining", [("signal", signal == SIGINT ? "SIGINT" : "SIGTERM")])
gateway.beginDrain()
server.shutdown()
logger.notice("stopped")
logger.flush()
exit(0)

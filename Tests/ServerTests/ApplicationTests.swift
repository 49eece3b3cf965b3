// The composition root as `quantumvest serve` runs it: one drain switch turns readiness, new
// upgrades and HTTP publish to 503 at once, and `stop` waits for the loops.

import App
import Gateway
import Server
import Store
import TestSupport
import Testing

@Suite("Application")
struct ApplicationTests {
    @Test func beginDrainTurnsReadinessUpgradesAndPublishTo503() throws {
        var c = AppConfiguration()
        c.store.backend = .sqlite(directory: try TemporaryDirectory.make(prefix: "qv-app"))
        c.server.port = 0
        c.server.threads = 2
        c.server.drainTimeout = 1000
        c.gateway.publisherKeys = [testPublisherKey]
        let app = try Application(configuration: c, logger: testLogger)
        app.start()
        let probe = try TCPClient(port: app.port)
        #expect(try probe.exchange(rawRequest("/readyz", ["Host: 127.0.0.1", "Connection: close"])).status == 200)
        probe.close()

        app.beginDrain()
        let ready = try TCPClient(port: app.port)
        #expect(try ready.exchange(rawRequest("/readyz", ["Host: 127.0.0.1"])).status == 503)
        ready.close()
        let upgrade = try TCPClient(port: app.port)
        #expect(try upgrade.exchange(rawRequest("/ws", upgradeHeaders())).status == 503)
        upgrade.close()
        let publish = try TCPClient(port: app.port)
        let body = #"{"channel":"prices:AAPL","data":{"symbol":"AAPL","price":"1.5","ts":1}}"#
        let reply = try publish.exchange(rawRequest("POST", "/api/v1/publish", [
            "Host: 127.0.0.1", "Authorization: Bearer \(testPublisherKey)", "Content-Type: application/json",
            "Content-Length: \(body.utf8.count)",
        ]) + Array(body.utf8))
        #expect(reply.status == 503, "\(reply)")
        publish.close()

        let stopper = BackgroundThread { app.stop() }
        defer { stopper.join() }
        #expect(eventually(within: 3000) { stopper.finished != nil }, "stop did not return")
    }

    @Test func staticFolderIsServedThroughTheConfiguration() throws {
        let folder = try StaticFolder.make(["index.html": "<h1>qv</h1>"])
        var c = AppConfiguration()
        c.store.backend = .sqlite(directory: try TemporaryDirectory.make(prefix: "qv-app"))
        c.server.port = 0
        c.server.threads = 1
        c.server.staticDirectory = folder.path
        let app = try Application(configuration: c, logger: testLogger)
        app.start()
        defer { app.stop() }
        let client = try TCPClient(port: app.port)
        defer { client.close() }
        #expect(try client.exchange(rawRequest("/", ["Host: 127.0.0.1"])).bodyText == "<h1>qv</h1>")
    }

    @Test func aMissingStaticFolderStopsTheStart() throws {
        var c = AppConfiguration()
        c.store.backend = .sqlite(directory: try TemporaryDirectory.make(prefix: "qv-app"))
        c.server.port = 0
        c.server.threads = 1
        c.server.staticDirectory = "/nonexistent/qv-static"
        #expect(throws: AppStartError.self) { try Application(configuration: c, logger: testLogger) }
    }
}

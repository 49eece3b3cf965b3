// TLS on the listener: real OpenSSL clients over loopback against a self-signed certificate made
// for this run with the openssl command line.

#if canImport(Glibc)
import Glibc
#endif
import COpenSSL
import Server
import Testing

/// A fresh self-signed P-256 certificate for CN=localhost in a temporary folder.
struct TestCertificate: Sendable {
    let certPath: String
    let keyPath: String

    static let shared: TestCertificate? = try? TestCertificate.make()

    static func make() throws -> TestCertificate {
        var template = Array("/tmp/qv-tls-XXXXXX".utf8CString)
        guard let dir = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }).map({ String(cString: $0) }) else {
            throw ClientError("mkdtemp failed")
        }
        let cert = dir + "/cert.pem", key = dir + "/key.pem"
        let child = try ChildProcess("/usr/bin/openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                                                          "-nodes", "-subj", "/CN=localhost", "-days", "2",
                                                          "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                                                          "-keyout", key, "-out", cert])
        _ = child.readAll(timeoutMs: 10_000)
        guard child.waitForExit(timeoutMs: 10_000) == .exited(0) else { throw ClientError("openssl req failed") }
        return TestCertificate(certPath: cert, keyPath: key)
    }
}

/// A client context that trusts only the test certificate; `maxVersion` caps the protocol.
func clientContext(trusting cert: TestCertificate, maxVersion: Int32 = 0) -> OpaquePointer? {
    guard let ctx = SSL_CTX_new(TLS_client_method()) else { return nil }
    SSL_CTX_load_verify_locations(ctx, cert.certPath, nil)
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nil)
    if maxVersion != 0 {
        // SSL_CTX_set_max_proto_version is a macro: use its ctrl form.
        SSL_CTX_ctrl(ctx, SSL_CTRL_SET_MAX_PROTO_VERSION, Int(maxVersion), nil)
        SSL_CTX_ctrl(ctx, SSL_CTRL_SET_MIN_PROTO_VERSION, Int(TLS1_VERSION), nil)
        SSL_CTX_set_security_level(ctx, 0)
    }
    return ctx
}

@Suite("TLS", .serialized)
struct TLSTests {
    let cert: TestCertificate
    let server: TestServer
    let context: OpaquePointer

    init() throws {
        cert = try #require(TestCertificate.shared, "could not make a test certificate")
        let c = cert
        server = try TestServer {
            $0.tls = TLSFiles(certificatePath: c.certPath, keyPath: c.keyPath)
            $0.headTimeout = 1000
        }
        context = try #require(clientContext(trusting: c))
    }

    func tlsClient() throws -> TCPClient {
        let client = try TCPClient(port: server.port)
        try client.startTLS(context)
        return client
    }

    @Test func httpsHealthz() throws {
        defer { server.stop() }
        let client = try tlsClient()
        let reply = try client.exchange(rawRequest("/healthz", ["Host: localhost"]))
        #expect(reply.status == 200)
        #expect(reply.body == Array("ok\n".utf8))
        #expect(SSL_version(client.tls) >= TLS1_2_VERSION)
    }

    @Test func wssEchoSmallAndLarge() throws {
        defer { server.stop() }
        let client = try tlsClient()
        let reply = try client.exchange(rawRequest("/echo", upgradeHeaders()))
        #expect(reply.status == 101)
        #expect(try client.roundTrip(WSFrame.text("over tls")).payload == Array("over tls".utf8))
        // 1 MiB: many TLS records each way, partial writes, plaintext left inside OpenSSL.
        let big = patternBytes(1 << 20, seed: 7)
        let echo = try client.roundTrip(WSFrame.binary(big), timeoutMs: 10_000)
        #expect(sameBytes(echo.payload, big))
    }

    @Test func stalledHandshakeIsDroppedWhileOthersAreServed() throws {
        defer { server.stop() }
        // A raw TCP client that never completes (or even starts) its handshake.
        let staller = try TCPClient(port: server.port)
        try staller.send([0x16, 0x03, 0x01])   // the first bytes of a ClientHello record, then nothing
        let start = ContinuousClock.now
        let other = try tlsClient()
        #expect(try other.exchange(rawRequest("/healthz", ["Host: localhost"])).status == 200)
        #expect(millis(since: start) < 500, "another client waited behind the stalled handshake")
        let closed = staller.awaitClose(timeoutMs: 3000)
        #expect(closed == .eof(leftover: []) || { if case .failed = closed { return true }; return false }())
        let elapsed = millis(since: start)
        #expect(elapsed >= 700 && elapsed <= 2500, "stalled handshake dropped after \(elapsed) ms")
    }

    @Test func plaintextGarbageIsClosedAndHarmless() throws {
        defer { server.stop() }
        let garbage = try TCPClient(port: server.port)
        try garbage.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        // The server answers with a TLS alert at most, then closes: never a plaintext response.
        let r = garbage.awaitClose(timeoutMs: 2000)
        if case .eof(let leftover) = r {
            #expect(!leftover.starts(with: Array("HTTP/".utf8)))
        } else if case .failed = r {
        } else {
            Issue.record("garbage connection still open: \(r)")
        }
        #expect(eventually(within: 5000) { server.openConnections == 0 })
        let client = try tlsClient()
        #expect(try client.exchange(rawRequest("/healthz", ["Host: localhost"])).status == 200)
    }

    @Test func tls11IsRefused() throws {
        defer { server.stop() }
        let old = try #require(clientContext(trusting: cert, maxVersion: TLS1_1_VERSION))
        defer { SSL_CTX_free(old) }
        let client = try TCPClient(port: server.port)
        #expect(throws: ClientError.self) { try client.startTLS(old) }
    }

    @Test func drainSendsGoingAwayOverTLS() throws {
        let client = try tlsClient()
        #expect(try client.exchange(rawRequest("/echo", upgradeHeaders())).status == 101)
        let s = server
        let stopper = BackgroundThread { s.stop() }
        defer { stopper.join() }
        let frame = try client.readFrame(timeoutMs: 2000)
        #expect(frame.opcode == Op.close && frame.closeCode == 1001)
    }
}

@Suite("TLS configuration")
struct TLSConfigurationTests {
    @Test func unreadableCertificateFailsToStartWithoutLeakingKeys() throws {
        let cert = try #require(TestCertificate.shared)
        let child = try ChildProcess(try #require(quantumvestExecutable()), ["serve", "--port", "0", "--tls-cert", "/nonexistent/cert.pem", "--tls-key", cert.keyPath])
        let out = child.readAll(timeoutMs: 5000)
        #expect(child.waitForExit(timeoutMs: 5000) == .exited(1))
        #expect(out.stderr.contains("cannot load certificate chain from /nonexistent/cert.pem"))
        #expect(!out.stderr.contains("PRIVATE KEY"))
    }

    @Test func certificateWithoutKeyIsAUsageError() throws {
        let child = try ChildProcess(try #require(quantumvestExecutable()), ["serve", "--port", "0", "--tls-cert", "/tmp/x.pem"])
        let out = child.readAll(timeoutMs: 5000)
        #expect(child.waitForExit(timeoutMs: 5000) == .exited(2))
        #expect(out.stderr.contains("--tls-key"))
    }

    @Test func mismatchedKeyIsRefused() throws {
        let a = try #require(TestCertificate.shared)
        let b = try TestCertificate.make()
        var cfg = ServerConfiguration()
        cfg.port = 0
        cfg.tls = TLSFiles(certificatePath: a.certPath, keyPath: b.keyPath)
        #expect(throws: ServerStartError.self) { try Server(configuration: cfg, routes: Routes(), logger: testLogger) }
    }
}

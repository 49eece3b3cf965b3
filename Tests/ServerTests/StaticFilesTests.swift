// Static files from memory through real sockets: types, index.html, HEAD, ETag/304, 404,
// methods, and traversal attempts that must never leave the folder.

#if canImport(Glibc)
import Glibc
#endif
import Server
import Testing

@Suite("Static files")
struct StaticFilesTests {
    let folder: StaticFolder
    let server: TestServer

    init() throws {
        let f = try StaticFolder.make([
            "index.html": "<!doctype html><title>dashboard</title>",
            "app.js": "console.log('qv')",
            "style.css": "body{margin:0}",
            "data/symbols.json": "[\"AAPL\"]",
            "docs/index.html": "<p>docs</p>",
            ".env": "QV_JWT_SECRET=do-not-serve",
        ])
        f.symlink("passwd", to: "/etc/passwd")
        folder = f
        server = try TestServer { $0.staticDirectory = f.path }
    }

    private func get(_ target: String, method: String = "GET", _ extra: [String] = []) throws -> HTTPReply {
        let client = try TCPClient(port: server.port)
        defer { client.close() }
        return try client.exchange(rawRequest(method, target, ["Host: 127.0.0.1"] + extra), bodyExpected: method != "HEAD")
    }

    @Test func indexAndContentTypes() throws {
        defer { server.stop() }
        let root = try get("/")
        #expect(root.status == 200 && root.bodyText == "<!doctype html><title>dashboard</title>")
        #expect(root.value("content-type") == "text/html; charset=utf-8")
        #expect(try get("/index.html").bodyText == root.bodyText)
        #expect(try get("/app.js").value("content-type") == "text/javascript; charset=utf-8")
        #expect(try get("/style.css").value("content-type") == "text/css; charset=utf-8")
        #expect(try get("/data/symbols.json").value("content-type") == "application/json")
        #expect(try get("/docs/").bodyText == "<p>docs</p>")
        #expect(try get("/healthz").bodyText == "ok\n", "routes still win")
    }

    @Test func headHasTheHeadersAndNoBody() throws {
        defer { server.stop() }
        let client = try TCPClient(port: server.port)
        defer { client.close() }
        let head = try client.exchange(rawRequest("HEAD", "/app.js", ["Host: 127.0.0.1"]), bodyExpected: false)
        #expect(head.status == 200)
        #expect(head.value("content-length") == String("console.log('qv')".utf8.count))
        #expect(head.value("etag") != nil)
        // The next answer on the connection starts right after the head: no body was sent.
        #expect(try client.exchange(rawRequest("/healthz", ["Host: 127.0.0.1"])).bodyText == "ok\n")
    }

    @Test func etagRevalidationAnswers304() throws {
        defer { server.stop() }
        let first = try get("/app.js")
        let etag = try #require(first.value("etag"))
        #expect(first.value("cache-control") == "no-cache")
        let again = try get("/app.js", ["If-None-Match: \(etag)"])
        #expect(again.status == 304 && again.body.isEmpty)
        #expect(again.value("etag") == etag)
        #expect(again.value("content-length") == nil)
        #expect(try get("/app.js", ["If-None-Match: \"other\", W/\(etag)"]).status == 304)
        #expect(try get("/app.js", ["If-None-Match: \"other\""]).status == 200)
        #expect(try get("/style.css").value("etag") != etag)
    }

    @Test(arguments: ["/nope.html", "/../etc/passwd", "/%2e%2e/etc/passwd", "/%2E%2E%2Fetc%2Fpasswd", "/docs/../index.html",
                      "/./index.html", "//index.html", "/.env", "/passwd", "/%zz", "/app.js%00", "/docs/..%2f..%2fetc%2fpasswd"])
    func outsideOrUnknownPathsAre404(_ path: String) throws {
        defer { server.stop() }
        let reply = try get(path)
        #expect(reply.status == 404, "\(path): \(reply.statusLine)")
        #expect(!reply.bodyText.contains("root:"))
        #expect(!reply.bodyText.contains("do-not-serve"))
    }

    @Test func otherMethodsAre405() throws {
        defer { server.stop() }
        let reply = try get("/index.html", method: "POST", ["Content-Length: 0"])
        #expect(reply.status == 405)
        #expect(reply.value("allow") == "GET, HEAD")
    }

    @Test func aFolderOverTheBoundIsRefusedAtStart() throws {
        defer { server.stop() }
        var limits = StaticFiles.Limits()
        limits.maxTotalBytes = 10
        #expect(throws: StaticFilesError.self) { try StaticFiles.load(directory: folder.path, limits: limits) }
        #expect(throws: StaticFilesError.self) { try StaticFiles.load(directory: folder.path + "/missing") }
        let table = try StaticFiles.load(directory: folder.path)
        #expect(table.count == 5, "hidden files and links are not loaded")
    }
}

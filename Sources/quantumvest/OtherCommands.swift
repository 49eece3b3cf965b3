#if canImport(Glibc)
import Glibc
#endif
import App
import ArgumentParser
import Log
import Market
import Reactor
import Store
import Synchronization

/// `quantumvest import-bars FILE.csv` (contract 2c): daily bars into the store `serve` uses,
/// all or nothing. Exit 0 when imported, 1 when a row is bad or the store fails (nothing is
/// imported), 2 for bad usage. A running gateway reads history from the store, so it answers
/// with the imported bars at once (well within the contract's 5 s).
struct ImportBarsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import-bars",
        abstract: "Load daily bars from a CSV file (symbol,date,open,high,low,close,volume), all or nothing.",
        discussion: """
            RFC 4180 CSV (quoted fields, LF or CRLF) with the header symbol,date,open,high,low,close,volume. \
            Rows replace stored bars of the same symbol and day. --data-dir and --postgres also read \
            QV_DATA_DIR and QV_POSTGRES.
            """)

    @Argument(help: ArgumentHelp("RFC 4180 CSV file of daily bars.", valueName: "file"))
    var file: String
    @Option(help: ArgumentHelp(StoreFlags.dataDirHelp, valueName: "path"))
    var dataDir = StoreConfiguration.defaultDataDirectory
    @Option(help: ArgumentHelp(StoreFlags.postgresHelp, valueName: "url"))
    var postgres: String?

    func validate() throws {
        _ = try StoreFlags.backend(dataDir: dataDir, postgres: postgres)
    }

    func run() throws {
        var storeConfiguration = StoreConfiguration()
        storeConfiguration.backend = try StoreFlags.backend(dataDir: dataDir, postgres: postgres)
        storeConfiguration.postgresPool = 1
        storeConfiguration.sqliteThreads = 1
        let logger = Logger(level: .warning)
        let store: Store
        do {
            store = try Store(configuration: storeConfiguration, logger: logger)
        } catch {
            logger.flush()
            writeFully("quantumvest: import-bars: cannot open the store: \(error)\n", to: 2)
            throw ExitCode(1)
        }
        defer {
            store.shutdown()
            logger.flush()
        }
        let started = Clock.monotonicMillis()
        let meter = ProgressMeter(terminal: isatty(2) == 1)
        let result = BarImport.run(path: file, store: store) { meter.report($0) }
        meter.finish()
        switch result {
        case .success(let rows):
            let ms = Clock.monotonicMillis() - started
            writeFully("imported \(rows) daily bars from \(file) in \(ms / 1000).\(ms % 1000 / 100) s\n", to: 1)
        case .failure(let failure):
            writeFully("quantumvest: import-bars: \(file): \(failure)\n", to: 2)
            throw ExitCode(1)
        }
    }
}

/// Import progress on stderr: a bar redrawn in place on a terminal, otherwise a plain line
/// every tenth of the file.
final class ProgressMeter: Sendable {
    let terminal: Bool
    private let lastTenth = Mutex(-1)
    private let drawn = Atomic<Bool>(false)

    init(terminal: Bool) { self.terminal = terminal }

    func report(_ p: BarImport.Progress) {
        let fraction = p.totalBytes > 0 ? min(1, Double(p.bytes) / Double(p.totalBytes)) : 1
        if terminal {
            let width = 30
            let filled = Int(fraction * Double(width))
            let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
            writeFully("\r[\(bar)] \(Int(fraction * 100))%  \(p.rows) rows", to: 2)
            drawn.store(true, ordering: .relaxed)
        } else {
            let tenth = Int(fraction * 10)
            let due = lastTenth.withLock { last -> Bool in
                guard tenth > last else { return false }
                last = tenth
                return true
            }
            if due { writeFully("import-bars: \(tenth * 10)% of the file, \(p.rows) rows\n", to: 2) }
        }
    }

    func finish() {
        if terminal && drawn.load(ordering: .relaxed) { writeFully("\n", to: 2) }
    }
}

/// `quantumvest version`.
struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "version", abstract: "Print the version.")

    func run() {
        writeFully("quantumvest \(Version.string)\n", to: 1)
    }
}

import App
import ArgumentParser
import Log
import Store

/// `quantumvest import-bars FILE`: declared so scripts and help see it; the import itself
/// arrives with the price-bars issue, until then it refuses (exit 2) without touching anything.
struct ImportBarsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import-bars",
        abstract: "Load daily bars from a CSV file (symbol,date,open,high,low,close,volume). Not available yet.")

    @Argument(help: ArgumentHelp("RFC 4180 CSV file of daily bars.", valueName: "file"))
    var file: String
    @Option(help: ArgumentHelp("Directory of the SQLite store.", valueName: "path"))
    var dataDir = StoreConfiguration.defaultDataDirectory
    @Option(help: ArgumentHelp("PostgreSQL instead of SQLite.", valueName: "url"))
    var postgres: String?

    func validate() throws {
        throw ValidationError("import-bars arrives with the price-bars issue; nothing was imported")
    }
}

/// `quantumvest version`.
struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "version", abstract: "Print the version.")

    func run() {
        writeFully("quantumvest \(Version.string)\n", to: 1)
    }
}

import ArgumentParser
import Store

/// The store flags `serve` and `import-bars` share (`--data-dir`, `--postgres`): one help text
/// and one check, so both commands open the same store the same way.
enum StoreFlags {
    static let dataDirHelp = "Directory of the SQLite store (quantumvest.db)."
    static let postgresHelp = "PostgreSQL instead of SQLite (postgresql://user:pass@host:port/db)."

    static func backend(dataDir: String, postgres: String?) throws(ValidationError) -> StoreBackend {
        guard let postgres else { return .sqlite(directory: dataDir) }
        // Never echo the URL: it may carry a password.
        guard postgres.hasPrefix("postgres://") || postgres.hasPrefix("postgresql://") else {
            throw ValidationError("--postgres must be a postgres:// or postgresql:// URL")
        }
        return .postgres(url: postgres)
    }
}

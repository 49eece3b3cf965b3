/// The schema, both dialects in one place: a numbered list of migrations, applied in order in
/// one transaction at start. Each statement is written once with type words in braces that
/// `Migrations.render` replaces per dialect (amounts are exact: NUMERIC in PostgreSQL,
/// canonical decimal TEXT in SQLite, never REAL; times are integer milliseconds).
enum Migrations {
    struct Migration {
        let version: Int
        let statements: [String]
    }

    /// The newest schema this build knows.
    static var latest: Int { all.last?.version ?? 0 }

    /// PostgreSQL: the advisory-lock key that serialises migrating gateways ("qvschema").
    static let lockKey: Int64 = 0x71_76_73_63_68_65_6d_61

    static func render(_ sql: String, _ dialect: SQLDialect) -> String {
        let words: [(String, String)] = switch dialect {
        case .postgres: [("{decimal}", "NUMERIC"), ("{id}", "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY")]
        case .sqlite: [("{decimal}", "TEXT"), ("{id}", "INTEGER PRIMARY KEY AUTOINCREMENT")]
        }
        var out = sql
        for (word, type) in words { out = out.replacing(word, with: type) }
        return out
    }

    /// Brings the database to `latest`, or refuses one newer than this build. Runs inside a
    /// transaction; returns the version found before.
    static func migrate(_ db: any SQLConnection) throws(StoreError) -> Int {
        if db.dialect == .postgres {
            // Two gateways starting together: the second waits here, then finds the work done.
            try db.query("SELECT pg_advisory_xact_lock($1)", [.int(lockKey)])
        }
        try db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)", [])
        let rows = try db.query("SELECT version FROM schema_version", [])
        let found: Int
        switch rows.count {
        case 0:
            found = 0
            try db.execute("INSERT INTO schema_version (version) VALUES (0)", [])
        case 1:
            found = Int(try rows[0].int(0))
        default:
            throw .invalid("schema_version has \(rows.count) rows, expected one")
        }
        guard found <= latest else { throw SchemaTooNew.error(found: found) }
        for migration in all where migration.version > found {
            for statement in migration.statements {
                try db.execute(render(statement, db.dialect), [])
            }
            try db.execute("UPDATE schema_version SET version = $1", [.int(Int64(migration.version))])
        }
        return found
    }

    /// The refusal of a newer schema, told apart from other failures by its prefix.
    enum SchemaTooNew {
        static let prefix = "schema too new: "
        static func error(found: Int) -> StoreError {
            .invalid(prefix + "the database is at schema version \(found), this build knows up to \(latest); upgrade the gateway")
        }
    }

    static let all: [Migration] = [
        Migration(version: 1, statements: [
            "CREATE TABLE jwt_keys (kid TEXT PRIMARY KEY, secret TEXT NOT NULL, created_at BIGINT NOT NULL)",
            "CREATE TABLE users (id TEXT PRIMARY KEY, email TEXT NOT NULL UNIQUE, password_hash TEXT NOT NULL, created_at BIGINT NOT NULL)",
            """
            CREATE TABLE sessions (id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL, revoked_at BIGINT, revoke_reason TEXT)
            """,
            "CREATE INDEX sessions_user_id ON sessions (user_id)",
            "CREATE INDEX sessions_revoked_at ON sessions (revoked_at)",
            """
            CREATE TABLE refresh_tokens (hash TEXT PRIMARY KEY, session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
                issued_at BIGINT NOT NULL, expires_at BIGINT NOT NULL, rotated_at BIGINT)
            """,
            "CREATE INDEX refresh_tokens_session_id ON refresh_tokens (session_id)",
            """
            CREATE TABLE portfolios (id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                name TEXT NOT NULL, base_currency TEXT NOT NULL, created_at BIGINT NOT NULL,
                realized_pnl {decimal} NOT NULL DEFAULT '0', next_seq BIGINT NOT NULL DEFAULT 1)
            """,
            "CREATE INDEX portfolios_user_created ON portfolios (user_id, created_at)",
            """
            CREATE TABLE transactions (id TEXT PRIMARY KEY, portfolio_id TEXT NOT NULL REFERENCES portfolios(id) ON DELETE CASCADE,
                seq BIGINT NOT NULL, symbol TEXT NOT NULL, side TEXT NOT NULL, quantity {decimal} NOT NULL,
                price {decimal} NOT NULL, fee {decimal} NOT NULL, executed_at BIGINT NOT NULL, client_order_id TEXT,
                recorded_at BIGINT NOT NULL, UNIQUE (portfolio_id, seq), UNIQUE (portfolio_id, client_order_id))
            """,
            """
            CREATE TABLE holdings (portfolio_id TEXT NOT NULL REFERENCES portfolios(id) ON DELETE CASCADE, symbol TEXT NOT NULL,
                quantity {decimal} NOT NULL, cost_basis {decimal} NOT NULL, PRIMARY KEY (portfolio_id, symbol))
            """,
            """
            CREATE TABLE outbox (id {id}, channel TEXT NOT NULL, payload TEXT NOT NULL, created_at BIGINT NOT NULL,
                published_at BIGINT)
            """,
            // The publisher's scan: unpublished rows in id order (partial index, both dialects).
            "CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL",
            """
            CREATE TABLE bars_daily (symbol TEXT NOT NULL, t BIGINT NOT NULL, open {decimal} NOT NULL, high {decimal} NOT NULL,
                low {decimal} NOT NULL, close {decimal} NOT NULL, volume {decimal} NOT NULL, PRIMARY KEY (symbol, t))
            """,
            """
            CREATE TABLE bars_minute (symbol TEXT NOT NULL, t BIGINT NOT NULL, open {decimal} NOT NULL, high {decimal} NOT NULL,
                low {decimal} NOT NULL, close {decimal} NOT NULL, volume {decimal} NOT NULL, PRIMARY KEY (symbol, t))
            """,
        ]),
        Migration(version: 2, statements: [
            // Housekeeping's scans (expired refresh tokens, ended sessions) by index.
            "CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at)",
            "CREATE INDEX sessions_expires_at ON sessions (expires_at)",
            // Portfolios (2b): a clientOrderId repeat answers the first answer, kept as JSON; a
            // deleted transaction stays, marked, so its clientOrderId stays taken.
            "ALTER TABLE transactions ADD COLUMN answer TEXT NOT NULL DEFAULT ''",
            "ALTER TABLE transactions ADD COLUMN deleted_at BIGINT",
            // portfolio.list is oldest first; two made in one millisecond keep their order.
            "ALTER TABLE portfolios ADD COLUMN list_order BIGINT NOT NULL DEFAULT 0",
            // The position the relay published an outbox row at: after a restart the in-process
            // log takes portfolio channels back at these, so `since` still recovers.
            "ALTER TABLE outbox ADD COLUMN epoch TEXT",
            "ALTER TABLE outbox ADD COLUMN seq BIGINT",
            "CREATE INDEX outbox_channel ON outbox (channel, id)",
            "CREATE INDEX outbox_created_at ON outbox (created_at)",
        ]),
        Migration(version: 3, statements: [
            // Bars (2c): the ts of the events that set open and close, so the bar built in memory
            // since the last flush merges exactly into the stored one (NULL for imported bars).
            "ALTER TABLE bars_daily ADD COLUMN open_ts BIGINT",
            "ALTER TABLE bars_daily ADD COLUMN close_ts BIGINT",
            "ALTER TABLE bars_minute ADD COLUMN open_ts BIGINT",
            "ALTER TABLE bars_minute ADD COLUMN close_ts BIGINT",
        ]),
    ]
}

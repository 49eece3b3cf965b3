/// What the store's worker loop needs of a connection beyond `SQLConnection`: the transaction
/// brackets. One per worker thread, created at start and touched only by that thread (the
/// PostgreSQL one re-makes its server connection inside after a loss).
protocol WorkerConnection: SQLConnection {
    func begin(write: Bool) throws(StoreError)
    func commit() throws(StoreError)
    /// Best effort: after a failed body or commit; a lost connection has nothing to undo.
    func rollback()
    func close()
    /// The health check's query (PostgreSQL: connects even while the reconnect backoff holds).
    func probe() throws(StoreError)
}

extension WorkerConnection {
    func probe() throws(StoreError) { try query("SELECT 1", []) }

    /// One attempt: BEGIN, body, COMMIT; ROLLBACK when the body or the commit throws.
    func runOnce<T>(write: Bool, _ body: (any SQLConnection) throws(StoreError) -> T) -> Result<T, StoreError> {
        do {
            try begin(write: write)
        } catch {
            return .failure(error)
        }
        do {
            let value = try body(self)
            try commit()
            return .success(value)
        } catch {
            rollback()
            return .failure(error)
        }
    }
}

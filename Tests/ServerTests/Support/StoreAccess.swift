import Store

/// One transaction on a gateway's database from the test's side (a store of its own, one
/// connection): to look at rows, or to put some in that no method writes.
func onStore<T: Sendable>(_ backend: StoreBackend, write: Bool = true,
                          _ body: @escaping @Sendable (any SQLConnection) throws(StoreError) -> T) throws -> T {
    var c = StoreConfiguration()
    c.backend = backend
    c.postgresPool = 1
    c.sqliteThreads = 1
    let store = try Store(configuration: c, logger: testLogger)
    defer { store.shutdown() }
    return try store.transactionBlocking(write: write, body).get()
}

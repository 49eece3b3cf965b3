/// The protocol layer above a connection (HTTP, WebSocket). One handler object per
/// connection; every call happens on the connection's event loop thread.
public protocol ConnectionHandler: AnyObject {
    /// Bytes arrived. The buffer is the loop's shared receive buffer: valid only during the
    /// call, and writable so a decoder may unmask in place. Copy what must outlive the call.
    func connectionDidRead(_ connection: Connection, _ bytes: UnsafeMutableRawBufferPointer)

    /// The peer shut down its sending side (read returned 0).
    func connectionDidReadEOF(_ connection: Connection)

    /// The deadline set with `Connection.setDeadline` has passed.
    func connectionDeadlineDidPass(_ connection: Connection, now: Millis)

    /// Queued output fell below the low-water mark after reading had been paused.
    func connectionDidDrain(_ connection: Connection)

    /// The server is draining (SIGTERM): say goodbye (e.g. close 1001) and close.
    func connectionShouldDrain(_ connection: Connection)

    /// The connection is gone (after the fd is closed). Called once, at the end of a loop pass.
    func connectionDidClose(_ connection: Connection, error: SystemError?)
}

extension ConnectionHandler {
    public func connectionDidReadEOF(_ connection: Connection) { connection.close() }
    public func connectionDidDrain(_ connection: Connection) {}
    public func connectionShouldDrain(_ connection: Connection) { connection.close(afterFlush: true) }
    public func connectionDidClose(_ connection: Connection, error: SystemError?) {}
}

import COpenSSL
import CSystem

#if canImport(Glibc)
import Glibc
#endif

/// Why TLS could not be set up (start-up), with OpenSSL's reason text — never key material.
public struct TLSError: Error, CustomStringConvertible, Sendable {
    public let description: String
}

/// A server TLS configuration (`SSL_CTX`): certificate chain and key loaded once at start-up,
/// then shared read-only by every loop (OpenSSL allows `SSL_new` from many threads).
// @unchecked: the SSL_CTX is set up in init and only read afterwards (SSL_new is thread-safe).
public final class TLSContext: @unchecked Sendable {
    let context: OpaquePointer

    /// Loads PEM files (blocking disk reads: start-up only, never on a loop).
    public init(certificatePath: String, keyPath: String) throws(TLSError) {
        guard let ctx = qv_tls_server_context() else { throw TLSError(description: "cannot create a TLS context: \(TLSContext.lastError())") }
        guard SSL_CTX_use_certificate_chain_file(ctx, certificatePath) == 1 else {
            SSL_CTX_free(ctx)
            throw TLSError(description: "cannot load certificate chain from \(certificatePath): \(TLSContext.lastError())")
        }
        guard SSL_CTX_use_PrivateKey_file(ctx, keyPath, SSL_FILETYPE_PEM) == 1 else {
            SSL_CTX_free(ctx)
            throw TLSError(description: "cannot load private key from \(keyPath): \(TLSContext.lastError())")
        }
        guard SSL_CTX_check_private_key(ctx) == 1 else {
            SSL_CTX_free(ctx)
            throw TLSError(description: "the private key does not match the certificate: \(TLSContext.lastError())")
        }
        self.context = ctx
    }

    deinit { SSL_CTX_free(context) }

    static func lastError() -> String {
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: 256) { buf -> String in
            guard let base = buf.baseAddress else { return "unknown error" }
            qv_tls_error_string(base, 256)
            let s = String(cString: base)
            return s.isEmpty ? "unknown error" : s
        }
    }
}

/// One connection's TLS state (`SSL*`, which must not move: hence a class that owns it).
/// Reads and writes go through OpenSSL on the non-blocking socket; "want read/write" are
/// ordinary outcomes that the loop turns into epoll interest.
final class TLSSession {
    let ssl: OpaquePointer
    /// The last SSL_write stopped because OpenSSL needs to read first (or the reverse): the
    /// other direction's readiness must drive a retry.
    var writeWantsRead = false
    var readWantsWrite = false

    init?(context: TLSContext, fd: Int32) {
        guard let ssl = SSL_new(context.context) else { return nil }
        guard SSL_set_fd(ssl, fd) == 1 else {
            SSL_free(ssl)
            return nil
        }
        SSL_set_accept_state(ssl)
        self.ssl = ssl
    }

    deinit { SSL_free(ssl) }

    var isHandshakeComplete: Bool { SSL_is_init_finished(ssl) == 1 }

    /// Bytes OpenSSL has decrypted but we have not read yet (epoll cannot see them).
    var hasPendingPlaintext: Bool { SSL_pending(ssl) > 0 }

    enum ReadResult {
        case bytes(Int)
        case wouldBlock
        case closed
    }

    /// Decrypts into `buffer`, several records if they are there, until it is full or the socket
    /// has nothing more.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws(TLSError) -> ReadResult {
        guard let base = buffer.baseAddress else { return .wouldBlock }
        var total = 0
        readWantsWrite = false
        while total < buffer.count {
            let n = SSL_read(ssl, base + total, Int32(min(buffer.count - total, Int(Int32.max))))
            if n > 0 {
                total += Int(n)
                continue
            }
            switch SSL_get_error(ssl, n) {
            case SSL_ERROR_WANT_READ:
                return total > 0 ? .bytes(total) : .wouldBlock
            case SSL_ERROR_WANT_WRITE:
                readWantsWrite = true
                return total > 0 ? .bytes(total) : .wouldBlock
            case SSL_ERROR_ZERO_RETURN:
                return total > 0 ? .bytes(total) : .closed
            case SSL_ERROR_SYSCALL where n == 0:
                // EOF without close_notify: treat as a plain TCP close.
                ERR_clear_error()
                return total > 0 ? .bytes(total) : .closed
            default:
                throw TLSError(description: TLSContext.lastError())
            }
        }
        return .bytes(total)
    }

    /// Encrypts and sends as much of the iovecs as the socket takes (partial writes enabled).
    func write(_ iov: UnsafePointer<iovec>, _ count: Int) throws(TLSError) -> IOResult<Int> {
        var total = 0
        writeWantsRead = false
        for i in 0..<count {
            guard let base = iov[i].iov_base else { continue }
            var left = iov[i].iov_len
            var offset = 0
            while left > 0 {
                let n = SSL_write(ssl, base + offset, Int32(min(left, 1 << 30)))
                if n > 0 {
                    total += Int(n)
                    offset += Int(n)
                    left -= Int(n)
                    continue
                }
                switch SSL_get_error(ssl, n) {
                case SSL_ERROR_WANT_WRITE:
                    return total > 0 ? .processed(total) : .wouldBlock
                case SSL_ERROR_WANT_READ:
                    writeWantsRead = true
                    return total > 0 ? .processed(total) : .wouldBlock
                default:
                    throw TLSError(description: TLSContext.lastError())
                }
            }
        }
        return .processed(total)
    }

    /// Sends close_notify, best effort (non-blocking; we do not wait for the peer's).
    func shutdown() {
        if isHandshakeComplete { _ = SSL_shutdown(ssl) }
        ERR_clear_error()
    }
}

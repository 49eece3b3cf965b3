#ifndef QV_COPENSSL_SHIM_H
#define QV_COPENSSL_SHIM_H
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/crypto.h>

/* SHA-1 of one buffer (Sec-WebSocket-Accept). EVP_Digest is the non-deprecated spelling. */
static inline int qv_sha1(const void *data, size_t len, unsigned char out[20]) {
    unsigned int outLen = 0;
    return EVP_Digest(data, len, out, &outLen, EVP_sha1(), NULL) == 1 && outLen == 20;
}
/* A server SSL_CTX as the gateway wants it: TLS 1.2 and 1.3 only, modern AEAD suites, no
 * renegotiation or compression, partial writes (our writer retries from where it stopped),
 * buffers released while a connection is idle (memory per idle TLS connection). */
static inline SSL_CTX *qv_tls_server_context(void) {
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) return NULL;
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
        SSL_CTX_set_cipher_list(ctx, "ECDHE+AESGCM:ECDHE+CHACHA20") != 1) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
    return ctx;
}

/* The oldest queued OpenSSL error as text (never key material: only library/reason strings). */
static inline void qv_tls_error_string(char *buf, size_t len) {
    unsigned long e = ERR_get_error();
    if (e == 0) { if (len > 0) buf[0] = 0; return; }
    ERR_error_string_n(e, buf, len);
    ERR_clear_error();
}
#endif

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
#endif

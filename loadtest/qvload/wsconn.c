/* Client WebSocket connections on one epoll loop: non-blocking connect, for wss:// a
 * non-blocking TLS handshake (OpenSSL, no certificate verification: loopback servers with
 * throwaway certificates), the HTTP/1.1 upgrade (checked: status 101 and
 * Sec-WebSocket-Accept), RFC 6455 client framing (every frame masked), buffered output
 * written with one send() (or SSL_write()) per flush, the closing handshake, and channel
 * subscriptions. Shared by every mode. */
#define _GNU_SOURCE /* memmem */
#include "qvload.h"

#include <errno.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <unistd.h>

#define MAX_FRAME (64u << 20)     /* largest frame accepted from the server */
#define MAX_RESPONSE_HEAD 16384   /* largest upgrade response head */
#define MAX_ATTEMPTS 12           /* connect + upgrade attempts per connection */
#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

/* ---------- buffers ---------- */

static int buf_reserve(qv_buf *b, size_t extra) {
    if (b->off > 0 && b->off == b->len) b->off = b->len = 0;
    if (b->len + extra <= b->cap) return 0;
    if (b->off > 0) { /* compact first */
        memmove(b->data, b->data + b->off, b->len - b->off);
        b->len -= b->off;
        b->off = 0;
        if (b->len + extra <= b->cap) return 0;
    }
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra) cap *= 2;
    uint8_t *d = realloc(b->data, cap);
    if (!d) return -1;
    b->data = d;
    b->cap = cap;
    return 0;
}

static void buf_free(qv_buf *b) {
    free(b->data);
    memset(b, 0, sizeof *b);
}

/* ---------- TLS ---------- */

static SSL_CTX *tls_context(void) {
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) return NULL;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    /* The output buffer may move between a partial SSL_write and its retry; idle
     * connections keep no read/write buffers (the connect mode holds thousands). */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF); /* EOF without close_notify is an EOF */
#endif
    return ctx;
}

/* send()/recv() or their TLS twins. Return bytes moved; 0 from conn_recv is EOF; -1 with
 * errno EAGAIN means "try again when epoll says so", any other errno a broken connection. */
static ssize_t conn_send(qv_conn *c, const void *p, size_t n) {
    if (!c->ssl) return send(c->fd, p, n, MSG_NOSIGNAL);
    ERR_clear_error();
    int w = SSL_write(c->ssl, p, n > INT32_MAX ? INT32_MAX : (int)n);
    if (w > 0) return w;
    int e = SSL_get_error(c->ssl, w);
    errno = e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? EAGAIN : (errno ? errno : EPIPE);
    return -1;
}

static ssize_t conn_recv(qv_conn *c, void *p, size_t n) {
    if (!c->ssl) return recv(c->fd, p, n, 0);
    ERR_clear_error();
    int r = SSL_read(c->ssl, p, n > INT32_MAX ? INT32_MAX : (int)n);
    if (r > 0) return r;
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_ZERO_RETURN) return 0;
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        errno = EAGAIN;
        return -1;
    }
    if (e == SSL_ERROR_SYSCALL && errno == 0) return 0; /* EOF without close_notify */
    errno = errno ? errno : ECONNRESET;
    return -1;
}

/* ---------- loop ---------- */

int qv_loop_init(qv_loop *lp, int index, const qv_url *url, int nconns, int first_id) {
    memset(lp, 0, sizeof *lp);
    lp->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (lp->epfd < 0) return -1;
    lp->conns = calloc((size_t)(nconns > 0 ? nconns : 1), sizeof(qv_conn));
    if (!lp->conns) return -1;
    lp->nconns = nconns;
    lp->url = url;
    lp->index = index;
    lp->rng = qv_seed() ^ ((uint64_t)index * 0x9E3779B97F4A7C15ull);
    if (url->tls && !(lp->ssl_ctx = tls_context())) return -1;
    for (int i = 0; i < nconns; i++) {
        lp->conns[i].fd = -1;
        lp->conns[i].id = first_id + i;
        lp->conns[i].state = QV_IDLE;
    }
    return 0;
}

void qv_loop_free(qv_loop *lp) {
    for (int i = 0; i < lp->nconns; i++) {
        qv_conn *c = &lp->conns[i];
        if (c->ssl) SSL_free(c->ssl);
        if (c->fd >= 0) close(c->fd);
        buf_free(&c->in);
        buf_free(&c->out);
        buf_free(&c->frag);
    }
    free(lp->conns);
    if (lp->ssl_ctx) SSL_CTX_free(lp->ssl_ctx);
    if (lp->epfd >= 0) close(lp->epfd);
    memset(lp, 0, sizeof *lp);
    lp->epfd = -1;
}

static void set_events(qv_loop *lp, qv_conn *c, int want_write) {
    struct epoll_event ev = {.events = EPOLLIN | (want_write ? EPOLLOUT : 0), .data.ptr = c};
    epoll_ctl(lp->epfd, EPOLL_CTL_MOD, c->fd, &ev);
    c->want_write = want_write;
}

static int is_pending(int state) { return state == QV_CONNECTING || state == QV_HANDSHAKING || state == QV_UPGRADING; }

void qv_conn_drop(qv_loop *lp, qv_conn *c, int state) {
    if (c->ssl) {
        if (state == QV_CLOSED) SSL_shutdown(c->ssl); /* close_notify, best effort */
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
    if (c->fd >= 0) {
        close(c->fd); /* also removes it from epoll */
        c->fd = -1;
    }
    if (is_pending(c->state)) lp->pending--;
    if (c->state == QV_OPEN || c->state == QV_CLOSING) lp->open--;
    c->state = state;
    c->in.len = c->in.off = 0;
    c->out.len = c->out.off = 0;
    c->frag.len = c->frag.off = 0;
    c->frag_op = 0;
    c->deflate = 0;
    c->close_received = 0;
    c->want_write = 0;
}

/* A connect or upgrade attempt failed: retry later with backoff, or give up. */
static void attempt_failed(qv_loop *lp, qv_conn *c, int retryable, uint64_t now) {
    qv_conn_drop(lp, c, QV_IDLE);
    if (retryable && c->attempts < MAX_ATTEMPTS) {
        uint64_t backoff_ms = 10ull << (c->attempts < 7 ? c->attempts : 7); /* 20 ms .. 1.28 s */
        backoff_ms += qv_rand64(&lp->rng) % (backoff_ms / 2 + 1);          /* jitter */
        c->retry_at = now + backoff_ms * 1000000ull;
        lp->err.retries++;
        lp->waiting_retry++;
    } else {
        c->state = QV_FAILED;
        lp->err.connect_errors++;
    }
}

/* ---------- connect + upgrade ---------- */

static int retryable_errno(int e) {
    return e == ECONNREFUSED || e == EAGAIN || e == ECONNRESET || e == ETIMEDOUT || e == EADDRNOTAVAIL ||
           e == EPIPE || e == EINTR;
}

static void queue_upgrade(qv_loop *lp, qv_conn *c) {
    uint8_t raw[16];
    uint64_t a = qv_rand64(&lp->rng), b = qv_rand64(&lp->rng);
    memcpy(raw, &a, 8);
    memcpy(raw + 8, &b, 8);
    qv_base64(raw, 16, c->key);
    char req[4096]; /* path (1 KiB) + extra headers (2 KiB) + the fixed lines */
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\n"
                     "Host: %s\r\n"
                     "Upgrade: websocket\r\n"
                     "Connection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\n"
                     "Sec-WebSocket-Version: 13\r\n"
                     "%s%s"
                     "User-Agent: qv-load\r\n"
                     "\r\n",
                     lp->url->path, lp->url->host_header, c->key,
                     lp->offer_deflate ? "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n" : "",
                     c->headers ? c->headers : "");
    if (n > 0 && (size_t)n < sizeof req && buf_reserve(&c->out, (size_t)n) == 0) {
        memcpy(c->out.data + c->out.len, req, (size_t)n);
        c->out.len += (size_t)n;
    }
}

static void start_connect(qv_loop *lp, qv_conn *c, uint64_t now) {
    c->attempts++;
    int fd = socket(lp->url->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        /* EMFILE/ENFILE: out of descriptors, retrying will not help. */
        perror("qv-load: socket");
        c->state = QV_FAILED;
        lp->err.connect_errors++;
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->fd = fd;
    c->state = QV_CONNECTING;
    lp->pending++;
    struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
    if (epoll_ctl(lp->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        perror("qv-load: epoll_ctl");
        qv_conn_drop(lp, c, QV_FAILED);
        lp->err.connect_errors++;
        return;
    }
    c->want_write = 1;
    if (connect(fd, (const struct sockaddr *)&lp->url->addr, lp->url->addrlen) != 0 && errno != EINPROGRESS) {
        attempt_failed(lp, c, retryable_errno(errno), now);
        return;
    }
    /* Completion (even an immediate one) is reported by EPOLLOUT. */
}

/* Runs the TLS handshake as far as it goes; once done, sends the upgrade request. */
static void tls_handshake(qv_loop *lp, qv_conn *c, uint64_t now) {
    ERR_clear_error();
    int r = SSL_do_handshake(c->ssl);
    if (r == 1) {
        c->state = QV_UPGRADING;
        queue_upgrade(lp, c);
        qv_conn_flush(lp, c);
        return;
    }
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        int ww = e == SSL_ERROR_WANT_WRITE;
        if (ww != c->want_write) set_events(lp, c, ww);
        return;
    }
    if (e == SSL_ERROR_SYSCALL) { /* reset or EOF mid-handshake: maybe an overrun backlog */
        attempt_failed(lp, c, 1, now);
        return;
    }
    if (lp->err.tls_errors++ == 0) {
        char msg[256];
        ERR_error_string_n(ERR_peek_last_error(), msg, sizeof msg);
        fprintf(stderr, "qv-load: TLS handshake failed: %s\n", msg);
    }
    attempt_failed(lp, c, 0, now);
}

static const char *find_crlfcrlf(const uint8_t *p, size_t n) {
    for (size_t i = 3; i < n; i++)
        if (p[i] == '\n' && p[i - 1] == '\r' && p[i - 2] == '\n' && p[i - 3] == '\r') return (const char *)p + i + 1;
    return NULL;
}

/* Whether an answered Sec-WebSocket-Extensions value [v, ve) accepts permessage-deflate: its
 * first extension must be exactly that token (we offered nothing else). */
static int accepts_deflate(const char *v, const char *ve) {
    static const char name[] = "permessage-deflate";
    size_t n = sizeof name - 1;
    if ((size_t)(ve - v) < n || strncasecmp(v, name, n) != 0) return 0;
    return v + n == ve || v[n] == ';' || v[n] == ' ' || v[n] == '\t';
}

/* Returns 1 when the upgrade completed, 0 if more bytes are needed, -1 on a bad response
 * (also: permessage-deflate offered and not accepted, or an extension we did not offer). */
static int check_response(qv_loop *lp, qv_conn *c) {
    const uint8_t *p = c->in.data + c->in.off;
    size_t n = c->in.len - c->in.off;
    const char *end = find_crlfcrlf(p, n);
    if (!end) return n > MAX_RESPONSE_HEAD ? -1 : 0;
    size_t head_len = (size_t)(end - (const char *)p);
    if (head_len < 12 || memcmp(p, "HTTP/1.1 101", 12) != 0) return -1;
    char expect_src[64], expect[32];
    uint8_t digest[20];
    int l = snprintf(expect_src, sizeof expect_src, "%s%s", c->key, WS_GUID);
    qv_sha1(expect_src, (size_t)l, digest);
    qv_base64(digest, 20, expect);
    int ok = 0, extensions = 0, deflate = 0;
    /* Scan header lines for Sec-WebSocket-Accept and -Extensions (case-insensitive names). */
    const char *line = memchr(p, '\n', head_len);
    while (line && line + 1 < end) {
        line++;
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        if (!eol) break;
        static const char name[] = "sec-websocket-accept:";
        static const char ext[] = "sec-websocket-extensions:";
        int is_accept = (size_t)(eol - line) > sizeof name - 1 && strncasecmp(line, name, sizeof name - 1) == 0;
        int is_ext = (size_t)(eol - line) > sizeof ext - 1 && strncasecmp(line, ext, sizeof ext - 1) == 0;
        if (is_accept || is_ext) {
            const char *v = line + (is_accept ? sizeof name : sizeof ext) - 1;
            while (v < eol && (*v == ' ' || *v == '\t')) v++;
            const char *ve = eol;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t')) ve--;
            if (is_accept) {
                ok = (size_t)(ve - v) == strlen(expect) && memcmp(v, expect, strlen(expect)) == 0;
            } else {
                extensions++;
                deflate = accepts_deflate(v, ve);
            }
        }
        line = eol;
    }
    if (!ok) return -1;
    if (lp->offer_deflate ? !(extensions == 1 && deflate) : extensions != 0) return -1;
    c->deflate = deflate;
    c->in.off += head_len; /* anything after the head is already WebSocket frames */
    return 1;
}

/* ---------- frames ---------- */

int qv_conn_queue_frame(qv_loop *lp, qv_conn *c, int opcode, const uint8_t *payload, size_t len) {
    if (buf_reserve(&c->out, len + 14) != 0) return -1;
    uint8_t *h = c->out.data + c->out.len;
    size_t hl;
    h[0] = (uint8_t)(0x80 | (opcode & 0x0f));
    if (len < 126) {
        h[1] = (uint8_t)(0x80 | len);
        hl = 2;
    } else if (len <= 0xffff) {
        h[1] = 0x80 | 126;
        h[2] = (uint8_t)(len >> 8);
        h[3] = (uint8_t)len;
        hl = 4;
    } else {
        h[1] = 0x80 | 127;
        for (int i = 0; i < 8; i++) h[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
        hl = 10;
    }
    uint32_t key32 = (uint32_t)qv_rand64(&lp->rng);
    uint8_t key[4];
    memcpy(key, &key32, 4);
    memcpy(h + hl, key, 4);
    hl += 4;
    uint8_t *dst = h + hl;
    uint64_t key64;
    memcpy(&key64, key, 4);
    memcpy((uint8_t *)&key64 + 4, key, 4);
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, payload + i, 8);
        w ^= key64;
        memcpy(dst + i, &w, 8);
    }
    for (; i < len; i++) dst[i] = payload[i] ^ key[i & 3];
    c->out.len += hl + len;
    return 0;
}

int qv_conn_flush(qv_loop *lp, qv_conn *c) {
    if (c->fd < 0) return -1;
    size_t n = c->out.len - c->out.off;
    if (n > 0) {
        ssize_t w = conn_send(c, c->out.data + c->out.off, n);
        if (w < 0) {
            if (errno != EAGAIN && errno != EINTR) {
                lp->err.io_errors++;
                qv_conn_drop(lp, c, QV_FAILED);
                return -1;
            }
            w = 0;
        }
        c->out.off += (size_t)w;
        if (c->out.off == c->out.len) c->out.off = c->out.len = 0;
    }
    int left = c->out.len > c->out.off;
    if (left != c->want_write) set_events(lp, c, left);
    return 0;
}

static int dispatch_frame(qv_loop *lp, qv_conn *c, int fin, int op, const uint8_t *pl, size_t len, uint64_t now) {
    switch (op) {
    case QV_OP_TEXT:
    case QV_OP_BINARY:
        if (c->frag_op) {
            lp->err.protocol_errors++;
            return -1;
        }
        if (fin) return lp->on_message ? lp->on_message(lp, c, op, pl, len, now) : 0;
        c->frag_op = op;
        c->frag.len = c->frag.off = 0;
        /* fallthrough */
    case QV_OP_CONT:
        if (!c->frag_op) {
            lp->err.protocol_errors++;
            return -1;
        }
        if (c->frag.len + len > MAX_FRAME || buf_reserve(&c->frag, len) != 0) {
            lp->err.protocol_errors++;
            return -1;
        }
        memcpy(c->frag.data + c->frag.len, pl, len);
        c->frag.len += len;
        if (fin) {
            int fop = c->frag_op;
            c->frag_op = 0;
            int r = lp->on_message ? lp->on_message(lp, c, fop, c->frag.data, c->frag.len, now) : 0;
            c->frag.len = c->frag.off = 0;
            return r;
        }
        return 0;
    case QV_OP_PING:
        return qv_conn_queue_frame(lp, c, QV_OP_PONG, pl, len);
    case QV_OP_PONG:
        return 0;
    case QV_OP_CLOSE:
        if (c->state == QV_OPEN) {
            /* The server closes first: answer with its status code, then wait for EOF. */
            lp->err.unexpected_closes++;
            qv_conn_queue_frame(lp, c, QV_OP_CLOSE, pl, len >= 2 ? 2 : 0);
            c->state = QV_CLOSING;
        }
        c->close_received = 1;
        return 0;
    default:
        lp->err.protocol_errors++;
        return -1;
    }
}

/* Parses every complete frame in the input buffer. */
static int parse_frames(qv_loop *lp, qv_conn *c, uint64_t now) {
    for (;;) {
        if (c->fd < 0) return -1;
        const uint8_t *p = c->in.data + c->in.off;
        size_t n = c->in.len - c->in.off;
        if (n < 2) break;
        int fin = p[0] & 0x80, op = p[0] & 0x0f;
        /* RSV1 only marks a compressed data message, and only after permessage-deflate was
         * agreed (such payloads are passed on as they are); servers never mask. */
        int rsv_allowed = c->deflate && (op == QV_OP_TEXT || op == QV_OP_BINARY) ? 0x40 : 0;
        if ((p[0] & 0x70 & ~rsv_allowed) || (p[1] & 0x80)) {
            lp->err.protocol_errors++;
            return -1;
        }
        uint64_t len = p[1] & 0x7f;
        size_t hl = 2;
        if (len == 126) {
            if (n < 4) break;
            len = (uint64_t)p[2] << 8 | p[3];
            hl = 4;
        } else if (len == 127) {
            if (n < 10) break;
            len = 0;
            for (int i = 0; i < 8; i++) len = len << 8 | p[2 + i];
            hl = 10;
        }
        if (len > MAX_FRAME || ((op & 0x8) && (len > 125 || !fin))) {
            lp->err.protocol_errors++;
            return -1;
        }
        if (n < hl + len) {
            if (buf_reserve(&c->in, hl + (size_t)len - n) != 0) return -1;
            break;
        }
        c->in.off += hl + (size_t)len;
        if (dispatch_frame(lp, c, fin, op, p + hl, (size_t)len, now) != 0) return -1;
    }
    if (c->in.off == c->in.len) c->in.off = c->in.len = 0;
    return 0;
}

#define RD_DATA 1
#define RD_EOF 2
#define RD_ERR 4

/* Reads until the socket is drained (or the buffer was only partly filled).
 * Returns a mask of RD_DATA (bytes came), RD_EOF (peer closed), RD_ERR.
 * TLS: SSL_read() gives one record (<= 16 KiB, the least space offered) at a time, so a
 * short read says nothing there; read until OpenSSL wants more from the socket. Nothing
 * decrypted stays behind in OpenSSL, so level-triggered epoll still sees what is left. */
static int read_some(qv_conn *c) {
    int got = 0;
    for (int rounds = 0; rounds < 16; rounds++) {
        if (buf_reserve(&c->in, 16384) != 0) return got | RD_ERR;
        size_t space = c->in.cap - c->in.len;
        ssize_t r = conn_recv(c, c->in.data + c->in.len, space);
        if (r > 0) {
            c->in.len += (size_t)r;
            got = RD_DATA;
            if ((size_t)r < space && !c->ssl) break;
            continue;
        }
        if (r == 0) return got | RD_EOF;
        if (errno == EAGAIN || errno == EINTR) break;
        return got | RD_ERR;
    }
    return got;
}

int qv_conn_read(qv_loop *lp, qv_conn *c, uint64_t now) {
    int r = read_some(c);
    if ((r & RD_DATA) && parse_frames(lp, c, now) != 0) {
        if (c->fd >= 0) qv_conn_drop(lp, c, QV_FAILED);
        return -1;
    }
    if (r & RD_EOF) {
        if (c->state == QV_CLOSING && c->close_received) {
            qv_conn_drop(lp, c, QV_CLOSED);
        } else {
            lp->err.unexpected_closes++;
            qv_conn_drop(lp, c, QV_FAILED);
        }
        return -1;
    }
    if (r & RD_ERR) {
        if (c->state == QV_CLOSING && c->close_received) {
            qv_conn_drop(lp, c, QV_CLOSED); /* a reset after the closing handshake is fine */
        } else {
            lp->err.io_errors++;
            qv_conn_drop(lp, c, QV_FAILED);
        }
        return -1;
    }
    return 0;
}

void qv_conn_event(qv_loop *lp, qv_conn *c, uint32_t events, uint64_t now) {
    if (c->fd < 0) return;
    switch (c->state) {
    case QV_CONNECTING: {
        int err = 0;
        socklen_t el = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err != 0) {
            attempt_failed(lp, c, retryable_errno(err), now);
            return;
        }
        if (!(events & EPOLLOUT)) return;
        if (lp->ssl_ctx) {
            c->ssl = SSL_new(lp->ssl_ctx);
            if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1) {
                lp->err.tls_errors++;
                attempt_failed(lp, c, 0, now);
                return;
            }
            SSL_set_connect_state(c->ssl);
            c->state = QV_HANDSHAKING;
            tls_handshake(lp, c, now);
            return;
        }
        c->state = QV_UPGRADING;
        queue_upgrade(lp, c);
        qv_conn_flush(lp, c);
        return;
    }
    case QV_HANDSHAKING:
        tls_handshake(lp, c, now);
        return;
    case QV_UPGRADING: {
        if ((events & EPOLLOUT) && qv_conn_flush(lp, c) != 0) return;
        if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR))) return;
        int r = read_some(c);
        int ok = check_response(lp, c);
        if (ok == 0 && (r & (RD_EOF | RD_ERR))) { /* reset or closed before answering: maybe an overrun backlog */
            attempt_failed(lp, c, 1, now);
            return;
        }
        if (ok < 0) {
            lp->err.handshake_errors++;
            attempt_failed(lp, c, 0, now);
            return;
        }
        if (ok == 1) {
            lp->pending--;
            lp->open++;
            c->state = QV_OPEN;
            if (parse_frames(lp, c, now) != 0) {
                if (c->fd >= 0) qv_conn_drop(lp, c, QV_FAILED);
                return;
            }
            if (r & (RD_EOF | RD_ERR)) {
                lp->err.unexpected_closes++;
                qv_conn_drop(lp, c, QV_FAILED);
                return;
            }
            qv_conn_flush(lp, c);
        }
        return;
    }
    case QV_OPEN:
    case QV_CLOSING:
        if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
            if (qv_conn_read(lp, c, now) != 0) return;
        }
        qv_conn_flush(lp, c);
        return;
    default:
        return;
    }
}

int qv_loop_poll(qv_loop *lp, int timeout_ms) {
    struct epoll_event evs[256];
    int n = epoll_wait(lp->epfd, evs, 256, timeout_ms);
    if (n <= 0) return 0;
    uint64_t now = 0;
    for (int i = 0; i < n; i++) {
        now = qv_now_ns(); /* per event: a message queued late in a batch is timed when it is queued */
        qv_conn_event(lp, evs[i].data.ptr, evs[i].events, now);
    }
    if (lp->after_poll) lp->after_poll(lp, now);
    return n;
}

/* ---------- establishing N connections ---------- */

int qv_establish(qv_loop *lp, double rate, int max_pending, uint64_t deadline_ns) {
    uint64_t t0 = qv_now_ns();
    uint64_t started = 0;
    int next = 0; /* first never-started connection */
    double burst = rate / 50.0 < 1 ? 1 : rate / 50.0;
    for (;;) {
        uint64_t now = qv_now_ns();
        if (next >= lp->nconns && lp->pending == 0 && lp->waiting_retry == 0) break;
        if (now >= deadline_ns) break;
        double allowed = rate * (double)(now - t0) / 1e9 + burst;
        /* Retries first (they have waited longest), then new connections. */
        if (lp->waiting_retry > 0) {
            for (int i = 0; i < next && lp->pending < max_pending && (double)started < allowed; i++) {
                qv_conn *c = &lp->conns[i];
                if (c->state == QV_IDLE && c->retry_at <= now) {
                    lp->waiting_retry--;
                    started++;
                    start_connect(lp, c, now);
                }
            }
        }
        while (next < lp->nconns && lp->pending < max_pending && (double)started < allowed) {
            started++;
            start_connect(lp, &lp->conns[next++], now);
        }
        qv_loop_poll(lp, 2);
    }
    /* Whatever is still connecting at the deadline has failed. */
    for (int i = 0; i < lp->nconns; i++) {
        qv_conn *c = &lp->conns[i];
        if (c->state == QV_IDLE || is_pending(c->state)) {
            qv_conn_drop(lp, c, QV_FAILED);
            lp->err.connect_errors++;
        }
    }
    lp->waiting_retry = 0;
    return lp->open;
}

int qv_establish_share(qv_loop *lp, const qv_opts *o) {
    double rate = o->rate / (double)o->threads;
    int max_pending = 256 / (int)o->threads;
    uint64_t deadline = qv_now_ns() + (uint64_t)(o->setup_timeout * 1e9);
    return qv_establish(lp, rate, max_pending < 8 ? 8 : max_pending, deadline);
}

/* ---------- closing ---------- */

int qv_close_all(qv_loop *lp, uint64_t deadline_ns) {
    static const uint8_t normal[2] = {0x03, 0xe8}; /* 1000 */
    for (int i = 0; i < lp->nconns; i++) {
        qv_conn *c = &lp->conns[i];
        if (c->state == QV_OPEN) {
            c->out.len = c->out.off = 0; /* drop unsent data messages */
            qv_conn_queue_frame(lp, c, QV_OP_CLOSE, normal, 2);
            c->state = QV_CLOSING;
            qv_conn_flush(lp, c);
        } else if (is_pending(c->state) || c->state == QV_IDLE) {
            qv_conn_drop(lp, c, QV_FAILED);
        }
    }
    while (lp->open > 0 && qv_now_ns() < deadline_ns) qv_loop_poll(lp, 10);
    int clean = 0;
    for (int i = 0; i < lp->nconns; i++) {
        qv_conn *c = &lp->conns[i];
        if (c->state == QV_CLOSED) clean++;
        else if (c->state == QV_CLOSING && c->close_received) {
            clean++;
            qv_conn_drop(lp, c, QV_CLOSED);
        } else if (c->fd >= 0) {
            qv_conn_drop(lp, c, QV_FAILED);
        }
    }
    return clean;
}

/* ---------- errors ---------- */

void qv_errors_add(qv_errors *into, const qv_errors *from) {
    into->connect_errors += from->connect_errors;
    into->retries += from->retries;
    into->handshake_errors += from->handshake_errors;
    into->protocol_errors += from->protocol_errors;
    into->payload_errors += from->payload_errors;
    into->unexpected_closes += from->unexpected_closes;
    into->io_errors += from->io_errors;
    into->tls_errors += from->tls_errors;
}

uint64_t qv_errors_total(const qv_errors *e) {
    return e->connect_errors + e->protocol_errors + e->payload_errors + e->unexpected_closes + e->io_errors;
}

/* ---------- channel subscriptions ---------- */

int qv_conn_subscribe(qv_loop *lp, qv_conn *c, const char *channel, int raw) {
    char msg[512];
    int n = raw ? snprintf(msg, sizeof msg, "subscribe %s", channel)
                : snprintf(msg, sizeof msg,
                           "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"subscribe\",\"params\":{\"channel\":\"%s\"}}",
                           channel);
    if (n < 0 || (size_t)n >= sizeof msg) return -1;
    if (qv_conn_queue_frame(lp, c, QV_OP_TEXT, (const uint8_t *)msg, (size_t)n) != 0) return -1;
    c->sub = QV_SUB_SENT;
    return qv_conn_flush(lp, c);
}

int qv_conn_subscribe_reply(qv_conn *c, const uint8_t *payload, size_t len, int raw) {
    if (c->sub != QV_SUB_SENT) return 0;
    if (raw) {
        if (memmem(payload, len, "\"sent\":", 7)) return 0;
        c->sub = QV_SUB_OK;
        return 1;
    }
    if (memmem(payload, len, "\"result\"", 8)) c->sub = QV_SUB_OK;
    else if (memmem(payload, len, "\"error\"", 7)) c->sub = QV_SUB_FAILED;
    else return 0;
    return 1;
}

int qv_wait_subscribed(qv_loop *lp, uint64_t deadline_ns) {
    for (;;) {
        int waiting = 0, ok = 0;
        for (int i = 0; i < lp->nconns; i++) {
            qv_conn *c = &lp->conns[i];
            if (c->sub == QV_SUB_SENT && c->state == QV_OPEN) waiting++;
            ok += c->sub == QV_SUB_OK;
        }
        if (waiting == 0 || qv_now_ns() >= deadline_ns) return ok;
        qv_loop_poll(lp, 10);
    }
}

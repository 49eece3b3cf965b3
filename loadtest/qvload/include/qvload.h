/*
 * qv-load: a WebSocket load generator for loopback benchmarks.
 *
 * Layout (one file per concern, so a new mode only adds a file and a table row):
 *   main.c     command line, mode table, usage
 *   url.c      ws:// and wss:// URL parsing, loopback-only check
 *   sha1.c     SHA-1 and base64 (for Sec-WebSocket-Key / -Accept)
 *   hist.c     log-linear latency histogram (HdrHistogram-like)
 *   util.c     clocks, random numbers, /proc readers, rlimit
 *   wsconn.c   client connections: non-blocking connect, TLS handshake (wss://, OpenSSL,
 *              no certificate verification), HTTP upgrade, RFC 6455 client framing
 *              (masked), output buffer, close handshake, the rate-limited "establish N
 *              connections" driver and the channel subscription shared by all modes
 *   echo.c     `echo` mode
 *   connect.c  `connect` mode
 *   fanout.c   `fanout` mode: subscribers + publishers, publish->delivery latency from
 *              the CLOCK_MONOTONIC send time carried in each event (`"sent":NS`)
 *   rpc.c      `rpc` mode: setup messages, then a closed loop of JSON-RPC round trips
 */
#ifndef QVLOAD_H
#define QVLOAD_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

/* ---------- options ---------- */

typedef struct {
    const char *mode;
    const char *url;
    long connections;
    long inflight;
    long size;
    double duration;   /* seconds */
    double warmup;     /* seconds */
    long threads;
    int binary;
    int pids[16];      /* connect mode: server processes whose RSS is summed */
    int npids;
    double hold;       /* connect mode: minimum idle hold, seconds */
    double rate;       /* new connections per second (all threads together) */
    double settle;     /* connect mode: RSS must stay unchanged this long */
    double setup_timeout; /* seconds allowed to establish all connections */
    int deflate;       /* connect mode: offer permessage-deflate, require it accepted */
    const char *subscribe; /* connect mode: channel every connection subscribes to, or NULL */
    /* fanout mode */
    long subscribers, channels, publishers;
    double publish_rate;   /* publishes per second, all publishers together; 0: --inflight paces */
    int paced;             /* --rate given */
    const char *publisher_key;
    int raw;               /* --protocol raw: "subscribe CHANNEL" text, no publish replies */
    int notify;            /* --protocol qv-notify: publishes are JSON-RPC notifications (no id, no reply) */
    double grace;          /* seconds to wait for late deliveries after the run */
    /* rpc mode */
    const char *setup[32]; /* messages sent first, one at a time, each awaited */
    int nsetup;
    const char *message;   /* the message kept in flight */
    const char *capture;   /* rpc: a setup answer's "NAME":"value" replaces $NAME in message */
    double conn_rate;      /* requests per second per connection at most; 0: no cap */
    char headers[2048];    /* extra upgrade request header lines ("Name: value\r\n") */
} qv_opts;

/* ---------- URL ---------- */

typedef struct {
    struct sockaddr_storage addr;
    socklen_t addrlen;
    char host_header[300]; /* value for the Host: header */
    char path[1024];
    int tls;               /* wss:// */
} qv_url;

/* Returns 0 on success; on failure writes a message to err. Only loopback hosts pass. */
int qv_parse_url(const char *url, qv_url *out, char *err, size_t errlen);

/* ---------- SHA-1 / base64 ---------- */

void qv_sha1(const void *data, size_t len, uint8_t out[20]);
size_t qv_base64(const uint8_t *in, size_t len, char *out); /* out needs 4*ceil(len/3)+1 */

/* ---------- histogram ---------- */

#define QV_HIST_SUB_BITS 7
#define QV_HIST_SUB (1u << QV_HIST_SUB_BITS)      /* 128 sub-buckets per power of two */
#define QV_HIST_MAX_SHIFT 40                        /* values up to ~2^47 ns */
#define QV_HIST_COUNTS (2 * QV_HIST_SUB + QV_HIST_MAX_SHIFT * QV_HIST_SUB)

typedef struct {
    uint64_t counts[QV_HIST_COUNTS];
    uint64_t total;
    uint64_t min, max;
    double sum;
} qv_hist;

void qv_hist_init(qv_hist *h);
void qv_hist_record(qv_hist *h, uint64_t value);
void qv_hist_merge(qv_hist *into, const qv_hist *from);
/* Value at percentile p (0..100): highest value equivalent to the bucket that holds it. */
uint64_t qv_hist_percentile(const qv_hist *h, double p);

/* ---------- utilities ---------- */

uint64_t qv_now_ns(void);                 /* CLOCK_MONOTONIC */
void qv_sleep_ns(uint64_t ns);
uint64_t qv_rand64(uint64_t *state);      /* xorshift64* */
uint64_t qv_seed(void);                   /* from getrandom() */
long qv_read_rss_kib(int pid);            /* VmRSS of /proc/PID/status, -1 if unreadable */
long qv_read_rss_sum(const int *pids, int n);
double qv_read_cpu_seconds(int pid);      /* utime+stime of /proc/PID/stat, -1 if unreadable */
double qv_read_system_busy_seconds(double *total_seconds); /* /proc/stat: busy and total CPU time, all cores */
long qv_raise_nofile(void);               /* soft := hard, returns the new soft limit */
int qv_need_nofile(long connections);     /* raises the limit; -1 (and a message) if N do not fit */
double qv_cpu_self(void);                 /* this process's user+system CPU seconds */
void qv_json_string(char *out, size_t outlen, const char *s);

/* CPU use over a measured window: this process, the server processes (--pid) and the whole
 * machine. qv_cpu_begin() at its start, qv_cpu_end() at its end. */
typedef struct {
    double self0, server0, sys0;
    double loader_pct, server_pct, other_pct; /* -1 when unknown */
} qv_cpu_window;
void qv_cpu_begin(qv_cpu_window *w, const int *pids, int npids);
void qv_cpu_end(qv_cpu_window *w, const int *pids, int npids, double seconds);
void qv_cpu_print(const qv_cpu_window *w); /* "  cpu: loader N% of one core, server N%, ..." */

/* The clock of a run with loader threads (echo, fanout): once every thread is ready, one
 * of them fixes start = now, measure_start = start + warm-up, end = measure_start +
 * duration for all. Fields are UINT64_MAX until then. */
typedef struct {
    pthread_barrier_t barrier;
    _Atomic uint64_t start, measure_start, end;
    _Atomic int started;
    _Atomic int finished; /* loader threads done */
    int nthreads;
} qv_run;
void qv_run_init(qv_run *r, int nthreads);
void qv_run_destroy(qv_run *r);
/* Loader thread: waits for the others, then the clock is set. */
void qv_run_sync(qv_run *r, const qv_opts *o);
/* Loader thread: done (its connections closed). */
void qv_run_done(qv_run *r);
/* Main thread: waits (at most setup_s) for the start, then measures CPU use over the
 * measured window (cut short if every loader thread finishes). */
void qv_run_measure_cpu(qv_run *r, const qv_opts *o, double setup_s, qv_cpu_window *w);

/* ---------- connections ---------- */

enum {
    QV_IDLE = 0,    /* not started yet, or waiting to retry */
    QV_CONNECTING,  /* non-blocking connect() in progress */
    QV_HANDSHAKING, /* wss://: TLS handshake in progress */
    QV_UPGRADING,   /* upgrade request sent, waiting for the 101 */
    QV_OPEN,
    QV_CLOSING,     /* close frame sent, waiting for the server's close / EOF */
    QV_CLOSED,
    QV_FAILED,
};

typedef struct {
    uint8_t *data;
    size_t len, cap, off; /* bytes [off, len) are pending */
} qv_buf;

struct ssl_st;
struct ssl_ctx_st;

/* Channel subscription of a connection (qv_conn.sub) */
enum { QV_SUB_NONE = 0, QV_SUB_SENT, QV_SUB_OK, QV_SUB_FAILED };

typedef struct qv_conn {
    int fd;
    int state;
    int id;
    int attempts;
    uint64_t retry_at;      /* ns, for QV_IDLE after a failure */
    char key[32];           /* Sec-WebSocket-Key sent */
    qv_buf out;
    qv_buf in;
    qv_buf frag;            /* a fragmented message being reassembled */
    int frag_op;            /* its opcode, 0 when none */
    int close_received;     /* the server's close frame arrived */
    int want_write;         /* EPOLLOUT armed */
    int deflate;            /* the server accepted permessage-deflate */
    int sub;                /* QV_SUB_* */
    struct ssl_st *ssl;     /* wss:// */
    const char *headers;    /* extra upgrade request header lines ("Name: value\r\n"), or NULL */
    /* per-mode data */
    void *user;
} qv_conn;

typedef struct {
    uint64_t connect_errors;   /* connects/upgrades that failed for good */
    uint64_t retries;
    uint64_t handshake_errors; /* upgrade answered with something else than a valid 101 (also in connect_errors) */
    uint64_t protocol_errors;  /* bad frames */
    uint64_t payload_errors;   /* wrong echo length or content */
    uint64_t unexpected_closes;
    uint64_t io_errors;
    uint64_t tls_errors;       /* TLS handshakes that failed (also in connect_errors) */
} qv_errors;

void qv_errors_add(qv_errors *into, const qv_errors *from);
/* Errors that make a run suspect: connect, protocol, payload, closed by server, io. */
uint64_t qv_errors_total(const qv_errors *e);

/* One event loop: an epoll fd and the connections it owns. One per thread. */
typedef struct qv_loop {
    int epfd;
    qv_conn *conns;
    int nconns;
    const qv_url *url;
    uint64_t rng;
    qv_errors err;
    int index;              /* thread index */
    int pending;            /* connections connecting or upgrading */
    int open;               /* connections open or closing */
    int waiting_retry;      /* connections waiting for a retry */
    int offer_deflate;      /* offer permessage-deflate; an answer without it is a bad upgrade */
    struct ssl_ctx_st *ssl_ctx; /* wss:// */
    /* called after each batch of events (e.g. to flush); may be NULL */
    void (*after_poll)(struct qv_loop *, uint64_t now);
    /* frame callback, set by the mode: called for each complete data frame */
    int (*on_message)(struct qv_loop *, qv_conn *, int opcode, const uint8_t *payload, size_t len, uint64_t now);
    void *mode_state;
} qv_loop;

/* Opcodes */
#define QV_OP_CONT 0x0
#define QV_OP_TEXT 0x1
#define QV_OP_BINARY 0x2
#define QV_OP_CLOSE 0x8
#define QV_OP_PING 0x9
#define QV_OP_PONG 0xA

int qv_loop_init(qv_loop *lp, int index, const qv_url *url, int nconns, int first_id);
void qv_loop_free(qv_loop *lp);

/* Opens every connection of the loop, at most `rate` new ones per second and at most
 * `max_pending` handshakes in flight, retrying refused/reset attempts with backoff,
 * until all are open or the deadline passes. Returns the number open. */
int qv_establish(qv_loop *lp, double rate, int max_pending, uint64_t deadline_ns);
/* qv_establish() for one of o->threads loader threads: its share of --rate and of the
 * handshakes in flight, within --setup-timeout. */
int qv_establish_share(qv_loop *lp, const qv_opts *o);

/* Appends one masked frame to the connection's output buffer (not sent yet). */
int qv_conn_queue_frame(qv_loop *lp, qv_conn *c, int opcode, const uint8_t *payload, size_t len);
/* Writes as much of the output buffer as the socket takes (one send()), arming
 * EPOLLOUT if something is left. Returns -1 if the connection failed. */
int qv_conn_flush(qv_loop *lp, qv_conn *c);
/* Reads what is available and dispatches complete frames (pings answered, closes
 * handled, data frames to lp->on_message). Returns -1 if the connection is gone. */
int qv_conn_read(qv_loop *lp, qv_conn *c, uint64_t now);
/* Handles one epoll event for an open/closing connection. */
void qv_conn_event(qv_loop *lp, qv_conn *c, uint32_t events, uint64_t now);
/* Sends a close frame on every open connection and waits (bounded) for the closing
 * handshake; then closes every socket. Returns the number closed cleanly. */
int qv_close_all(qv_loop *lp, uint64_t deadline_ns);
void qv_conn_drop(qv_loop *lp, qv_conn *c, int state);
/* Sends a subscribe request for `channel` (JSON-RPC id 1, or the text "subscribe CHANNEL"
 * when raw) and marks the connection QV_SUB_SENT. */
int qv_conn_subscribe(qv_loop *lp, qv_conn *c, const char *channel, int raw);
/* For a mode's on_message on a connection in QV_SUB_SENT: whether this frame answers the
 * subscribe (JSON-RPC: contains "result" -> QV_SUB_OK, "error" -> QV_SUB_FAILED; raw: any
 * text frame without "sent":). Returns 1 if it did. */
int qv_conn_subscribe_reply(qv_conn *c, const uint8_t *payload, size_t len, int raw);
/* Polls until no connection of the loop is in QV_SUB_SENT or the deadline passes.
 * Returns the number in QV_SUB_OK. */
int qv_wait_subscribed(qv_loop *lp, uint64_t deadline_ns);
/* Runs the loop's epoll once for at most timeout_ms, dispatching events. */
int qv_loop_poll(qv_loop *lp, int timeout_ms);

/* ---------- modes ---------- */

int qv_echo_main(const qv_opts *o, const qv_url *url);
int qv_connect_main(const qv_opts *o, const qv_url *url);
int qv_fanout_main(const qv_opts *o, const qv_url *url);
int qv_rpc_main(const qv_opts *o, const qv_url *url);

#endif

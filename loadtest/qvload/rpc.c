/* `qv-load rpc`: JSON-RPC round trips on N connections. Each connection first sends the
 * --setup messages one at a time, each awaited (e.g. auth.login); a connection whose setup
 * is answered with an error is left out (one answered -32013 busy, e.g. a login waiting for the
 * password-hash queue, is sent again 100 ms later). Then each keeps --inflight copies of --message
 * outstanding: a closed loop, a new copy is sent when an answer arrives. Answers are told
 * from the gateway's notifications by a byte scan (a notification has "method" right after
 * "jsonrpc"), and those holding "error" are counted apart. The copies share one id, so a
 * round trip is timed from the oldest copy outstanding (the gateway may answer out of order;
 * with equal messages the error is small). With --conn-rate R a connection sends at most R
 * requests/s (the gateway's per-connection rate limit answers -32029, then closes with 4029):
 * an answer that comes early leaves its copy owed until the connection's next slot. */
#define _GNU_SOURCE /* memmem */
#include "qvload.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { RPC_SETUP = 0, RPC_READY, RPC_FAILED };

typedef struct {
    int phase;           /* RPC_* */
    int setup_next;      /* index of the setup message awaited (phase RPC_SETUP) */
    uint64_t *ts;        /* send times, ring of `inflight` entries */
    uint32_t head, count;
    uint32_t owed;       /* copies to send when the next slot comes (--conn-rate) */
    uint64_t due;        /* the connection's next slot (ns) */
    uint64_t setup_retry_at; /* a setup message answered busy goes again then (ns); 0: none */
    char captured[80];   /* --capture: the value seen in a setup answer */
    char *message;       /* --message with $NAME replaced (NULL: the shared one) */
} rpc_conn;

typedef struct {
    qv_loop loop;
    const qv_opts *o;
    rpc_conn *rc;
    qv_hist hist;
    uint64_t answers, errors;          /* inside the measured window */
    uint64_t sent, notifications, setup_failed, setup_busy;
    char first_error[200];
    pthread_t thread;
} rpc_thread;

static qv_run g_run;

static int is_notification(const uint8_t *p, size_t len) {
    return memmem(p, len < 40 ? len : 40, "\"method\"", 8) != NULL;
}

static int is_error(const uint8_t *p, size_t len) { return memmem(p, len, "\"error\":", 8) != NULL; }

static void keep_error(rpc_thread *t, const uint8_t *p, size_t len) {
    if (!t->first_error[0]) snprintf(t->first_error, sizeof t->first_error, "%.*s", (int)(len < 190 ? len : 190), p);
}

static int send_text(rpc_thread *t, qv_conn *c, const char *msg) {
    return qv_conn_queue_frame(&t->loop, c, QV_OP_TEXT, (const uint8_t *)msg, strlen(msg));
}

/* --capture: keeps the string value of "NAME" in a setup answer. */
static void capture_value(rpc_thread *t, rpc_conn *r, const uint8_t *p, size_t len) {
    if (!t->o->capture) return;
    char key[80];
    int n = snprintf(key, sizeof key, "\"%s\":\"", t->o->capture);
    if (n <= 0 || (size_t)n >= sizeof key) return;
    const uint8_t *at = memmem(p, len, key, (size_t)n);
    if (!at) return;
    const uint8_t *v = at + n, *end = p + len;
    size_t k = 0;
    while (v + k < end && v[k] != '"' && k + 1 < sizeof r->captured) k++;
    memcpy(r->captured, v, k);
    r->captured[k] = 0;
}

/* `template` with every $NAME replaced by the captured value (malloc'd; NULL without memory). */
static char *substituted(const qv_opts *o, const char *template, const char *value) {
    char pat[80];
    int n = snprintf(pat, sizeof pat, "$%s", o->capture);
    if (n <= 0 || (size_t)n >= sizeof pat) return NULL;
    size_t vl = strlen(value), cap = strlen(template) + 1, used = 0;
    for (const char *q = template; (q = strstr(q, pat)); q += n) cap += vl;
    char *out = malloc(cap);
    if (!out) return NULL;
    for (const char *q = template; *q;) {
        if (strncmp(q, pat, (size_t)n) == 0) {
            memcpy(out + used, value, vl);
            used += vl;
            q += n;
        } else {
            out[used++] = *q++;
        }
    }
    out[used] = 0;
    return out;
}

static int send_setup_or_ready(rpc_thread *t, qv_conn *c) {
    rpc_conn *r = c->user;
    if (r->setup_next >= t->o->nsetup) {
        if (t->o->capture && !r->message) r->message = substituted(t->o, t->o->message, r->captured);
        r->phase = RPC_READY;
        return 0;
    }
    if (t->o->capture && r->captured[0]) { /* setup messages after the capture use it too */
        char *m = substituted(t->o, t->o->setup[r->setup_next], r->captured);
        int rc = m ? send_text(t, c, m) : -1;
        free(m);
        if (rc != 0) return -1;
        return qv_conn_flush(&t->loop, c);
    }
    if (send_text(t, c, t->o->setup[r->setup_next]) != 0) return -1;
    return qv_conn_flush(&t->loop, c);
}

static int queue_one(rpc_thread *t, qv_conn *c, uint64_t now) {
    rpc_conn *r = c->user;
    if (t->o->conn_rate > 0) {
        if (r->due > now) {
            r->owed++;
            return 0;
        }
        uint64_t interval = (uint64_t)(1e9 / t->o->conn_rate);
        r->due = (r->due + interval > now ? r->due : now) + interval;
    }
    if (send_text(t, c, r->message ? r->message : t->o->message) != 0) return -1;
    r->ts[(r->head + r->count) % (uint32_t)t->o->inflight] = now;
    r->count++;
    t->sent++;
    return 0;
}

static int on_message(qv_loop *lp, qv_conn *c, int opcode, const uint8_t *p, size_t len, uint64_t now) {
    rpc_thread *t = lp->mode_state;
    rpc_conn *r = c->user;
    if (opcode != QV_OP_TEXT) {
        lp->err.payload_errors++;
        return 0;
    }
    if (is_notification(p, len)) { /* events, auth.expiring, unsubscribed: not answers */
        t->notifications++;
        return 0;
    }
    if (r->phase == RPC_SETUP) {
        if (is_error(p, len) && memmem(p, len, "\"reason\":\"busy\"", 15)) {
            r->setup_retry_at = now + 100000000ull;
            t->setup_busy++;
            return 0;
        }
        if (is_error(p, len)) {
            keep_error(t, p, len);
            r->phase = RPC_FAILED;
            t->setup_failed++;
            return 0;
        }
        capture_value(t, r, p, len);
        r->setup_next++;
        return send_setup_or_ready(t, c);
    }
    if (r->phase != RPC_READY || r->count == 0) { /* an answer nobody asked for */
        lp->err.payload_errors++;
        return 0;
    }
    uint64_t sent_at = r->ts[r->head];
    r->head = (r->head + 1) % (uint32_t)t->o->inflight;
    r->count--;
    uint64_t end = atomic_load_explicit(&g_run.end, memory_order_relaxed);
    if (now >= atomic_load_explicit(&g_run.measure_start, memory_order_relaxed) && now < end) {
        if (is_error(p, len)) {
            t->errors++;
            keep_error(t, p, len);
        } else {
            t->answers++;
            qv_hist_record(&t->hist, now - sent_at);
        }
    }
    if (now < end && c->state == QV_OPEN) return queue_one(t, c, now);
    return 0;
}

/* --conn-rate: sends the copies whose slot has come, one per connection per call. */
static void after_poll(qv_loop *lp, uint64_t now) {
    rpc_thread *t = lp->mode_state;
    (void)now;
    if (t->o->conn_rate <= 0 || !atomic_load_explicit(&g_run.started, memory_order_relaxed)) return;
    uint64_t at = qv_now_ns();
    if (at >= atomic_load_explicit(&g_run.end, memory_order_relaxed)) return;
    for (int i = 0; i < lp->nconns; i++) {
        qv_conn *c = &lp->conns[i];
        rpc_conn *r = c->user;
        if (r->owed == 0 || r->due > at || c->state != QV_OPEN) continue;
        r->owed--;
        queue_one(t, c, at);
        qv_conn_flush(lp, c);
    }
}

/* Polls until no open connection is still in setup, or the deadline passes; sends again the
 * setup messages answered busy whose time has come. */
static void wait_setup(rpc_thread *t, uint64_t deadline_ns) {
    qv_loop *lp = &t->loop;
    for (;;) {
        int waiting = 0;
        uint64_t now = qv_now_ns();
        for (int i = 0; i < lp->nconns; i++) {
            qv_conn *c = &lp->conns[i];
            rpc_conn *r = c->user;
            if (c->state != QV_OPEN || r->phase != RPC_SETUP) continue;
            waiting++;
            if (r->setup_retry_at && r->setup_retry_at <= now) {
                r->setup_retry_at = 0;
                send_setup_or_ready(t, c);
            }
        }
        if (waiting == 0 || now >= deadline_ns) return;
        qv_loop_poll(lp, 10);
    }
}

static void *thread_main(void *arg) {
    rpc_thread *t = arg;
    const qv_opts *o = t->o;
    qv_loop *lp = &t->loop;
    qv_establish_share(lp, o);
    for (int i = 0; i < lp->nconns; i++)
        if (lp->conns[i].state == QV_OPEN) send_setup_or_ready(t, &lp->conns[i]);
    wait_setup(t, qv_now_ns() + (uint64_t)(o->setup_timeout * 1e9));

    qv_run_sync(&g_run, o);
    uint64_t end = atomic_load(&g_run.end);
    uint64_t now = qv_now_ns();
    for (int i = 0; i < lp->nconns; i++) {
        qv_conn *c = &lp->conns[i];
        if (c->state != QV_OPEN || ((rpc_conn *)c->user)->phase != RPC_READY) continue;
        for (long k = 0; k < o->inflight; k++) queue_one(t, c, now);
        qv_conn_flush(lp, c);
    }
    while ((now = qv_now_ns()) < end) {
        uint64_t left_ms = (end - now) / 1000000ull;
        int wait = o->conn_rate > 0 ? 1 : 10; /* paced: slots come every 1/R s */
        if (qv_loop_poll(lp, left_ms > (uint64_t)wait ? wait : (int)left_ms + 1) == 0) after_poll(lp, now);
        if (lp->open == 0) break;
    }
    qv_close_all(lp, qv_now_ns() + 2000000000ull);
    qv_run_done(&g_run);
    return NULL;
}

int qv_rpc_main(const qv_opts *o, const qv_url *url) {
    int nthreads = (int)o->threads;
    if (nthreads > o->connections) nthreads = (int)o->connections;
    qv_opts ro = *o;
    ro.threads = nthreads;
    if (qv_need_nofile(o->connections) != 0) return 1;
    rpc_thread *ts = calloc((size_t)nthreads, sizeof *ts);
    rpc_conn *rcs = calloc((size_t)o->connections, sizeof *rcs);
    uint64_t *times = calloc((size_t)(o->connections * o->inflight), sizeof(uint64_t));
    if (!ts || !rcs || !times) {
        fprintf(stderr, "qv-load: out of memory\n");
        return 1;
    }
    qv_run_init(&g_run, nthreads);
    int first = 0;
    for (int i = 0; i < nthreads; i++) {
        rpc_thread *t = &ts[i];
        int count = (int)(o->connections / nthreads + (i < o->connections % nthreads ? 1 : 0));
        t->o = &ro;
        if (qv_loop_init(&t->loop, i, url, count, first) != 0) {
            perror("qv-load: loop");
            return 1;
        }
        t->loop.on_message = on_message;
        t->loop.after_poll = after_poll;
        t->loop.mode_state = t;
        qv_hist_init(&t->hist);
        for (int k = 0; k < count; k++) {
            rpc_conn *r = &rcs[first + k];
            r->ts = times + (size_t)(first + k) * (size_t)o->inflight;
            t->loop.conns[k].user = r;
            t->loop.conns[k].headers = o->headers[0] ? o->headers : NULL;
        }
        first += count;
    }
    for (int i = 0; i < nthreads; i++) pthread_create(&ts[i].thread, NULL, thread_main, &ts[i]);
    qv_cpu_window cpu; /* setup: connecting, then the setup messages, each within --setup-timeout */
    qv_run_measure_cpu(&g_run, o, 2 * o->setup_timeout + 5, &cpu);
    for (int i = 0; i < nthreads; i++) pthread_join(ts[i].thread, NULL);

    qv_hist h;
    qv_hist_init(&h);
    qv_errors e = {0};
    uint64_t answers = 0, errors = 0, sent = 0, notes = 0, setup_failed = 0, setup_busy = 0;
    int ready = 0;
    const char *first_error = "";
    for (int i = 0; i < nthreads; i++) {
        rpc_thread *t = &ts[i];
        qv_hist_merge(&h, &t->hist);
        qv_errors_add(&e, &t->loop.err);
        answers += t->answers;
        errors += t->errors;
        sent += t->sent;
        notes += t->notifications;
        setup_failed += t->setup_failed;
        setup_busy += t->setup_busy;
        if (!first_error[0] && t->first_error[0]) first_error = t->first_error;
        for (int k = 0; k < t->loop.nconns; k++) ready += ((rpc_conn *)t->loop.conns[k].user)->phase == RPC_READY;
    }
    char pace[48] = "";
    if (o->conn_rate > 0) snprintf(pace, sizeof pace, ", at most %.0f requests/s each", o->conn_rate);
    double rtps = (double)answers / o->duration, eps = (double)errors / o->duration, us = 1000.0;
    double p50 = (double)qv_hist_percentile(&h, 50) / us, p99 = (double)qv_hist_percentile(&h, 99) / us,
           mx = (double)h.max / us, mean = h.total ? h.sum / (double)h.total / us : 0;

    printf("qv-load rpc %s: %ld connections (%d past setup, %llu setups refused, %llu sent again after busy), %d setup message%s, %ld in "
           "flight each%s, %d loader thread%s\n",
           o->url, o->connections, ready, (unsigned long long)setup_failed, (unsigned long long)setup_busy, o->nsetup, o->nsetup == 1 ? "" : "s",
           o->inflight, pace, nthreads, nthreads == 1 ? "" : "s");
    printf("  warm-up %.1f s, measured %.1f s: %llu answers (%.0f round trips/s), %llu error answers (%.0f/s)\n",
           o->warmup, o->duration, (unsigned long long)answers, rtps, (unsigned long long)errors, eps);
    if (first_error[0]) printf("  first error answer: %s\n", first_error);
    printf("  latency (us): p50 %.1f  p99 %.1f  max %.1f  mean %.1f\n", p50, p99, mx, mean);
    printf("  errors: connect %llu (retries %llu, bad upgrade answers %llu), protocol %llu, unexpected answers %llu, "
           "closed by server %llu, io %llu; notifications %llu\n",
           (unsigned long long)e.connect_errors, (unsigned long long)e.retries, (unsigned long long)e.handshake_errors,
           (unsigned long long)e.protocol_errors, (unsigned long long)e.payload_errors,
           (unsigned long long)e.unexpected_closes, (unsigned long long)e.io_errors, (unsigned long long)notes);
    qv_cpu_print(&cpu);
    char url_json[2200];
    qv_json_string(url_json, sizeof url_json, o->url);
    printf("{\"mode\":\"rpc\",\"url\":%s,\"connections\":%ld,\"ready\":%d,\"setup_failed\":%llu,\"setup_busy\":%llu,\"inflight\":%ld,\"conn_rate\":%.1f,"
           "\"threads\":%d,\"warmup_s\":%.3f,\"duration_s\":%.3f,\"answers\":%llu,\"rtps\":%.1f,"
           "\"error_answers\":%llu,\"error_answers_per_s\":%.1f,\"sent\":%llu,\"p50_us\":%.1f,\"p99_us\":%.1f,"
           "\"max_us\":%.1f,\"mean_us\":%.1f,\"errors\":%llu,\"connect_errors\":%llu,\"closed_by_server\":%llu,"
           "\"notifications\":%llu,\"loader_cpu_pct\":%.1f,\"server_cpu_pct\":%.1f,\"other_cpu_pct\":%.1f}\n",
           url_json, o->connections, ready, (unsigned long long)setup_failed, (unsigned long long)setup_busy, o->inflight, o->conn_rate, nthreads, o->warmup,
           o->duration, (unsigned long long)answers, rtps, (unsigned long long)errors, eps, (unsigned long long)sent,
           p50, p99, mx, mean, (unsigned long long)qv_errors_total(&e), (unsigned long long)e.connect_errors,
           (unsigned long long)e.unexpected_closes, (unsigned long long)notes, cpu.loader_pct, cpu.server_pct,
           cpu.other_pct);
    fflush(stdout);
    for (int i = 0; i < nthreads; i++) qv_loop_free(&ts[i].loop);
    qv_run_destroy(&g_run);
    free(ts);
    free(rcs);
    free(times);
    if (ready == 0 || answers + errors == 0 || e.protocol_errors) return 1;
    return 0;
}

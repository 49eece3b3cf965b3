/* `qv-load echo`: every connection keeps W messages of S bytes in flight; each echo
 * that comes back is checked (length and content), its round trip recorded, and a
 * new message queued. Messages due on one connection after a read are written with
 * one send(). Send times are kept per connection in a FIFO (echoes come back in order). */
#include "qvload.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint64_t *ts;        /* send times, ring of `inflight` entries */
    uint32_t head, count;
    uint64_t send_seq;   /* sequence number of the next message sent */
    uint64_t recv_seq;   /* sequence number expected in the next echo */
} echo_conn;

typedef struct {
    qv_loop loop;
    const qv_opts *o;
    echo_conn *ec;
    uint8_t *scratch;    /* S bytes: builds messages and expected echoes */
    qv_hist hist;
    uint64_t round_trips; /* received inside the measured window */
    uint64_t sent;
    pthread_t thread;
    int first, count;     /* connection ids owned */
} echo_thread;

static qv_run g_run; /* the clock, set once all threads have connected */
static const uint8_t *g_pattern; /* S + 64 printable bytes */
static int g_pattern_period = 61;

/* Message `seq` of a connection: 16 hex digits of the sequence number (when it fits),
 * then a printable pattern shifted by the sequence number. Valid UTF-8, so it can go
 * as text. */
static void make_message(uint8_t *dst, size_t size, uint64_t seq, int conn_id) {
    size_t i = 0;
    uint64_t tag = seq ^ ((uint64_t)conn_id << 40);
    if (size >= 16) {
        static const char hex[] = "0123456789abcdef";
        for (; i < 16; i++) dst[i] = (uint8_t)hex[(tag >> (60 - 4 * i)) & 15];
    }
    if (size > i) memcpy(dst + i, g_pattern + (tag % (uint64_t)g_pattern_period), size - i);
}

static int queue_one(echo_thread *t, qv_conn *c, uint64_t now) {
    echo_conn *e = c->user;
    size_t size = (size_t)t->o->size;
    make_message(t->scratch, size, e->send_seq, c->id);
    if (qv_conn_queue_frame(&t->loop, c, t->o->binary ? QV_OP_BINARY : QV_OP_TEXT, t->scratch, size) != 0) return -1;
    uint32_t slot = (e->head + e->count) % (uint32_t)t->o->inflight;
    e->ts[slot] = now;
    e->count++;
    e->send_seq++;
    t->sent++;
    return 0;
}

static int on_message(qv_loop *lp, qv_conn *c, int opcode, const uint8_t *payload, size_t len, uint64_t now) {
    echo_thread *t = lp->mode_state;
    echo_conn *e = c->user;
    size_t size = (size_t)t->o->size;
    if (e->count == 0) { /* an echo nobody asked for */
        lp->err.payload_errors++;
        return -1;
    }
    int want_op = t->o->binary ? QV_OP_BINARY : QV_OP_TEXT;
    make_message(t->scratch, size, e->recv_seq, c->id);
    if (opcode != want_op || len != size || memcmp(payload, t->scratch, size) != 0) {
        lp->err.payload_errors++;
        return -1;
    }
    uint64_t sent_at = e->ts[e->head];
    e->head = (e->head + 1) % (uint32_t)t->o->inflight;
    e->count--;
    e->recv_seq++;
    uint64_t end = atomic_load_explicit(&g_run.end, memory_order_relaxed);
    if (now >= atomic_load_explicit(&g_run.measure_start, memory_order_relaxed) && now < end) {
        qv_hist_record(&t->hist, now - sent_at);
        t->round_trips++;
    }
    if (now < end && c->state == QV_OPEN) return queue_one(t, c, now);
    return 0;
}

static void *thread_main(void *arg) {
    echo_thread *t = arg;
    const qv_opts *o = t->o;
    qv_loop *lp = &t->loop;
    qv_establish_share(lp, o);

    /* Everyone connected (or gave up): one thread fixes the clock for all. */
    qv_run_sync(&g_run, o);
    uint64_t end = atomic_load(&g_run.end);

    uint64_t now = qv_now_ns();
    for (int i = 0; i < lp->nconns; i++) {
        qv_conn *c = &lp->conns[i];
        if (c->state != QV_OPEN) continue;
        for (long k = 0; k < o->inflight; k++) queue_one(t, c, now);
        qv_conn_flush(lp, c); /* the whole window in one send() */
    }
    while ((now = qv_now_ns()) < end) {
        uint64_t left_ms = (end - now) / 1000000ull;
        qv_loop_poll(lp, left_ms > 10 ? 10 : (int)left_ms + 1);
        if (lp->open == 0) break;
    }
    /* Stop: echoes still in flight are read but not counted; then close cleanly. */
    qv_close_all(lp, qv_now_ns() + 2000000000ull);
    qv_run_done(&g_run);
    return NULL;
}

int qv_echo_main(const qv_opts *o, const qv_url *url) {
    int nthreads = (int)o->threads;
    if (nthreads > o->connections) nthreads = (int)o->connections;
    qv_opts eo = *o;
    eo.threads = nthreads;
    if (qv_need_nofile(o->connections) != 0) return 1;

    size_t size = (size_t)o->size;
    uint8_t *pattern = malloc(size + 128);
    if (!pattern) return 1;
    for (size_t i = 0; i < size + 128; i++) pattern[i] = (uint8_t)('0' + i % (size_t)g_pattern_period);
    g_pattern = pattern;

    echo_thread *ts = calloc((size_t)nthreads, sizeof *ts);
    echo_conn *ecs = calloc((size_t)o->connections, sizeof *ecs);
    uint64_t *times = calloc((size_t)(o->connections * o->inflight), sizeof(uint64_t));
    if (!ts || !ecs || !times) {
        fprintf(stderr, "qv-load: out of memory\n");
        return 1;
    }
    qv_run_init(&g_run, nthreads);

    int first = 0;
    for (int i = 0; i < nthreads; i++) {
        echo_thread *t = &ts[i];
        int count = (int)(o->connections / nthreads + (i < o->connections % nthreads ? 1 : 0));
        t->o = &eo;
        t->first = first;
        t->count = count;
        if (qv_loop_init(&t->loop, i, url, count, first) != 0) {
            perror("qv-load: loop");
            return 1;
        }
        t->loop.on_message = on_message;
        t->loop.mode_state = t;
        t->scratch = malloc(size + 1);
        qv_hist_init(&t->hist);
        for (int k = 0; k < count; k++) {
            echo_conn *e = &ecs[first + k];
            e->ts = times + (size_t)(first + k) * (size_t)o->inflight;
            t->loop.conns[k].user = e;
        }
        first += count;
    }
    for (int i = 0; i < nthreads; i++) pthread_create(&ts[i].thread, NULL, thread_main, &ts[i]);

    /* Sample CPU use (ours and the server's, if given) over the measured window. */
    qv_cpu_window cpu;
    qv_run_measure_cpu(&g_run, o, o->setup_timeout + 5, &cpu);
    for (int i = 0; i < nthreads; i++) pthread_join(ts[i].thread, NULL);

    qv_hist h;
    qv_hist_init(&h);
    qv_errors e = {0};
    uint64_t rt = 0, sent = 0;
    int established = 0;
    for (int i = 0; i < nthreads; i++) {
        echo_thread *t = &ts[i];
        qv_hist_merge(&h, &t->hist);
        rt += t->round_trips;
        sent += t->sent;
        qv_errors_add(&e, &t->loop.err);
        for (int k = 0; k < t->loop.nconns; k++) established += ((echo_conn *)t->loop.conns[k].user)->send_seq > 0;
    }
    uint64_t errors = qv_errors_total(&e);
    double rtps = (double)rt / o->duration;
    double us = 1000.0;
    double p50 = (double)qv_hist_percentile(&h, 50) / us, p90 = (double)qv_hist_percentile(&h, 90) / us,
           p99 = (double)qv_hist_percentile(&h, 99) / us, p999 = (double)qv_hist_percentile(&h, 99.9) / us,
           mx = (double)h.max / us, mean = h.total ? h.sum / (double)h.total / us : 0;

    printf("qv-load echo %s: %ld connections (%d used), %ld in flight each, %ld B %s, %d loader thread%s\n",
           o->url, o->connections, established, o->inflight, o->size, o->binary ? "binary" : "text", nthreads,
           nthreads == 1 ? "" : "s");
    printf("  warm-up %.1f s, measured %.1f s: %llu round trips, %.0f round trips/s\n", o->warmup, o->duration,
           (unsigned long long)rt, rtps);
    printf("  latency (us): p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f  mean %.1f\n", p50, p90, p99, p999,
           mx, mean);
    printf("  errors: connect %llu (retries %llu, bad upgrade answers %llu), protocol %llu, payload %llu, "
           "closed by server %llu, io %llu\n",
           (unsigned long long)e.connect_errors, (unsigned long long)e.retries, (unsigned long long)e.handshake_errors,
           (unsigned long long)e.protocol_errors, (unsigned long long)e.payload_errors,
           (unsigned long long)e.unexpected_closes, (unsigned long long)e.io_errors);
    if (e.tls_errors) printf("  TLS handshakes failed: %llu\n", (unsigned long long)e.tls_errors);
    qv_cpu_print(&cpu);

    char url_json[2200];
    qv_json_string(url_json, sizeof url_json, o->url);
    printf("{\"mode\":\"echo\",\"url\":%s,\"connections\":%ld,\"used\":%d,\"inflight\":%ld,\"size\":%ld,"
           "\"binary\":%s,\"threads\":%d,\"warmup_s\":%.3f,\"duration_s\":%.3f,\"round_trips\":%llu,"
           "\"rtps\":%.1f,\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,\"max_us\":%.1f,"
           "\"mean_us\":%.1f,\"errors\":%llu,\"connect_errors\":%llu,\"retries\":%llu,\"protocol_errors\":%llu,"
           "\"handshake_errors\":%llu,\"payload_errors\":%llu,\"closed_by_server\":%llu,\"io_errors\":%llu,\"loader_cpu_pct\":%.1f,"
           "\"server_cpu_pct\":%.1f,\"other_cpu_pct\":%.1f}\n",
           url_json, o->connections, established, o->inflight, o->size, o->binary ? "true" : "false", nthreads,
           o->warmup, o->duration, (unsigned long long)rt, rtps, p50, p90, p99, p999, mx, mean,
           (unsigned long long)errors, (unsigned long long)e.connect_errors, (unsigned long long)e.retries,
           (unsigned long long)e.protocol_errors, (unsigned long long)e.handshake_errors,
           (unsigned long long)e.payload_errors, (unsigned long long)e.unexpected_closes,
           (unsigned long long)e.io_errors, cpu.loader_pct, cpu.server_pct, cpu.other_pct);
    fflush(stdout);

    for (int i = 0; i < nthreads; i++) {
        free(ts[i].scratch);
        qv_loop_free(&ts[i].loop);
    }
    qv_run_destroy(&g_run);
    free(ts);
    free(ecs);
    free(times);
    free(pattern);
    if (rt == 0 || established == 0 || e.payload_errors || e.protocol_errors) return 1;
    return 0;
}

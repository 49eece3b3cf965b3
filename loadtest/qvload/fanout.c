/* `qv-load fanout`: S subscribers and P publishers on one server. Subscriber i subscribes
 * to prices:B{i % C} and waits for the answer; then the publishers publish round-robin over
 * the C channels, either paced (R publishes/s in all) or with W publishes in flight each
 * (every reply frees a slot). Each publish carries `"sent":NS`, the publisher's
 * CLOCK_MONOTONIC at send time; a subscriber finds it in each event (a byte scan, no JSON
 * parser) and records publish -> delivery latency. Expected deliveries are the publishes
 * the server accepted times the subscribers of their channel; what has not arrived after a
 * short grace once publishing stopped is lost.
 *
 * Publisher k's n-th publish (n = 1, 2, ...) goes to channel ((n - 1) * P + k) % C with
 * JSON-RPC id n, so a reply's id names the channel of the publish it answers. */
#define _GNU_SOURCE /* memmem */
#include "qvload.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define QUIET_NS 300000000ull /* grace ends early once nothing arrived this long */

typedef struct {
    int publisher;       /* publisher index, or -1 for a subscriber */
    int channel;         /* subscriber: its channel */
    uint64_t next_id;    /* publisher: id of its next publish */
    uint64_t inflight;   /* publisher: publishes not answered yet */
    uint64_t due;        /* paced publisher: when its next publish is due (ns) */
} fan_conn;

typedef struct {
    qv_loop loop;
    const qv_opts *o;
    fan_conn *fc;
    char *msg;               /* builds publish messages */
    size_t msg_cap;
    qv_hist hist;
    uint64_t *published;     /* per channel: publishes sent */
    uint64_t *rejected;      /* per channel: publishes answered with an error */
    uint64_t *subscribed;    /* per channel: subscribers whose subscription holds */
    uint64_t pubs_measured;  /* publishes sent inside the measured window */
    uint64_t acks, sub_failed;
    uint64_t deliveries, deliveries_measured, latencies;
    uint64_t unparsed;       /* text frames on a subscriber that are no event */
    uint64_t last_delivery;  /* ns */
    char first_error[160];
    pthread_t thread;
    int npub;
} fan_thread;

static qv_run g_run; /* the clock, set once every subscriber has its answer */
static const char *g_pad; /* --size bytes of 'x' */

static uint64_t parse_u64(const uint8_t *p, const uint8_t *end, int *ok) {
    uint64_t v = 0;
    const uint8_t *s = p;
    while (p < end && *p >= '0' && *p <= '9') v = v * 10 + (uint64_t)(*p++ - '0');
    *ok = p > s;
    return v;
}

/* The number after `key` (e.g. "\"sent\":"); *ok is 0 when there is none. */
static uint64_t find_u64(const uint8_t *p, size_t len, const char *key, size_t keylen, int *ok) {
    const uint8_t *k = memmem(p, len, key, keylen);
    *ok = 0;
    if (!k) return 0;
    k += keylen;
    while (k < p + len && *k == ' ') k++;
    return parse_u64(k, p + len, ok);
}

static int channel_of(const fan_thread *t, int publisher, uint64_t id) {
    return (int)(((id - 1) * (uint64_t)t->o->publishers + (uint64_t)publisher) % (uint64_t)t->o->channels);
}

static int publish_one(fan_thread *t, qv_conn *c, uint64_t now) {
    fan_conn *f = c->user;
    const qv_opts *o = t->o;
    uint64_t id = f->next_id;
    int ch = channel_of(t, f->publisher, id);
    struct timespec rt;
    clock_gettime(CLOCK_REALTIME, &rt);
    uint64_t ts_ms = (uint64_t)rt.tv_sec * 1000ull + (uint64_t)rt.tv_nsec / 1000000ull;
    /* qv-notify: a notification (no id) gets no reply, like a raw publish to uWS. */
    char idpart[32] = "";
    if (!o->notify) snprintf(idpart, sizeof idpart, "\"id\":%llu,", (unsigned long long)id);
    int n = snprintf(t->msg, t->msg_cap,
                     "{\"jsonrpc\":\"2.0\",%s\"method\":\"publish\",\"params\":{\"channel\":\"prices:B%d\","
                     "\"data\":{\"symbol\":\"B%d\",\"price\":\"101.25\",\"ts\":%llu,\"sent\":%llu",
                     idpart, ch, ch, (unsigned long long)ts_ms, (unsigned long long)now);
    size_t len = (size_t)n;
    static const char pad_field[] = ",\"pad\":\"\"";
    static const char tail[] = "}}}";
    if ((size_t)o->size > len + sizeof pad_field - 1 + sizeof tail - 1) {
        size_t pad = (size_t)o->size - len - (sizeof pad_field - 1) - (sizeof tail - 1);
        memcpy(t->msg + len, pad_field, 8); /* ,"pad":" */
        memcpy(t->msg + len + 8, g_pad, pad);
        t->msg[len + 8 + pad] = '"';
        len += 9 + pad;
    }
    memcpy(t->msg + len, tail, sizeof tail - 1);
    len += sizeof tail - 1;
    if (qv_conn_queue_frame(&t->loop, c, QV_OP_TEXT, (const uint8_t *)t->msg, len) != 0) return -1;
    f->next_id++;
    if (!o->notify) f->inflight++;
    t->published[ch]++;
    if (now >= atomic_load_explicit(&g_run.measure_start, memory_order_relaxed)) t->pubs_measured++;
    return 0;
}

static void on_reply(fan_thread *t, qv_conn *c, const uint8_t *p, size_t len, uint64_t now) {
    fan_conn *f = c->user;
    int ok;
    uint64_t id = find_u64(p, len, "\"id\":", 5, &ok);
    if (!ok || id == 0 || id >= f->next_id) { /* not an answer to a publish of ours */
        t->unparsed++;
        return;
    }
    if (memmem(p, len, "\"error\"", 7)) {
        t->rejected[channel_of(t, f->publisher, id)]++;
        if (!t->first_error[0]) snprintf(t->first_error, sizeof t->first_error, "%.*s", (int)(len < 150 ? len : 150), p);
    } else {
        t->acks++;
    }
    if (f->inflight > 0) f->inflight--;
    if (!t->o->paced && now < atomic_load_explicit(&g_run.end, memory_order_relaxed) && c->state == QV_OPEN)
        publish_one(t, c, now);
}

static int on_message(qv_loop *lp, qv_conn *c, int opcode, const uint8_t *payload, size_t len, uint64_t now) {
    fan_thread *t = lp->mode_state;
    fan_conn *f = c->user;
    if (opcode != QV_OP_TEXT) {
        lp->err.payload_errors++;
        return 0;
    }
    if (f->publisher >= 0) {
        if (!t->o->raw) on_reply(t, c, payload, len, now);
        return 0;
    }
    if (qv_conn_subscribe_reply(c, payload, len, t->o->raw)) return 0;
    int ok;
    uint64_t sent = find_u64(payload, len, "\"sent\":", 7, &ok);
    if (!ok) {
        t->unparsed++;
        return 0;
    }
    t->deliveries++;
    t->last_delivery = now;
    uint64_t ms = atomic_load_explicit(&g_run.measure_start, memory_order_relaxed);
    uint64_t end = atomic_load_explicit(&g_run.end, memory_order_relaxed);
    if (now >= ms && now < end) t->deliveries_measured++;
    if (sent >= ms && sent < end) {
        qv_hist_record(&t->hist, now > sent ? now - sent : 0);
        t->latencies++;
    }
    return 0;
}

/* Paced publishers: everything due by now (a late loop catches up, bounded per call). */
static void after_poll(qv_loop *lp, uint64_t now) {
    fan_thread *t = lp->mode_state;
    if (!t->o->paced || !atomic_load_explicit(&g_run.started, memory_order_relaxed)) return;
    uint64_t end = atomic_load_explicit(&g_run.end, memory_order_relaxed);
    uint64_t interval = (uint64_t)(1e9 * (double)t->o->publishers / t->o->publish_rate);
    now = qv_now_ns();
    for (int i = 0; i < t->npub; i++) {
        qv_conn *c = &lp->conns[i];
        fan_conn *f = c->user;
        if (c->state != QV_OPEN) continue;
        int queued = 0;
        while (f->due <= now && f->due < end && queued < 1000) {
            if (publish_one(t, c, now) != 0) break;
            f->due += interval;
            queued++;
        }
        if (queued) qv_conn_flush(lp, c);
    }
}

/* Milliseconds until the next paced publish of this loop is due, at most 10. */
static int poll_timeout(fan_thread *t, uint64_t now) {
    if (!t->o->paced || t->npub == 0) return 10;
    uint64_t next = UINT64_MAX;
    for (int i = 0; i < t->npub; i++) {
        fan_conn *f = t->loop.conns[i].user;
        if (t->loop.conns[i].state == QV_OPEN && f->due < next) next = f->due;
    }
    if (next <= now) return 0;
    uint64_t ms = (next - now + 999999ull) / 1000000ull;
    return ms > 10 ? 10 : (int)ms;
}

static void *thread_main(void *arg) {
    fan_thread *t = arg;
    const qv_opts *o = t->o;
    qv_loop *lp = &t->loop;
    qv_establish_share(lp, o);

    /* Subscribe; a raw server may never answer, so wait for it briefly only. */
    char channel[64];
    for (int i = t->npub; i < lp->nconns; i++) {
        qv_conn *c = &lp->conns[i];
        if (c->state != QV_OPEN) continue;
        snprintf(channel, sizeof channel, "prices:B%d", ((fan_conn *)c->user)->channel);
        qv_conn_subscribe(lp, c, channel, o->raw);
    }
    uint64_t sub_wait = o->raw ? 2000000000ull : (uint64_t)(o->setup_timeout * 1e9);
    qv_wait_subscribed(lp, qv_now_ns() + sub_wait);
    for (int i = t->npub; i < lp->nconns; i++) {
        qv_conn *c = &lp->conns[i];
        int holds = c->state == QV_OPEN && (c->sub == QV_SUB_OK || (o->raw && c->sub == QV_SUB_SENT));
        if (holds) t->subscribed[((fan_conn *)c->user)->channel]++;
        if (c->sub == QV_SUB_FAILED) t->sub_failed++;
    }

    qv_run_sync(&g_run, o);
    uint64_t start = atomic_load(&g_run.start), end = atomic_load(&g_run.end);

    /* Paced: publisher k starts k/R after the others, so together they are evenly spread. */
    uint64_t now = qv_now_ns();
    for (int i = 0; i < t->npub; i++) {
        qv_conn *c = &lp->conns[i];
        fan_conn *f = c->user;
        if (c->state != QV_OPEN) continue;
        if (o->paced) {
            f->due = start + (uint64_t)(1e9 * (double)f->publisher / o->publish_rate);
        } else {
            for (long k = 0; k < o->inflight; k++) publish_one(t, c, now);
            qv_conn_flush(lp, c);
        }
    }
    t->last_delivery = now;
    while ((now = qv_now_ns()) < end) {
        int ms = poll_timeout(t, now);
        uint64_t left_ms = (end - now) / 1000000ull;
        if (qv_loop_poll(lp, (uint64_t)ms > left_ms ? (int)left_ms + 1 : ms) == 0) after_poll(lp, now); /* timed out */
        if (lp->open == 0) break;
    }
    /* Grace: late deliveries and replies, until quiet or the grace is over. */
    uint64_t grace_end = end + (uint64_t)(o->grace * 1e9);
    while ((now = qv_now_ns()) < grace_end && lp->open > 0) {
        uint64_t waiting = 0;
        for (int i = 0; i < t->npub && !o->raw; i++)
            if (lp->conns[i].state == QV_OPEN) waiting += ((fan_conn *)lp->conns[i].user)->inflight;
        uint64_t last = t->last_delivery > end ? t->last_delivery : end;
        if (waiting == 0 && now - last >= QUIET_NS) break;
        qv_loop_poll(lp, 10);
    }
    qv_close_all(lp, qv_now_ns() + 5000000000ull);
    qv_run_done(&g_run);
    return NULL;
}

int qv_fanout_main(const qv_opts *o, const qv_url *url) {
    int nthreads = (int)o->threads;
    if (nthreads > o->connections) nthreads = (int)o->connections;
    qv_opts fo = *o;
    fo.threads = nthreads;
    if (qv_need_nofile(o->connections) != 0) return 1;
    char *pad = malloc((size_t)o->size + 1);
    char headers[600] = "";
    if (o->publisher_key) snprintf(headers, sizeof headers, "Authorization: Bearer %s\r\n", o->publisher_key);
    fan_thread *ts = calloc((size_t)nthreads, sizeof *ts);
    fan_conn *fcs = calloc((size_t)o->connections, sizeof *fcs);
    if (!pad || !ts || !fcs) {
        fprintf(stderr, "qv-load: out of memory\n");
        return 1;
    }
    memset(pad, 'x', (size_t)o->size);
    g_pad = pad;
    qv_run_init(&g_run, nthreads);

    /* Thread i: publishers k with k % T == i, then an even share of the subscribers. */
    int sub_first = 0, fc_next = 0;
    for (int i = 0; i < nthreads; i++) {
        fan_thread *t = &ts[i];
        int npub = (int)(o->publishers / nthreads + (i < o->publishers % nthreads ? 1 : 0));
        int nsub = (int)(o->subscribers / nthreads + (i < o->subscribers % nthreads ? 1 : 0));
        t->o = &fo;
        t->npub = npub;
        if (qv_loop_init(&t->loop, i, url, npub + nsub, fc_next) != 0) {
            perror("qv-load: loop");
            return 1;
        }
        t->loop.on_message = on_message;
        t->loop.after_poll = after_poll;
        t->loop.mode_state = t;
        t->msg_cap = (size_t)o->size + 512;
        t->msg = malloc(t->msg_cap);
        t->published = calloc((size_t)o->channels, sizeof(uint64_t));
        t->rejected = calloc((size_t)o->channels, sizeof(uint64_t));
        t->subscribed = calloc((size_t)o->channels, sizeof(uint64_t));
        if (!t->msg || !t->published || !t->rejected || !t->subscribed) {
            fprintf(stderr, "qv-load: out of memory\n");
            return 1;
        }
        qv_hist_init(&t->hist);
        for (int k = 0; k < npub + nsub; k++) {
            fan_conn *f = &fcs[fc_next++];
            qv_conn *c = &t->loop.conns[k];
            if (k < npub) {
                f->publisher = i + k * nthreads;
                f->next_id = 1;
                c->headers = o->publisher_key ? headers : NULL;
            } else {
                f->publisher = -1;
                f->channel = (int)((sub_first + k - npub) % o->channels);
            }
            c->user = f;
        }
        sub_first += nsub;
    }
    for (int i = 0; i < nthreads; i++) pthread_create(&ts[i].thread, NULL, thread_main, &ts[i]);

    qv_cpu_window cpu; /* setup: connecting, then subscribing, each within --setup-timeout */
    qv_run_measure_cpu(&g_run, o, 2 * o->setup_timeout + 5, &cpu);
    for (int i = 0; i < nthreads; i++) pthread_join(ts[i].thread, NULL);

    qv_hist h;
    qv_hist_init(&h);
    qv_errors e = {0};
    uint64_t published = 0, pubs_measured = 0, rejected = 0, acks = 0, delivered = 0, delivered_measured = 0;
    uint64_t unparsed = 0, sub_failed = 0, subscribed = 0, expected = 0;
    const char *first_error = "";
    for (int c = 0; c < o->channels; c++) {
        uint64_t pub = 0, rej = 0, subs = 0;
        for (int i = 0; i < nthreads; i++) {
            pub += ts[i].published[c];
            rej += ts[i].rejected[c];
            subs += ts[i].subscribed[c];
        }
        published += pub;
        rejected += rej;
        subscribed += subs;
        expected += (pub - rej) * subs;
    }
    for (int i = 0; i < nthreads; i++) {
        fan_thread *t = &ts[i];
        qv_hist_merge(&h, &t->hist);
        qv_errors_add(&e, &t->loop.err);
        pubs_measured += t->pubs_measured;
        acks += t->acks;
        delivered += t->deliveries;
        delivered_measured += t->deliveries_measured;
        unparsed += t->unparsed;
        sub_failed += t->sub_failed;
        if (!first_error[0] && t->first_error[0]) first_error = t->first_error;
    }
    uint64_t errors = qv_errors_total(&e);
    int64_t lost = (int64_t)expected - (int64_t)delivered;
    double pubps = (double)pubs_measured / o->duration, delps = (double)delivered_measured / o->duration;
    double us = 1000.0;
    double p50 = (double)qv_hist_percentile(&h, 50) / us, p90 = (double)qv_hist_percentile(&h, 90) / us,
           p99 = (double)qv_hist_percentile(&h, 99) / us, p999 = (double)qv_hist_percentile(&h, 99.9) / us,
           mx = (double)h.max / us, mean = h.total ? h.sum / (double)h.total / us : 0;
    char load[64];
    if (o->paced) snprintf(load, sizeof load, "%.0f publishes/s paced", o->publish_rate);
    else snprintf(load, sizeof load, "%ld publishes in flight each", o->inflight);

    printf("qv-load fanout %s (%s): %ld subscribers on %ld channel%s, %ld publisher%s, %s, %ld B, %d loader "
           "thread%s\n",
           o->url, o->raw ? "raw" : o->notify ? "qv-notify" : "qv", o->subscribers, o->channels, o->channels == 1 ? "" : "s", o->publishers,
           o->publishers == 1 ? "" : "s", load, o->size, nthreads, nthreads == 1 ? "" : "s");
    printf("  subscribed: %llu of %ld (%llu refused)\n", (unsigned long long)subscribed, o->subscribers,
           (unsigned long long)sub_failed);
    printf("  warm-up %.1f s, measured %.1f s: %.0f publishes/s, %.0f deliveries/s\n", o->warmup, o->duration, pubps,
           delps);
    printf("  deliveries: expected %llu, received %llu, lost %lld (%llu publishes, %llu refused, %llu answered ok)\n",
           (unsigned long long)expected, (unsigned long long)delivered, (long long)lost,
           (unsigned long long)published, (unsigned long long)rejected, (unsigned long long)acks);
    if (first_error[0]) printf("  first publish error: %s\n", first_error);
    printf("  latency publish -> delivery (us): p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f  mean %.1f\n", p50,
           p90, p99, p999, mx, mean);
    printf("  errors: connect %llu (retries %llu, bad upgrade answers %llu, TLS %llu), protocol %llu, payload %llu, "
           "closed by server %llu, io %llu; frames that were no event or reply: %llu\n",
           (unsigned long long)e.connect_errors, (unsigned long long)e.retries, (unsigned long long)e.handshake_errors,
           (unsigned long long)e.tls_errors, (unsigned long long)e.protocol_errors,
           (unsigned long long)e.payload_errors, (unsigned long long)e.unexpected_closes,
           (unsigned long long)e.io_errors, (unsigned long long)unparsed);
    qv_cpu_print(&cpu);

    char url_json[2200];
    qv_json_string(url_json, sizeof url_json, o->url);
    printf("{\"mode\":\"fanout\",\"url\":%s,\"protocol\":\"%s\",\"subscribers\":%ld,\"channels\":%ld,"
           "\"publishers\":%ld,\"rate\":%.1f,\"inflight\":%ld,\"size\":%ld,\"threads\":%d,\"warmup_s\":%.3f,"
           "\"duration_s\":%.3f,\"subscribed\":%llu,\"publishes\":%llu,\"publishes_refused\":%llu,"
           "\"publishes_per_s\":%.1f,\"deliveries_per_s\":%.1f,\"expected\":%llu,\"received\":%llu,\"lost\":%lld,"
           "\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,\"max_us\":%.1f,\"mean_us\":%.1f,"
           "\"errors\":%llu,\"connect_errors\":%llu,\"closed_by_server\":%llu,\"loader_cpu_pct\":%.1f,"
           "\"server_cpu_pct\":%.1f,\"other_cpu_pct\":%.1f}\n",
           url_json, o->raw ? "raw" : o->notify ? "qv-notify" : "qv", o->subscribers, o->channels, o->publishers,
           o->paced ? o->publish_rate : 0.0, o->paced ? 0 : o->inflight, o->size, nthreads, o->warmup, o->duration,
           (unsigned long long)subscribed, (unsigned long long)published, (unsigned long long)rejected, pubps, delps,
           (unsigned long long)expected, (unsigned long long)delivered, (long long)lost, p50, p90, p99, p999, mx, mean,
           (unsigned long long)errors, (unsigned long long)e.connect_errors, (unsigned long long)e.unexpected_closes,
           cpu.loader_pct, cpu.server_pct, cpu.other_pct);
    fflush(stdout);

    for (int i = 0; i < nthreads; i++) {
        free(ts[i].msg);
        free(ts[i].published);
        free(ts[i].rejected);
        free(ts[i].subscribed);
        qv_loop_free(&ts[i].loop);
    }
    qv_run_destroy(&g_run);
    free(ts);
    free(fcs);
    free(pad);
    if (published == 0 || subscribed == 0 || delivered == 0 || e.protocol_errors) return 1;
    return 0;
}

/* `qv-load connect`: memory per idle WebSocket connection. Reads the server's VmRSS,
 * opens N connections (upgrade completed on each) at a bounded rate, holds them idle
 * until the server's RSS has settled, reads VmRSS again and reports
 * (after - before) / open connections. Then closes every connection cleanly.
 * With --deflate every connection offers permessage-deflate and an upgrade that does not
 * accept it counts as a bad upgrade answer, so the figure is for compressed connections.
 * With --subscribe CHANNEL every connection subscribes to it (JSON-RPC) once open and the
 * reply is awaited, so the figure is for subscribed connections; a connection whose
 * subscription failed is not counted as open. */
#include "qvload.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int on_message(qv_loop *lp, qv_conn *c, int opcode, const uint8_t *payload, size_t len, uint64_t now) {
    (void)lp, (void)opcode, (void)now;
    qv_conn_subscribe_reply(c, payload, len, 0); /* anything else (events) is ignored */
    return 0;
}

int qv_connect_main(const qv_opts *o, const qv_url *url) {
    if (qv_need_nofile(o->connections) != 0) return 1;
    long before = qv_read_rss_sum(o->pids, o->npids);
    if (before < 0) {
        fprintf(stderr, "qv-load: cannot read VmRSS of pid %d\n", o->pids[0]);
        return 1;
    }

    qv_loop lp;
    if (qv_loop_init(&lp, 0, url, (int)o->connections, 0) != 0) {
        perror("qv-load: loop");
        return 1;
    }
    lp.offer_deflate = o->deflate;
    lp.on_message = on_message;
    uint64_t t0 = qv_now_ns();
    int open = qv_establish(&lp, o->rate, 256, t0 + (uint64_t)(o->setup_timeout * 1e9));
    uint64_t t1 = qv_now_ns();
    double connect_s = (double)(t1 - t0) / 1e9;
    fprintf(stderr, "qv-load: %d of %ld connections open after %.2f s (%llu retries)\n", open, o->connections,
            connect_s, (unsigned long long)lp.err.retries);
    int subscribed = 0;
    if (o->subscribe) {
        for (int i = 0; i < lp.nconns; i++)
            if (lp.conns[i].state == QV_OPEN) qv_conn_subscribe(&lp, &lp.conns[i], o->subscribe, 0);
        subscribed = qv_wait_subscribed(&lp, qv_now_ns() + (uint64_t)(o->setup_timeout * 1e9));
        fprintf(stderr, "qv-load: %d of %d subscribed to %s after %.2f s\n", subscribed, open, o->subscribe,
                (double)(qv_now_ns() - t1) / 1e9);
        t1 = qv_now_ns();
    }

    /* Hold at least `hold` seconds, then until RSS has moved less than 0.5% (or 64 KiB)
     * for `settle` seconds; at most 60 s more. Keep serving the sockets meanwhile. */
    uint64_t hold_end = t1 + (uint64_t)(o->hold * 1e9);
    uint64_t give_up = hold_end + 60000000000ull;
    uint64_t settle_ns = (uint64_t)(o->settle * 1e9);
    long ref = qv_read_rss_sum(o->pids, o->npids), rss = ref;
    uint64_t ref_at = qv_now_ns();
    int settled = 0;
    for (;;) {
        uint64_t next = qv_now_ns() + 250000000ull;
        while (qv_now_ns() < next) qv_loop_poll(&lp, 50);
        uint64_t now = qv_now_ns();
        rss = qv_read_rss_sum(o->pids, o->npids);
        if (rss < 0) {
            fprintf(stderr, "qv-load: server process is gone\n");
            break;
        }
        long tol = ref / 200 > 64 ? ref / 200 : 64;
        if (labs(rss - ref) > tol) {
            ref = rss;
            ref_at = now;
        }
        if (now >= hold_end && now - ref_at >= settle_ns) {
            settled = 1;
            break;
        }
        if (now >= give_up) break;
    }
    int open_at_measure = lp.open;
    if (o->subscribe && subscribed < open_at_measure) open_at_measure = subscribed;
    int deflated = 0;
    for (int i = 0; i < lp.nconns; i++) deflated += lp.conns[i].state == QV_OPEN && lp.conns[i].deflate;
    double per = open_at_measure > 0 && rss >= 0 ? (double)(rss - before) / open_at_measure : 0;
    double held_s = (double)(qv_now_ns() - t1) / 1e9;

    int clean = qv_close_all(&lp, qv_now_ns() + 10000000000ull);
    qv_errors *e = &lp.err;
    uint64_t errors = qv_errors_total(e);

    printf("qv-load connect %s: %ld connections, %d open (%.2f s to connect, %llu retries), held %.1f s%s\n",
           o->url, o->connections, open_at_measure, connect_s, (unsigned long long)e->retries, held_s,
           settled ? "" : " (RSS never settled)");
    printf("  server RSS: %ld KiB before, %ld KiB after: %.2f KiB per idle connection\n", before, rss, per);
    if (o->deflate) printf("  permessage-deflate accepted on %d of %d open connections\n", deflated, open_at_measure);
    if (o->subscribe) printf("  subscribed to %s: %d connections\n", o->subscribe, subscribed);
    printf("  closed cleanly: %d; errors: connect %llu (bad upgrade answers %llu), protocol %llu, closed by server %llu, "
           "io %llu\n",
           clean, (unsigned long long)e->connect_errors, (unsigned long long)e->handshake_errors,
           (unsigned long long)e->protocol_errors,
           (unsigned long long)e->unexpected_closes, (unsigned long long)e->io_errors);
    char url_json[2200];
    qv_json_string(url_json, sizeof url_json, o->url);
    printf("{\"mode\":\"connect\",\"url\":%s,\"connections\":%ld,\"open\":%d,\"connect_s\":%.3f,\"held_s\":%.3f,"
           "\"settled\":%s,\"rss_before_kib\":%ld,\"rss_after_kib\":%ld,\"kib_per_conn\":%.2f,\"closed_cleanly\":%d,"
           "\"errors\":%llu,\"retries\":%llu,\"deflate\":%s,\"deflate_accepted\":%d,\"tls\":%s,\"subscribed\":%d}\n",
           url_json, o->connections, open_at_measure, connect_s, held_s, settled ? "true" : "false", before, rss, per,
           clean, (unsigned long long)errors, (unsigned long long)e->retries, o->deflate ? "true" : "false", deflated,
           url->tls ? "true" : "false", subscribed);
    fflush(stdout);
    qv_loop_free(&lp);
    return open_at_measure == o->connections ? 0 : 1;
}

/* qv-load: command line and mode table. See include/qvload.h for the layout. */
#include "qvload.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char USAGE[] =
    "usage: qv-load MODE [options]\n"
    "\n"
    "A WebSocket load generator for servers on this machine (loopback addresses only).\n"
    "\n"
    "modes:\n"
    "  echo     --url ws://127.0.0.1:PORT/echo [--connections N] [--inflight W] [--size S]\n"
    "           [--duration D] [--warmup SECONDS] [--threads T] [--binary] [--rate R] [--pid PID]\n"
    "           Each connection keeps W messages of S bytes in flight and checks every echo.\n"
    "           Reports round trips/s and latency p50/p90/p99/p99.9/max in microseconds.\n"
    "           --pid also reports the server's CPU use over the measured window.\n"
    "  connect  --url ws://127.0.0.1:PORT/echo --connections N --pid PID[,PID...] [--hold SECONDS]\n"
    "           [--settle SECONDS] [--rate R] [--deflate] [--subscribe CHANNEL]\n"
    "           Opens N idle WebSocket connections and reports the growth of the server's\n"
    "           VmRSS (summed over the PIDs) per connection, in KiB.\n"
    "  fanout   --url ws://127.0.0.1:PORT/ws [--subscribers S] [--channels C] [--publishers P]\n"
    "           [--rate R | --inflight W] [--size BYTES] [--duration D] [--warmup SECONDS]\n"
    "           [--threads T] [--publisher-key KEY] [--pid PID] [--protocol qv|qv-notify|raw]\n"
    "           [--connect-rate R] [--grace SECONDS]\n"
    "           Subscriber i subscribes to prices:B{i % C}; publishers publish round-robin over\n"
    "           the C channels, R events/s in all (paced) or W publishes in flight each. Reports\n"
    "           publishes/s, deliveries/s, expected vs received deliveries and the publish ->\n"
    "           delivery latency p50/p99/p99.9/max in microseconds.\n"
    "  rpc      --url ws://127.0.0.1:PORT/ws --message JSON [--setup JSON]... [--connections N]\n"
    "           [--inflight K] [--duration D] [--warmup SECONDS] [--threads T] [--rate R]\n"
    "           [--header 'Name: value']... [--publisher-key KEY] [--conn-rate R] [--pid PID]\n"
    "           Each connection sends the --setup messages one at a time, each awaited (one\n"
    "           answer each; a connection whose setup answers an error is left out), then keeps\n"
    "           K copies of --message outstanding, a new one sent per answer. Reports round\n"
    "           trips/s, error answers (frames with \"error\") apart, latency p50/p99/max in us.\n"
    "\n"
    "options:\n"
    "  --url URL            ws://HOST[:PORT]/PATH or wss://... (TLS, certificate not verified);\n"
    "                       HOST is 127.x.x.x, [::1] or localhost\n"
    "  --connections N      connections (echo and rpc default 100, connect default 1000)\n"
    "  --inflight W         messages in flight per connection (default 8); fanout: publishes\n"
    "                       in flight per publisher, each reply frees a slot\n"
    "  --size S             payload bytes per message (default 64); fanout: pad every publish\n"
    "                       message to S bytes with a \"pad\" field in data (default: no pad)\n"
    "  --duration D         measured seconds (default 10)\n"
    "  --warmup SECONDS     unmeasured seconds before that (default 2)\n"
    "  --threads T          loader threads, connections split across them (default 1)\n"
    "  --binary             binary messages (default: text)\n"
    "  --rate R             new connections per second, all threads (default 2000);\n"
    "                       fanout: publishes per second, all publishers together\n"
    "  --connect-rate R     fanout: new connections per second (default 2000)\n"
    "  --setup-timeout S    seconds allowed to open all connections (default 30 + N/R*3)\n"
    "  --pid PID[,PID...]   server process(es) to read /proc/PID/status and /proc/PID/stat of\n"
    "  --hold SECONDS       connect: hold connections at least this long (default 2)\n"
    "  --settle SECONDS     connect: RSS must stay within 0.5% this long (default 2)\n"
    "  --deflate            connect: offer 'permessage-deflate; client_max_window_bits' and\n"
    "                       count an upgrade whose answer does not accept it as failed\n"
    "  --subscribe CHANNEL  connect: every connection subscribes to CHANNEL after the upgrade and\n"
    "                       waits for the answer before the memory is read\n"
    "  --subscribers S      fanout: subscriber connections (default 1000)\n"
    "  --channels C         fanout: channels prices:B0 .. prices:B{C-1} (default 1)\n"
    "  --publishers P       fanout: publisher connections (default 1)\n"
    "  --publisher-key KEY  fanout: publishers send 'Authorization: Bearer KEY'\n"
    "  --protocol qv|qv-notify|raw  fanout: qv = JSON-RPC on /ws (default); qv-notify = the same,\n"
    "                       but publishes are notifications (no id, no reply; needs --rate);\n"
    "                       raw = subscribers send the\n"
    "                       text 'subscribe CHANNEL', every text frame with \"sent\": is an event,\n"
    "                       publishes get no reply (needs --rate)\n"
    "  --grace SECONDS      fanout: wait at most this long for late deliveries (default 3)\n"
    "  --message JSON       rpc: the JSON-RPC request kept in flight (sent as it is)\n"
    "  --setup JSON         rpc: a message sent before, answer awaited (repeatable, at most 32)\n"
    "  --capture NAME       rpc: the string value of \"NAME\" in a setup answer replaces $NAME in\n"
    "                       --message and later --setup messages, per connection (e.g. a\n"
    "                       portfolioId made in setup)\n"
    "  --header LINE        rpc: an extra upgrade request header, e.g. 'Authorization: Bearer T'\n"
    "                       (repeatable); --publisher-key KEY is 'Authorization: Bearer KEY'\n"
    "  --in-flight K        the same as --inflight\n"
    "  --conn-rate R        rpc: at most R requests/s per connection (the gateway limits anonymous\n"
    "                       and logged-in connections to 100/s, burst 200; default: no cap)\n"
    "  -h, --help           this text\n"
    "\n"
    "The last line of output is a one-line JSON summary. Exit status: 0 ok, 1 failed run, 2 usage.\n";

enum {
    O_URL = 1 << 0,
    O_CONN = 1 << 1,
    O_INFL = 1 << 2,
    O_SIZE = 1 << 3,
    O_DUR = 1 << 4,
    O_WARM = 1 << 5,
    O_THR = 1 << 6,
    O_BIN = 1 << 7,
    O_RATE = 1 << 8,
    O_PID = 1 << 9,
    O_HOLD = 1 << 10,
    O_SETTLE = 1 << 11,
    O_SETUP = 1 << 12,
    O_DEFLATE = 1 << 13,
    O_SUBSCRIBE = 1 << 14,
    O_SUBS = 1 << 15,
    O_CHAN = 1 << 16,
    O_PUBS = 1 << 17,
    O_KEY = 1 << 18,
    O_PROTO = 1 << 19,
    O_CRATE = 1 << 20,
    O_GRACE = 1 << 21,
    O_MSG = 1 << 22,
    O_SETUPMSG = 1 << 23,
    O_HEADER = 1 << 24,
    O_CONNRATE = 1 << 25,
    O_CAPTURE = 1 << 26,
};

typedef struct {
    const char *name;
    int (*run)(const qv_opts *, const qv_url *);
    int allowed;
    int required;
} qv_mode;

static const qv_mode MODES[] = {
    {"echo", qv_echo_main, O_URL | O_CONN | O_INFL | O_SIZE | O_DUR | O_WARM | O_THR | O_BIN | O_RATE | O_PID | O_SETUP,
     O_URL},
    {"connect", qv_connect_main,
     O_URL | O_CONN | O_RATE | O_PID | O_HOLD | O_SETTLE | O_SETUP | O_DEFLATE | O_SUBSCRIBE, O_URL | O_PID},
    {"fanout", qv_fanout_main,
     O_URL | O_INFL | O_SIZE | O_DUR | O_WARM | O_THR | O_RATE | O_PID | O_SETUP | O_SUBS | O_CHAN | O_PUBS | O_KEY |
         O_PROTO | O_CRATE | O_GRACE,
     O_URL},
    {"rpc", qv_rpc_main,
     O_URL | O_CONN | O_INFL | O_DUR | O_WARM | O_THR | O_RATE | O_PID | O_SETUP | O_KEY | O_MSG | O_SETUPMSG | O_HEADER |
         O_CONNRATE | O_CAPTURE,
     O_URL | O_MSG},
};

static const struct {
    const char *name;
    int flag;
    int takes_value;
} OPTIONS[] = {
    {"url", O_URL, 1},     {"connections", O_CONN, 1}, {"inflight", O_INFL, 1}, {"size", O_SIZE, 1},
    {"duration", O_DUR, 1}, {"warmup", O_WARM, 1},     {"threads", O_THR, 1},   {"binary", O_BIN, 0},
    {"rate", O_RATE, 1},   {"pid", O_PID, 1},          {"hold", O_HOLD, 1},     {"settle", O_SETTLE, 1},
    {"setup-timeout", O_SETUP, 1}, {"deflate", O_DEFLATE, 0}, {"subscribe", O_SUBSCRIBE, 1},
    {"subscribers", O_SUBS, 1},    {"channels", O_CHAN, 1},    {"publishers", O_PUBS, 1},
    {"publisher-key", O_KEY, 1},   {"protocol", O_PROTO, 1},   {"connect-rate", O_CRATE, 1},
    {"grace", O_GRACE, 1},          {"message", O_MSG, 1},      {"setup", O_SETUPMSG, 1},
    {"header", O_HEADER, 1},       {"in-flight", O_INFL, 1},   {"conn-rate", O_CONNRATE, 1},
    {"capture", O_CAPTURE, 1},
};

static int bad(const char *fmt, const char *a) {
    fprintf(stderr, "qv-load: ");
    fprintf(stderr, fmt, a);
    fprintf(stderr, "\n\n%s", USAGE);
    return 2;
}

static int parse_long(const char *s, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

static int parse_double(const char *s, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

/* Appends "LINE\r\n" to the upgrade request's extra headers; a line must be "Name: value". */
static int add_header(qv_opts *o, const char *line) {
    size_t have = strlen(o->headers), n = strlen(line);
    if (n == 0 || strpbrk(line, "\r\n") || !strchr(line, ':') || have + n + 3 > sizeof o->headers) return -1;
    memcpy(o->headers + have, line, n);
    memcpy(o->headers + have + n, "\r\n", 3);
    return 0;
}

static int parse_pids(const char *s, qv_opts *o) {
    char buf[256];
    if (strlen(s) >= sizeof buf) return -1;
    strcpy(buf, s);
    o->npids = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        long v;
        if (o->npids >= 16 || parse_long(tok, 1, 4194304, &v) != 0) return -1;
        o->pids[o->npids++] = (int)v;
    }
    return o->npids > 0 ? 0 : -1;
}

int main(int argc, char **argv) {
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2) {
        fputs(USAGE, stderr);
        return 2;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        fputs(USAGE, stdout);
        return 0;
    }
    const qv_mode *mode = NULL;
    for (size_t i = 0; i < sizeof MODES / sizeof MODES[0]; i++)
        if (!strcmp(argv[1], MODES[i].name)) mode = &MODES[i];
    if (!mode) return bad("unknown mode '%s'", argv[1]);

    qv_opts o = {
        .mode = mode->name,
        .connections = -1,
        .inflight = 8,
        .size = 64,
        .duration = 10,
        .warmup = 2,
        .threads = 1,
        .hold = 2,
        .rate = 2000,
        .settle = 2,
        .setup_timeout = -1,
        .subscribers = 1000,
        .channels = 1,
        .publishers = 1,
        .grace = 3,
    };
    int fanout = !strcmp(mode->name, "fanout");
    int seen = 0;
    for (int i = 2; i < argc; i++) {
        const char *arg = argv[i];
        if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
            fputs(USAGE, stdout);
            return 0;
        }
        if (strncmp(arg, "--", 2) != 0) return bad("unexpected argument '%s'", arg);
        const char *name = arg + 2, *value = NULL;
        char namebuf[64];
        const char *eq = strchr(name, '=');
        if (eq) {
            size_t l = (size_t)(eq - name);
            if (l >= sizeof namebuf) return bad("unknown option '%s'", arg);
            memcpy(namebuf, name, l);
            namebuf[l] = 0;
            name = namebuf;
            value = eq + 1;
        }
        int flag = 0, takes = 0;
        for (size_t k = 0; k < sizeof OPTIONS / sizeof OPTIONS[0]; k++)
            if (!strcmp(name, OPTIONS[k].name)) {
                flag = OPTIONS[k].flag;
                takes = OPTIONS[k].takes_value;
            }
        if (!flag) return bad("unknown option '%s'", arg);
        if (!(mode->allowed & flag)) return bad("option '%s' does not apply to this mode", arg);
        if (takes && !value) {
            if (i + 1 >= argc) return bad("option '%s' needs a value", arg);
            value = argv[++i];
        }
        if (!takes && value) return bad("option '%s' takes no value", arg);
        seen |= flag;
        int r = 0;
        switch (flag) {
        case O_URL: o.url = value; break;
        case O_CONN: r = parse_long(value, 1, 100000, &o.connections); break;
        case O_INFL: r = parse_long(value, 1, 4096, &o.inflight); break;
        case O_SIZE: r = parse_long(value, 0, 16 << 20, &o.size); break;
        case O_DUR: r = parse_double(value, 0.1, 3600, &o.duration); break;
        case O_WARM: r = parse_double(value, 0, 600, &o.warmup); break;
        case O_THR: r = parse_long(value, 1, 64, &o.threads); break;
        case O_BIN: o.binary = 1; break;
        case O_DEFLATE: o.deflate = 1; break;
        case O_RATE:
            if (fanout) {
                r = parse_double(value, 0.1, 1e7, &o.publish_rate);
                o.paced = 1;
            } else {
                r = parse_double(value, 1, 1e6, &o.rate);
            }
            break;
        case O_CRATE: r = parse_double(value, 1, 1e6, &o.rate); break;
        case O_SUBSCRIBE:
            o.subscribe = value;
            r = strlen(value) > 0 && strlen(value) < 256 && !strpbrk(value, "\"\\") ? 0 : -1;
            break;
        case O_SUBS: r = parse_long(value, 1, 100000, &o.subscribers); break;
        case O_CHAN: r = parse_long(value, 1, 100000, &o.channels); break;
        case O_PUBS: r = parse_long(value, 1, 10000, &o.publishers); break;
        case O_KEY:
            o.publisher_key = value;
            r = strlen(value) > 0 && strlen(value) < 512 && !strpbrk(value, "\r\n") ? 0 : -1;
            break;
        case O_PROTO:
            o.raw = !strcmp(value, "raw");
            o.notify = !strcmp(value, "qv-notify");
            r = o.raw || o.notify || !strcmp(value, "qv") ? 0 : -1;
            break;
        case O_GRACE: r = parse_double(value, 0, 600, &o.grace); break;
        case O_MSG: o.message = value; break;
        case O_CAPTURE: o.capture = value; break;
        case O_SETUPMSG:
            r = o.nsetup < 32 ? 0 : -1;
            if (r == 0) o.setup[o.nsetup++] = value;
            break;
        case O_HEADER: r = add_header(&o, value); break;
        case O_CONNRATE: r = parse_double(value, 0.1, 1e6, &o.conn_rate); break;
        case O_PID: r = parse_pids(value, &o); break;
        case O_HOLD: r = parse_double(value, 0, 3600, &o.hold); break;
        case O_SETTLE: r = parse_double(value, 0, 600, &o.settle); break;
        case O_SETUP: r = parse_double(value, 1, 3600, &o.setup_timeout); break;
        }
        if (r != 0) return bad("bad value for '%s'", arg);
    }
    if ((seen & mode->required) != mode->required) {
        for (size_t k = 0; k < sizeof OPTIONS / sizeof OPTIONS[0]; k++)
            if ((mode->required & OPTIONS[k].flag) && !(seen & OPTIONS[k].flag))
                return bad("missing --%s", OPTIONS[k].name);
    }
    if (fanout) {
        if ((seen & O_RATE) && (seen & O_INFL)) return bad("%s", "give --rate or --inflight, not both");
        if ((o.raw || o.notify) && !o.paced) return bad("%s", "--protocol raw/qv-notify has no publish replies: pace it with --rate");
        if (!(seen & O_SIZE)) o.size = 0;
        o.connections = o.subscribers + o.publishers;
    }
    if (!strcmp(mode->name, "rpc") && o.publisher_key) {
        char line[600];
        snprintf(line, sizeof line, "Authorization: Bearer %s", o.publisher_key);
        if (add_header(&o, line) != 0) return bad("%s", "too many header bytes");
    }
    if (o.connections < 0) o.connections = !strcmp(mode->name, "connect") ? 1000 : 100;
    if ((double)o.connections * (double)o.inflight > 4e7) return bad("%s", "connections x inflight is too large");
    if (o.setup_timeout < 0) o.setup_timeout = 30 + (double)o.connections / o.rate * 3;

    qv_url url;
    char err[512];
    if (qv_parse_url(o.url, &url, err, sizeof err) != 0) return bad("%s", err);
    return mode->run(&o, &url);
}

/* Clocks, random numbers, /proc readers, CPU-use windows, resource limits, JSON string
 * quoting. */
#include "qvload.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

uint64_t qv_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void qv_sleep_ns(uint64_t ns) {
    struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000ull), .tv_nsec = (long)(ns % 1000000000ull)};
    nanosleep(&ts, NULL);
}

uint64_t qv_rand64(uint64_t *s) {
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

uint64_t qv_seed(void) {
    uint64_t s = 0;
    if (getrandom(&s, sizeof s, 0) != (ssize_t)sizeof s) s = qv_now_ns() ^ ((uint64_t)getpid() << 32);
    return s ? s : 0x9E3779B97F4A7C15ull;
}

long qv_read_rss_kib(int pid) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long kib = -1;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kib = strtol(line + 6, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kib;
}

long qv_read_rss_sum(const int *pids, int n) {
    long sum = 0;
    for (int i = 0; i < n; i++) {
        long v = qv_read_rss_kib(pids[i]);
        if (v < 0) return -1;
        sum += v;
    }
    return sum;
}

double qv_read_cpu_seconds(int pid) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    /* The command name is in parentheses and may contain spaces: start after the last ')'. */
    char *p = strrchr(buf, ')');
    if (!p) return -1;
    p++;
    /* Fields after ')' start at field 3 (state); utime is field 14, stime 15. */
    unsigned long long ut = 0, st = 0;
    int field = 2;
    char *tok = strtok(p, " ");
    while (tok) {
        field++;
        if (field == 14) ut = strtoull(tok, NULL, 10);
        if (field == 15) {
            st = strtoull(tok, NULL, 10);
            break;
        }
        tok = strtok(NULL, " ");
    }
    long hz = sysconf(_SC_CLK_TCK);
    return (double)(ut + st) / (double)(hz > 0 ? hz : 100);
}

double qv_read_system_busy_seconds(double *total_seconds) {
    FILE *f = fopen("/proc/stat", "r");
    if (!f) return -1;
    unsigned long long v[8] = {0};
    int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6],
                   &v[7]);
    fclose(f);
    if (n < 5) return -1;
    unsigned long long total = 0;
    for (int i = 0; i < 8; i++) total += v[i];
    unsigned long long idle = v[3] + v[4]; /* idle + iowait */
    long hz = sysconf(_SC_CLK_TCK);
    double div = (double)(hz > 0 ? hz : 100);
    if (total_seconds) *total_seconds = (double)total / div;
    return (double)(total - idle) / div;
}

double qv_cpu_self(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

static double server_cpu(const int *pids, int npids) {
    if (npids == 0) return -1;
    double sum = 0;
    for (int i = 0; i < npids; i++) {
        double v = qv_read_cpu_seconds(pids[i]);
        if (v < 0) return -1;
        sum += v;
    }
    return sum;
}

void qv_cpu_begin(qv_cpu_window *w, const int *pids, int npids) {
    w->self0 = qv_cpu_self();
    w->sys0 = qv_read_system_busy_seconds(NULL);
    w->server0 = server_cpu(pids, npids);
    w->loader_pct = w->server_pct = w->other_pct = -1;
}

void qv_cpu_end(qv_cpu_window *w, const int *pids, int npids, double seconds) {
    double self1 = qv_cpu_self(), sys1 = qv_read_system_busy_seconds(NULL), server1 = server_cpu(pids, npids);
    w->loader_pct = (self1 - w->self0) / seconds * 100.0;
    if (w->server0 >= 0 && server1 >= 0) w->server_pct = (server1 - w->server0) / seconds * 100.0;
    /* Everything else the machine did meanwhile (other processes, kernel work not charged to us). */
    if (w->sys0 >= 0 && sys1 >= 0 && w->server_pct >= 0) {
        w->other_pct = (sys1 - w->sys0) / seconds * 100.0 - w->loader_pct - w->server_pct;
        if (w->other_pct < 0) w->other_pct = 0;
    }
}

void qv_cpu_print(const qv_cpu_window *w) {
    if (w->loader_pct < 0) return;
    printf("  cpu: loader %.0f%% of one core", w->loader_pct);
    if (w->server_pct >= 0) printf(", server %.0f%%", w->server_pct);
    if (w->other_pct >= 0) printf(", everything else %.0f%%", w->other_pct);
    printf("\n");
}

void qv_run_init(qv_run *r, int nthreads) {
    pthread_barrier_init(&r->barrier, NULL, (unsigned)nthreads);
    r->nthreads = nthreads;
    atomic_store(&r->started, 0);
    atomic_store(&r->finished, 0);
    atomic_store(&r->start, UINT64_MAX);
    atomic_store(&r->measure_start, UINT64_MAX);
    atomic_store(&r->end, UINT64_MAX);
}

void qv_run_destroy(qv_run *r) { pthread_barrier_destroy(&r->barrier); }

void qv_run_sync(qv_run *r, const qv_opts *o) {
    if (pthread_barrier_wait(&r->barrier) == PTHREAD_BARRIER_SERIAL_THREAD) {
        uint64_t now = qv_now_ns();
        uint64_t ms = now + (uint64_t)(o->warmup * 1e9);
        atomic_store(&r->start, now);
        atomic_store(&r->measure_start, ms);
        atomic_store(&r->end, ms + (uint64_t)(o->duration * 1e9));
        atomic_store(&r->started, 1);
    }
    pthread_barrier_wait(&r->barrier);
}

void qv_run_done(qv_run *r) { atomic_fetch_add(&r->finished, 1); }

/* Sleeps until t, or until every loader thread has finished (all connections gone). */
static void run_sleep_until(qv_run *r, uint64_t t) {
    for (;;) {
        uint64_t now = qv_now_ns();
        if (now >= t || atomic_load(&r->finished) >= r->nthreads) return;
        qv_sleep_ns(t - now > 20000000ull ? 20000000ull : t - now);
    }
}

void qv_run_measure_cpu(qv_run *r, const qv_opts *o, double setup_s, qv_cpu_window *w) {
    *w = (qv_cpu_window){.loader_pct = -1, .server_pct = -1, .other_pct = -1};
    uint64_t setup_deadline = qv_now_ns() + (uint64_t)(setup_s * 1e9);
    while (!atomic_load(&r->started) && qv_now_ns() < setup_deadline) run_sleep_until(r, qv_now_ns() + 1000000);
    if (!atomic_load(&r->started)) return;
    run_sleep_until(r, atomic_load(&r->measure_start));
    qv_cpu_begin(w, o->pids, o->npids);
    run_sleep_until(r, atomic_load(&r->end));
    qv_cpu_end(w, o->pids, o->npids, o->duration);
}

int qv_need_nofile(long connections) {
    long nofile = qv_raise_nofile();
    if (nofile > 0 && connections + 64 > nofile) {
        fprintf(stderr, "qv-load: %ld connections need more descriptors than RLIMIT_NOFILE allows (%ld)\n",
                connections, nofile);
        return -1;
    }
    return 0;
}

long qv_raise_nofile(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return -1;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) return -1;
    }
    getrlimit(RLIMIT_NOFILE, &rl);
    return (long)rl.rlim_cur;
}

void qv_json_string(char *out, size_t outlen, const char *s) {
    size_t o = 0;
    if (outlen < 3) {
        if (outlen) out[0] = 0;
        return;
    }
    out[o++] = '"';
    for (; *s && o + 7 < outlen; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            out[o++] = '\\';
            out[o++] = (char)ch;
        } else if (ch < 0x20) {
            o += (size_t)snprintf(out + o, outlen - o, "\\u%04x", ch);
        } else {
            out[o++] = (char)ch;
        }
    }
    out[o++] = '"';
    out[o] = 0;
}

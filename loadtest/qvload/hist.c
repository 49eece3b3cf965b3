/* Log-linear histogram in the spirit of HdrHistogram: values below 2*SUB are exact,
 * above that every power of two is split into SUB equal sub-buckets, so the relative
 * error is below 1/SUB (< 0.8% with SUB = 128). Values are nanoseconds here. */
#include "qvload.h"

#include <string.h>

void qv_hist_init(qv_hist *h) {
    memset(h, 0, sizeof *h);
    h->min = UINT64_MAX;
}

static unsigned index_of(uint64_t v) {
    if (v < 2 * QV_HIST_SUB) return (unsigned)v;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    unsigned shift = msb - QV_HIST_SUB_BITS; /* >= 1 */
    if (shift > QV_HIST_MAX_SHIFT) return QV_HIST_COUNTS - 1;
    unsigned sub = (unsigned)(v >> shift) - QV_HIST_SUB; /* 0 .. SUB-1 */
    return 2 * QV_HIST_SUB + (shift - 1) * QV_HIST_SUB + sub;
}

/* Highest value that lands in bucket i. */
static uint64_t highest_of(unsigned i) {
    if (i < 2 * QV_HIST_SUB) return i;
    unsigned shift = (i - 2 * QV_HIST_SUB) / QV_HIST_SUB + 1;
    uint64_t sub = (i - 2 * QV_HIST_SUB) % QV_HIST_SUB + QV_HIST_SUB;
    return ((sub + 1) << shift) - 1;
}

void qv_hist_record(qv_hist *h, uint64_t v) {
    h->counts[index_of(v)]++;
    h->total++;
    h->sum += (double)v;
    if (v < h->min) h->min = v;
    if (v > h->max) h->max = v;
}

void qv_hist_merge(qv_hist *into, const qv_hist *from) {
    for (unsigned i = 0; i < QV_HIST_COUNTS; i++) into->counts[i] += from->counts[i];
    into->total += from->total;
    into->sum += from->sum;
    if (from->min < into->min) into->min = from->min;
    if (from->max > into->max) into->max = from->max;
}

uint64_t qv_hist_percentile(const qv_hist *h, double p) {
    if (h->total == 0) return 0;
    if (p >= 100.0) return h->max;
    double want = p / 100.0 * (double)h->total;
    uint64_t rank = (uint64_t)want; /* ceil without libm */
    if ((double)rank < want) rank++;
    if (rank < 1) rank = 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < QV_HIST_COUNTS; i++) {
        seen += h->counts[i];
        if (seen >= rank) {
            uint64_t v = highest_of(i);
            return v > h->max ? h->max : v;
        }
    }
    return h->max;
}

#ifndef QV_CZLIB_SHIM_H
#define QV_CZLIB_SHIM_H
#include <zlib.h>
/* deflateInit2/inflateInit2 are macros Swift cannot see. */
static inline int qv_deflateInit2(z_streamp s, int level, int windowBits, int memLevel) {
    return deflateInit2(s, level, Z_DEFLATED, windowBits, memLevel, Z_DEFAULT_STRATEGY);
}
static inline int qv_inflateInit2(z_streamp s, int windowBits) { return inflateInit2(s, windowBits); }
#endif

#ifndef QV_CLIBPQ_SHIM_H
#define QV_CLIBPQ_SHIM_H
#include <libpq-fe.h>
#endif

#ifndef QV_CHIREDIS_SHIM_H
#define QV_CHIREDIS_SHIM_H
#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#endif

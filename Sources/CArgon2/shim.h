#ifndef QV_CARGON2_SHIM_H
#define QV_CARGON2_SHIM_H
#include <argon2.h>
#endif

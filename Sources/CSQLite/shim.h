#ifndef QV_CSQLITE_SHIM_H
#define QV_CSQLITE_SHIM_H
#include <sqlite3.h>
#endif

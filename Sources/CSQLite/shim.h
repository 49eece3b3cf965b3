#ifndef QV_CSQLITE_SHIM_H
#define QV_CSQLITE_SHIM_H
#include <sqlite3.h>

/* SQLITE_TRANSIENT is a cast macro Swift cannot see: SQLite copies the bytes before returning,
 * so the caller's buffer may go away at once. An empty Swift string may have no address:
 * NULL would bind SQL NULL, so it becomes "". */
static inline int qv_sqlite3_bind_text_copy(sqlite3_stmt *stmt, int index, const char *text, int bytes) {
    return sqlite3_bind_text(stmt, index, text ? text : "", bytes, SQLITE_TRANSIENT);
}

/* Extended result codes are macro expressions Swift does not import. */
static const int QV_SQLITE_CONSTRAINT_UNIQUE = SQLITE_CONSTRAINT_UNIQUE;
static const int QV_SQLITE_CONSTRAINT_PRIMARYKEY = SQLITE_CONSTRAINT_PRIMARYKEY;
#endif

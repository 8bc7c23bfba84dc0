/*
 * store_int.h - inside the store module: one open function per backend.
 */
#ifndef TD_STORE_INT_H
#define TD_STORE_INT_H

#include "threatdesk/store.h"

/* sqlite.c: open (creating) the file at path and migrate it. */
int td__sqlite_open(const char *path, const char *home, struct td_store **out,
                    struct td_error *err);

#endif

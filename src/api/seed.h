/*
 * seed.h — idempotent demo data: a few stores with products and stock. Prints each new store's
 * admin key (shown once, like any store creation); existing stores are left alone.
 */
#ifndef TERMINUS_SEED_H
#define TERMINUS_SEED_H

#include <stdbool.h>
#include <stdio.h>
#include "err.h"

struct db_conn;

bool seed_demo(struct db_conn *c, FILE *out, struct err *e) MUST_CHECK;

#endif

/*
 * seed.c — demo stores and products (see seed.h). Built on the same domain functions the API
 * uses, so demo data obeys every rule real data does.
 */
#include <stdio.h>
#include <string.h>

#include "catalog.h"
#include "db.h"
#include "http.h"
#include "seed.h"
#include "stores.h"
#include "banned.h"

struct demo_product {
	const char *sku, *name, *description;
	long long price_cents, inventory;
};

struct demo_store {
	const char *slug, *name, *currency;
	struct demo_product products[4];
};

static const struct demo_store demo[] = {
        {"demo-coffee",
         "Demo Coffee Roasters",
         "EUR",
         {{"BEAN-ETH-250", "Ethiopia Yirgacheffe 250 g", "Floral, bright, washed.", 1450, 120},
          {"BEAN-COL-250", "Colombia Huila 250 g", "Caramel and red apple.", 1290, 200},
          {"MUG-ENAMEL", "Enamel mug", "Camp-proof, 350 ml.", 1800, 40},
          {"DRIP-LIMITED", "Limited drip kit", "Flash-sale item: very few units.", 4900, 5}}},
        {"demo-books",
         "Demo Books",
         "USD",
         {{"BK-DDIA", "Designing Data-Intensive Applications", "Kleppmann.", 4599, 30},
          {"BK-TCPL", "The C Programming Language", "K&R, 2nd edition.", 5299, 25},
          {"BK-PGINT", "PostgreSQL Internals", "How it really works.", 3999, 10},
          {"BK-SIGNED", "Signed first edition", "One of a kind.", 25000, 1}}},
};

static bool seed_store(struct db_conn *c, struct store_cache *sc, const struct demo_store *d,
                       FILE *out, struct err *e)
{
	struct store_ref ref;
	bool found = false;
	json_t *created = NULL;

	if (!stores_resolve(sc, c, d->slug, &ref, &found, e))
		return false;
	if (found) {
		fprintf(out, "store %-12s exists (admin key was shown when it was created)\n",
		        d->slug);
		return true;
	}
	if (!stores_create(c, d->slug, d->name, d->currency, false, &created, e))
		return false;
	fprintf(out, "store %-12s created; admin key: %s\n", d->slug,
	        json_string_value(json_object_get(created, "admin_key")));
	json_decref(created);
	if (!stores_resolve(sc, c, d->slug, &ref, &found, e))
		return false;
	if (!db_begin(c, ref.id, false, e))
		return false;
	for (size_t i = 0; i < sizeof(d->products) / sizeof(d->products[0]); i++) {
		const struct demo_product *p = &d->products[i];
		struct product_input in = {p->sku, p->name, p->description, p->price_cents,
		                           p->inventory};
		json_t *product = NULL;

		if (!catalog_create(c, &ref, &in, &product, e)) {
			db_rollback(c);
			return false;
		}
		json_decref(product);
	}
	return db_commit(c, e);
}

bool seed_demo(struct db_conn *c, FILE *out, struct err *e)
{
	struct store_cache *sc = store_cache_new();
	bool ok = true;

	for (size_t i = 0; i < sizeof(demo) / sizeof(demo[0]) && ok; i++)
		ok = seed_store(c, sc, &demo[i], out, e);
	store_cache_free(sc);
	return ok;
}

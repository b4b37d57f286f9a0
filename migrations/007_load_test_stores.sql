-- Load-test stores: terminus-load makes its stores with "load_test": true, so a load test run
-- against a shared database (make run's) does not litter the public storefront. The public store
-- list shows only the others; the operator lists them with ?load_test=true.
ALTER TABLE stores ADD COLUMN load_test boolean NOT NULL DEFAULT false;

-- The store list's walk (006's stores_page) within one kind of store.
CREATE INDEX stores_kind_page ON stores (load_test, created_at, id);
DROP INDEX stores_page;

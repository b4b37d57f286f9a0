-- Opaque keyset cursors (include/core/page.h): every list is ordered by a timestamp of its own
-- rows and their id, no longer by a sequence every store shares (whose numbers told a store how
-- many rows the others wrote). Each list's walk gets the index it reads in that order; a row
-- comparison (ts, id) > ($at, $id) is an index range on them. The old (…, seq) indexes stay:
-- other statements may use seq, and this migration only adds.

CREATE INDEX stores_page ON stores (created_at, id);
CREATE INDEX products_page ON products (store_id, created_at, id);
CREATE INDEX orders_page ON orders (store_id, created_at, id);
CREATE INDEX orders_status_page ON orders (store_id, status, created_at, id);
CREATE INDEX outbox_events_page ON outbox_events (store_id, created_at, id);
CREATE INDEX faults_page ON faults (store_id, opened_at, id);
-- The operator's list spans every store (and the platform's faults, store_id NULL).
CREATE INDEX faults_all_page ON faults (opened_at, id);

-- flag_audit's key was its seq (global too); a random id breaks ties between changes at the same
-- instant and says nothing to the client. Existing rows get one each; the table is small (one row
-- per flag change).
ALTER TABLE flag_audit ADD COLUMN id uuid NOT NULL DEFAULT gen_random_uuid();
CREATE UNIQUE INDEX flag_audit_page ON flag_audit (store_id, key, at, id);

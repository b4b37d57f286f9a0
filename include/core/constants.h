/*
 * constants.h — every limit of the service, in one place, named. Change a limit here and
 * the docs (docs/architecture.md "Limits") in the same commit.
 */
#ifndef TERMINUS_CONSTANTS_H
#define TERMINUS_CONSTANTS_H

/* HTTP */
#define HTTP_MAX_BODY_BYTES       (64 * 1024) /* larger bodies are 413 */
#define HTTP_CONNECTION_TIMEOUT_S 20 /* idle keep-alive connections are closed after this */
#define HTTP_CONNECTION_MEMORY    (64 * 1024) /* MHD per-connection pool (headers + read buffer) */
#define HTTP_CONNECTION_LIMIT     1024 /* open connections; beyond, a new one is closed at once */
#define HTTP_MAX_QUERY_ARGS       64   /* more query arguments are answered 414 */
#define HTTP_SWEEP_INTERVAL_MS    100  /* how often slow requests are looked for */
#define HTTP_LISTEN_BACKLOG       1024
#define HTTP_SHUTDOWN_GRACE_MS    10000 /* SIGTERM: wait this long for in-flight requests */
#define HTTP_IO_THREADS           2     /* libmicrohttpd threads: read requests, write answers */
#define HTTP_QUEUE_MAX_PER_THREAD 64    /* queued requests per handler thread before 503 */
#define REQUEST_ID_MAX            64

/* Lists */
#define LIST_LIMIT_DEFAULT 20
#define LIST_LIMIT_MAX     100

/* Stores */
#define STORE_SLUG_MIN 3
#define STORE_SLUG_MAX 40
#define STORE_NAME_MAX 200

/* Products and orders */
#define SKU_MAX                 64
#define PRODUCT_NAME_MAX        200
#define PRODUCT_DESCRIPTION_MAX 2000
#define PRICE_CENTS_MAX         1000000000LL /* 10 million units of currency */
#define INVENTORY_MAX           1000000000LL
#define INVENTORY_REASON_MAX    200
#define ORDER_ITEMS_MAX         100
#define ORDER_QUANTITY_MAX      10000
#define EMAIL_MAX               254
#define PAYMENT_TOKEN_MAX       255

/* Idempotency */
#define IDEMPOTENCY_KEY_MAX       255
#define IDEMPOTENCY_TTL_HOURS     24
#define IDEMPOTENCY_LEASE_S       30 /* an in-flight key whose owner vanished frees after this */
#define IDEMPOTENCY_RETRY_AFTER_S 1

/* Database */
#define DB_STATEMENT_TIMEOUT_MS 5000
#define DB_LOCK_TIMEOUT_MS      2000
#define DB_IDLE_TX_TIMEOUT_MS   15000
#define DB_CONNECT_TIMEOUT_S    2
#define DB_ACQUIRE_TIMEOUT_MS   2000 /* pool exhausted for this long: 503 */
#define DB_RECONNECT_BACKOFF_MS 500  /* after a failed connect, fail fast for this long */
#define DB_MAX_STATEMENTS       256  /* prepared statements per connection */
#define DB_TX_RETRIES           3    /* serialization failure / deadlock retries */
#define DB_RETRY_AFTER_S        1

/* Flags */
#define FLAG_POLL_MS 500 /* version poll when no NOTIFY arrived */

/* Outbox and worker */
#define OUTBOX_LEASE_S         30   /* a claim another worker may take over after this */
#define OUTBOX_BATCH           32   /* events per claim (one round trip) */
#define OUTBOX_POLL_MS         1000 /* idle poll when no NOTIFY arrives */
#define OUTBOX_RETENTION_HOURS 24   /* done events are kept this long for inspection */
#define SWEEP_INTERVAL_S       60   /* retention and idempotency-key sweeps */
#define SWEEP_BATCH            1000
#define HEARTBEAT_INTERVAL_MS  1000
#define WORKER_RECONNECT_MS    250

/* Auth */
#define OPERATOR_KEY_MIN 32

#endif

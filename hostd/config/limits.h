/*
 * limits.h - every limit of keyholdd in one place (house style).
 *
 * Each limit is enforced where the data first enters and is tested at max
 * and max + 1. Raising one is a design decision: say why next to it.
 */
#ifndef KH_CONFIG_LIMITS_H
#define KH_CONFIG_LIMITS_H

/* HTTP (Vault API: wire rules): Vault's default body cap is 32 MiB. */
#define KH_HTTP_BODY_BYTES_DEFAULT (32u * 1024u * 1024u)
#define KH_HTTP_BODY_BYTES_MAX (256u * 1024u * 1024u)
#define KH_HTTP_HEADER_COUNT_MAX 100
#define KH_HTTP_HEADER_BYTES_MAX 16384  /* MHD connection memory for headers */
#define KH_HTTP_URL_BYTES_MAX 8192      /* whole request target incl. query */
#define KH_HTTP_PATH_BYTES_MAX 4096     /* decoded API path after /v1/ */
#define KH_HTTP_PATH_SEGMENTS_MAX 128
#define KH_HTTP_QUERY_ARGS_MAX 64
#define KH_HTTP_TOKEN_BYTES_MAX 512
#define KH_HTTP_CONNECTIONS_MAX 4096
#define KH_HTTP_CONNECTION_TIMEOUT_S 60
#define KH_HTTP_THREADS_DEFAULT 2
/* On raft storage a write waits for a majority's fsync and a standby waits
 * for the active node: more workers keep more writes in flight, which the
 * raft io commits together. */
#define KH_HTTP_THREADS_RAFT 32

/* JSON request bodies. */
#define KH_JSON_DEPTH_MAX 64

/* Configuration files. */
#define KH_CONFIG_FILE_BYTES_MAX (1024u * 1024u)
#define KH_CONFIG_FILES_MAX 64
#define KH_CONFIG_DEPTH_MAX 32
#define KH_CONFIG_LISTENERS_MAX 8
#define KH_CONFIG_PARAMS_MAX 64        /* keys in a storage/seal stanza */
#define KH_CONFIG_AUDIT_MAX 8          /* audit "<type>" blocks */
#define KH_CONFIG_AUDIT_DIRS_MAX 16    /* audit_allowed_dirs entries */
#define KH_CONFIG_STRING_BYTES_MAX (256u * 1024u)

/* Seal and keys. */
#define KH_ROOT_KEY_BYTES 32
#define KH_SHAMIR_SHARES_MAX 255
#define KH_UNSEAL_KEY_TEXT_MAX 256     /* hex or base64 of one share */

/* Storage. */
#define KH_STORAGE_KEY_BYTES_MAX 4096
#define KH_STORAGE_VALUE_BYTES_MAX (64u * 1024u * 1024u)
#define KH_STORAGE_LIST_KEYS_MAX 100000
#define KH_STORAGE_BATCH_OPS_MAX 1024
#define KH_LMDB_MAP_BYTES_DEFAULT (1ull << 30)  /* sparse; grows on full */
#define KH_LMDB_MAP_BYTES_MAX (1ull << 40)

/* Barrier: AES-GCM with random 96-bit nonces must stay well below 2^32
 * encryptions per key (NIST SP 800-38D §8.3). Rotate at 2^30. */
#define KH_BARRIER_ENCRYPTIONS_PER_TERM_MAX (1ull << 30)
#define KH_BARRIER_TERMS_MAX 100000

#endif

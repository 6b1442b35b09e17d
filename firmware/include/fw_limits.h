/*
 * fw_limits.h - every bound of the Keyhold firmware, in one place.
 *
 * Each number here is enforced where data first enters (the frame parser or
 * the command table) and tested at max and max + 1 by firmware/tests/. This
 * header holds constants only; it must never hold code or board addresses.
 */
#ifndef FW_LIMITS_H
#define FW_LIMITS_H

/* Frame: fixed header, bounded payload, CRC-32 trailer. */
#define FW_HDR_LEN 12u
#define FW_CRC_LEN 4u
#define FW_MAX_PAYLOAD 640u
#define FW_MAX_FRAME (FW_HDR_LEN + FW_MAX_PAYLOAD + FW_CRC_LEN)

/* A partial frame idle this long is dropped (no hang on truncation). */
#define FW_RX_IDLE_MS 1000u

/* PIN: length bounds, tries before lockout, salt size. */
#define FW_PIN_MIN 4u
#define FW_PIN_MAX 32u
#define FW_PIN_TRIES 5u
#define FW_PIN_SALT_LEN 16u

/* Key slots held on the device. */
#define FW_WRAP_SLOTS 4u
#define FW_LABEL_MAX 32u /* wrapping-key label, bytes */
#define FW_WRAP_LIST_ENTRY (2u + FW_LABEL_MAX)
#define FW_EC_SLOTS 4u
#define FW_EC_LIST_ENTRY (2u + FW_LABEL_MAX)

/* AES-256-GCM wrap/unwrap. */
#define FW_AES_KEY_LEN 32u
#define FW_GCM_IV_LEN 12u
#define FW_GCM_TAG_LEN 16u
#define FW_AAD_MAX 64u
#define FW_WRAP_MAX 512u

/* P-256. */
#define FW_EC_PRIV_LEN 32u
#define FW_EC_PUB_LEN 65u
#define FW_EC_SIG_LEN 64u
#define FW_HASH_LEN 32u

/* Session (v4): nonces, the SESSION_OPEN request and reply, and the
 * largest plaintext a sealed frame carries (the tag takes the rest). */
#define FW_SESSION_NONCE_LEN 16u
#define FW_SESSION_REQ_LEN (FW_EC_PUB_LEN + FW_SESSION_NONCE_LEN)
#define FW_SESSION_REP_LEN \
    (FW_EC_PUB_LEN + FW_SESSION_NONCE_LEN + FW_EC_SIG_LEN)
#define FW_SESSION_KEYS_LEN (2u * FW_AES_KEY_LEN)
#define FW_SEALED_MAX (FW_MAX_PAYLOAD - FW_GCM_TAG_LEN)
#define FW_SESSION_LABEL "KH-SESSION-V4"
#define FW_SESSION_LABEL_LEN 13u

/* Random bytes per request, attestation nonce, event log. */
#define FW_RANDOM_MAX 256u
#define FW_NONCE_MAX 32u
#define FW_LOG_ENTRIES 32u
#define FW_LOG_READ_MAX 8u
#define FW_LOG_ENTRY_LEN 41u

/* Non-volatile region: two A/B record slots of this size each. */
#define FW_NV_SLOT_SIZE 4096u
#define FW_NV_SIZE (2u * FW_NV_SLOT_SIZE)

/* mbedTLS static heap (measured peak ~3 KiB with ECP window 4). */
#define FW_MBEDTLS_HEAP 8192u

/* Version string bound. */
#define FW_VERSION_MAX 32u

#endif

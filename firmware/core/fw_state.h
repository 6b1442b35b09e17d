/*
 * fw_state.h - the device's persistent state and its encrypted A/B NV
 * records (internal). Only fw_state.c reads or writes the NV region; only
 * fw_cmds.c changes the state, always followed by fw_state_save().
 */
#ifndef FW_STATE_H
#define FW_STATE_H

#include <stdint.h>

#include "fw_limits.h"

struct fw_log_entry
{
    uint32_t seq;
    uint32_t arg;
    uint8_t type;
    uint8_t hash[FW_HASH_LEN];
};

struct fw_nvstate
{
    uint32_t layout;          /* FW_STATE_LAYOUT */
    uint8_t state;            /* FACTORY, IDLE or LOCKED (never USER) */
    uint8_t tries_left;
    uint8_t wrap_used[FW_WRAP_SLOTS];
    uint8_t ec_used[FW_EC_SLOTS];
    uint8_t wrap_label_len[FW_WRAP_SLOTS];
    uint8_t wrap_label[FW_WRAP_SLOTS][FW_LABEL_MAX];
    uint8_t ec_label_len[FW_EC_SLOTS];
    uint8_t ec_label[FW_EC_SLOTS][FW_LABEL_MAX];
    uint8_t pin_salt[FW_PIN_SALT_LEN];
    uint8_t pin_hash[FW_HASH_LEN];
    uint8_t dev_priv[FW_EC_PRIV_LEN];
    uint8_t wrap_key[FW_WRAP_SLOTS][FW_AES_KEY_LEN];
    uint8_t ec_priv[FW_EC_SLOTS][FW_EC_PRIV_LEN];
    uint64_t counter;
    uint32_t log_next;        /* sequence number of the next entry */
    uint8_t log_head[FW_HASH_LEN];
    struct fw_log_entry log[FW_LOG_ENTRIES]; /* ring, index seq % N */
};

#define FW_STATE_LAYOUT 3u

/* The one state instance (static storage, no heap). */
extern struct fw_nvstate g_fw_state;

/* Derive the NV key from the HUK (provisioning one on first boot) and
 * load the newest valid record; -FW_ST_NOKEY if there is none. */
int fw_state_load(void);

/* Encrypt and write the state into the older slot. */
int fw_state_save(void);

/* Overwrite both NV slots with zeros and forget the NV key. */
int fw_state_erase(void);

/* Append an event to the hash chain (in RAM; the caller saves). */
int fw_state_log(uint8_t type, uint32_t arg);

/* Encode entry seq into out (FW_LOG_ENTRY_LEN bytes). */
void fw_state_log_encode(const struct fw_log_entry *e, uint8_t *out);

#endif

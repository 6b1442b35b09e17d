/*
 * fuzz_raft_message.c - arbitrary bytes as what a raft peer sends and what
 * the log stores: a message body (kh_raft_message_decode), a configuration
 * (kh_raft_conf_decode) and a storage batch entry (kh_raft_batch_decode).
 *
 * Each must never crash, leak or read out of bounds. Whatever a decoder
 * accepts must encode again (a message or batch that decodes but cannot be
 * re-encoded would be a limit checked on one side only): abort() if not.
 * With KH_FUZZ_WRITE_SEEDS=dir set, the target writes its seed corpus
 * (valid messages of every type) into dir and exits.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "raft/raft_codec.h"
#include "raft/raft_fsm.h"
#include "raft/raft_limits.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static void fuzz_message(const uint8_t *data, size_t size)
{
    struct raft_message msg;
    struct kh_raft_wbuf w;

    memset(&msg, 0, sizeof(msg));
    if (kh_raft_message_decode(data, size, &msg) != 0)
        return;
    if (kh_raft_message_encode(&msg, &w) != 0)
        abort();
    kh_raft_wbuf_free(&w);
    kh_raft_message_release(&msg);
}

static void fuzz_conf(const uint8_t *data, size_t size)
{
    struct raft_configuration conf;
    struct kh_raft_rbuf r;
    struct kh_raft_wbuf w;

    kh_raft_rbuf_init(&r, data, size);
    if (kh_raft_conf_decode(&r, &conf) != 0)
        return;
    kh_raft_wbuf_init(&w, KH_RAFT_CONF_BYTES_MAX);
    kh_raft_conf_encode(&w, &conf);
    if (kh_raft_wbuf_error(&w) != 0)
        abort();
    kh_raft_wbuf_free(&w);
    raft_configuration_close(&conf);
}

static void fuzz_batch(const uint8_t *data, size_t size)
{
    struct kh_raft_batch b;
    struct raft_buffer buf;

    if (kh_raft_batch_decode(data, size, &b) != 0)
        return;
    if (kh_raft_batch_encode(b.ops, b.count, &buf) != 0)
        abort();
    raft_free(buf.base);
    kh_raft_batch_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_message(data, size);
    fuzz_conf(data, size);
    fuzz_batch(data, size);
    return 0;
}

/* ---- seeds ---- */

static void seed_write(const char *dir, const char *name,
                       const struct kh_raft_wbuf *w)
{
    char path[4096];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "wb");
    if (f == NULL || fwrite(w->data, 1, w->len, f) != w->len)
        abort();
    fclose(f);
}

static void seed_message(const char *dir, const char *name,
                         const struct raft_message *msg)
{
    struct kh_raft_wbuf w;

    if (kh_raft_message_encode(msg, &w) != 0)
        abort();
    seed_write(dir, name, &w);
    kh_raft_wbuf_free(&w);
}

static void seeds(const char *dir)
{
    struct kh_storage_op op = {KH_STORAGE_PUT, "logical/a/b",
                               (const uint8_t *)"value", 5};
    struct raft_entry entries[2];
    struct raft_message m;
    struct raft_buffer batch;
    struct kh_raft_wbuf w;

    memset(&m, 0, sizeof(m));
    m.type = RAFT_IO_REQUEST_VOTE;
    m.request_vote = (struct raft_request_vote){.term = 7,
                                                .candidate_id = 2,
                                                .last_log_index = 40,
                                                .last_log_term = 6,
                                                .disrupt_leader = false,
                                                .pre_vote = true};
    seed_message(dir, "request_vote", &m);
    m.type = RAFT_IO_REQUEST_VOTE_RESULT;
    m.request_vote_result = (struct raft_request_vote_result){
        .term = 7, .vote_granted = true, .pre_vote = 1};
    seed_message(dir, "request_vote_result", &m);
    if (kh_raft_batch_encode(&op, 1, &batch) != 0)
        abort();
    memset(entries, 0, sizeof(entries));
    entries[0] =
        (struct raft_entry){.term = 7, .type = RAFT_COMMAND, .buf = batch};
    entries[1] =
        (struct raft_entry){.term = 7, .type = RAFT_BARRIER, .buf = {NULL, 0}};
    m.type = RAFT_IO_APPEND_ENTRIES;
    m.append_entries = (struct raft_append_entries){.term = 7,
                                                    .prev_log_index = 39,
                                                    .prev_log_term = 6,
                                                    .leader_commit = 38,
                                                    .entries = entries,
                                                    .n_entries = 2};
    seed_message(dir, "append_entries", &m);
    m.type = RAFT_IO_APPEND_ENTRIES_RESULT;
    m.append_entries_result = (struct raft_append_entries_result){
        .term = 7, .rejected = 0, .last_log_index = 41};
    seed_message(dir, "append_entries_result", &m);
    m.type = RAFT_IO_TIMEOUT_NOW;
    m.timeout_now = (struct raft_timeout_now){
        .term = 7, .last_log_index = 41, .last_log_term = 7};
    seed_message(dir, "timeout_now", &m);
    w = (struct kh_raft_wbuf){batch.base, batch.len, batch.len, batch.len, 0};
    seed_write(dir, "batch", &w);
    raft_free(batch.base);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *dir = getenv("KH_FUZZ_WRITE_SEEDS");

    (void)argc;
    (void)argv;
    if (dir != NULL) {
        seeds(dir);
        exit(0);
    }
    return 0;
}

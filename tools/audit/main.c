/*
 * keyhold-audit - offline tools for Keyhold audit logs.
 *
 *   keyhold-audit verify [-json] [-partial] FILE...
 *
 * Walks the files in order (oldest first; "-" is stdin) with the verifier
 * of hostd/audit/verify.h and prints whether the hash chain is intact,
 * how many records it holds, its checkpoints, and how many records follow
 * the last checkpoint (unanchored: their removal could not be detected).
 * Exact repeats of earlier records (a socket device sends its in-flight
 * window again after a reconnect) are skipped and counted as duplicates;
 * a repeat that differs from the original is a break.
 * The first record must be the device's first (seq 1) unless -partial
 * (a later part of a rotated log whose older files are gone).
 * Exit status: 0 intact, 1 broken (first broken record named as
 * file:line), 2 usage or read error. Checkpoint MACs need the server:
 * POST /v1/sys/audit/verify-checkpoint {"record": "<line>"}.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "audit/verify.h"
#include "common/err.h"

static int usage(void)
{
    fprintf(stderr,
            "usage: keyhold-audit verify [-json] [-partial] FILE...\n");
    return 2;
}

static void print_json(const struct audit_verify *v, int r)
{
    json_t *o = json_pack(
        "{s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "intact", r == 0,
        "records", (json_int_t)v->records, "duplicates",
        (json_int_t)v->duplicates, "first_seq",
        (json_int_t)v->first_seq, "last_seq", (json_int_t)v->last_seq,
        "checkpoints", (json_int_t)v->checkpoints, "last_checkpoint_seq",
        (json_int_t)v->last_checkpoint_seq, "unanchored",
        (json_int_t)audit_verify_unanchored(v), "lost",
        (json_int_t)v->lost);

    if (o != NULL && v->broken)
        json_object_set_new(o, "broken",
                            json_pack("{s:s, s:I, s:s}", "file",
                                      v->broken_file, "line",
                                      (json_int_t)v->broken_line, "reason",
                                      v->reason));
    if (o != NULL)
        json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    printf("\n");
    json_decref(o);
}

static void print_text(const struct audit_verify *v, int r)
{
    if (r != 0) {
        printf("BROKEN: %s:%" PRIu64 ": %s\n", v->broken_file,
               v->broken_line, v->reason);
        printf("verified before the break: %" PRIu64 " records\n",
               v->records);
        return;
    }
    printf("OK: %" PRIu64 " records", v->records);
    if (v->records > 0)
        printf(" (seq %" PRIu64 "..%" PRIu64 ")", v->first_seq, v->last_seq);
    printf(", %" PRIu64 " checkpoints", v->checkpoints);
    if (v->last_checkpoint_seq > 0)
        printf(", last at seq %" PRIu64, v->last_checkpoint_seq);
    printf("\n");
    if (v->records > 0 && v->first_seq != 1)
        printf("note: the chain starts at seq %" PRIu64
               ", not at the device's first record\n", v->first_seq);
    printf("unanchored: %" PRIu64 " records after the last checkpoint\n",
           audit_verify_unanchored(v));
    if (v->duplicates > 0)
        printf("duplicates: %" PRIu64 " exact repeats of earlier records "
               "(replayed after a reconnect), skipped\n", v->duplicates);
    if (v->lost > 0)
        printf("lost: %" PRIu64 " records the device could not keep "
               "(audit_gap)\n", v->lost);
}

int main(int argc, char **argv)
{
    static struct audit_verify v;
    char errmsg[KH_ERRMSG_SIZE] = "";
    bool json = false, partial = false;
    int first = 2, r;

    if (argc < 3 || strcmp(argv[1], "verify") != 0)
        return usage();
    for (; first < argc && argv[first][0] == '-' && argv[first][1]; first++) {
        const char *flag = argv[first] + (argv[first][1] == '-' ? 2 : 1);
        if (strcmp(flag, "json") == 0)
            json = true;
        else if (strcmp(flag, "partial") == 0)
            partial = true;
        else
            return usage();
    }
    if (first >= argc)
        return usage();
    if (audit_verify_init(&v, 0) != 0) {
        audit_verify_release(&v);
        fprintf(stderr, "keyhold-audit: out of memory\n");
        return 2;
    }
    v.allow_partial = partial;
    r = audit_verify_files(&v, (const char *const *)&argv[first],
                           (size_t)(argc - first), errmsg, sizeof(errmsg));
    audit_verify_release(&v);
    if (r != 0 && r != KH_ECORRUPT) {
        fprintf(stderr, "keyhold-audit: %s\n", errmsg);
        return 2;
    }
    if (json)
        print_json(&v, r);
    else
        print_text(&v, r);
    return r == 0 ? 0 : 1;
}

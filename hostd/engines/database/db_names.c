/*
 * db_names.c - generated user names and passwords for the database
 * engine: Vault's PostgreSQL username pattern
 * v-<display[0:8]>-<role[0:8]>-<random20>-<unix time> cut to 63 bytes, and
 * random passwords of [A-Za-z0-9-] with every class present.
 *
 * Owns the character sets and the rejection sampling over the kernel
 * CSPRNG. It never logs, and wipes its random buffers.
 */
#include "engines/database/database.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "common/encoding.h"
#include "common/err.h"
#include "common/secret.h"

#define DB_NAME_RANDOM_CHARS 20
#define DB_NAME_PART_CHARS   8

static const char pw_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-";

static bool name_char_ok(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* Append at most DB_NAME_PART_CHARS of part, sanitised, to out. */
static size_t put_part(char *out, size_t len, size_t cap, const char *part)
{
    size_t i;

    for (i = 0; part[i] != '\0' && i < DB_NAME_PART_CHARS && len + 1 < cap; i++)
        out[len++] = name_char_ok(part[i]) ? part[i] : '_';
    out[len] = '\0';
    return len;
}

void db_username_format(const char *display, const char *role,
                        const char *random20, int64_t now,
                        char out[DB_USERNAME_BYTES_MAX + 1])
{
    char full[DB_USERNAME_BYTES_MAX * 2 + 64];
    size_t len = 0;

    KH_ASSERT(role != NULL);
    KH_ASSERT(random20 != NULL);
    full[len++] = 'v';
    full[len++] = '-';
    len = put_part(full, len, sizeof(full),
                   display != NULL && display[0] != '\0' ? display : "token");
    full[len++] = '-';
    len = put_part(full, len, sizeof(full), role);
    snprintf(full + len, sizeof(full) - len, "-%.20s-%lld", random20,
             (long long)now);
    len = strlen(full);
    if (len > DB_USERNAME_BYTES_MAX)
        len = DB_USERNAME_BYTES_MAX;
    memcpy(out, full, len);
    out[len] = '\0';
}

int db_username_generate(const char *display, const char *role, int64_t now,
                         char out[DB_USERNAME_BYTES_MAX + 1])
{
    char random[DB_NAME_RANDOM_CHARS + 1];
    int r;

    r = kh_random_base62(random, DB_NAME_RANDOM_CHARS);
    if (r != 0)
        return r;
    random[DB_NAME_RANDOM_CHARS] = '\0';
    db_username_format(display, role, random, now, out);
    return 0;
}

bool db_password_policy_ok(const char *password)
{
    bool upper = false, lower = false, digit = false, dash = false;
    size_t n = 0;

    for (; *password != '\0'; password++, n++) {
        char c = *password;
        if (c >= 'A' && c <= 'Z')
            upper = true;
        else if (c >= 'a' && c <= 'z')
            lower = true;
        else if (c >= '0' && c <= '9')
            digit = true;
        else if (c == '-')
            dash = true;
        else
            return false;
    }
    return n >= 20 && upper && lower && digit && dash;
}

/* One attempt: DB_PASSWORD_CHARS uniform characters (rejection sampling
 * keeps the distribution uniform over the 63 symbols). */
static int password_draw(char out[DB_PASSWORD_CHARS + 1])
{
    uint8_t bytes[DB_PASSWORD_CHARS * 2];
    size_t filled = 0, i;
    int r = 0;

    while (filled < DB_PASSWORD_CHARS && r == 0) {
        r = kh_random_bytes(bytes, sizeof(bytes));
        for (i = 0; r == 0 && i < sizeof(bytes) && filled < DB_PASSWORD_CHARS;
             i++) {
            if (bytes[i] < 252) /* 4 * 63 */
                out[filled++] = pw_alphabet[bytes[i] % 63];
        }
    }
    out[DB_PASSWORD_CHARS] = '\0';
    kh_wipe(bytes, sizeof(bytes));
    return r;
}

int db_password_generate(char out[DB_PASSWORD_CHARS + 1])
{
    char pw[DB_PASSWORD_CHARS + 1];
    int attempt, r = KH_EINTERNAL;

    static_assert(sizeof(pw_alphabet) - 1 == 63, "alphabet of 63 symbols");
    static_assert(DB_PASSWORD_CHARS >= 20, "passwords of 20+ characters");
    /* A draw misses a class with probability < 0.5; 64 draws all missing
     * is below 2^-64. */
    for (attempt = 0; attempt < 64; attempt++) {
        r = password_draw(pw);
        if (r != 0)
            break;
        if (db_password_policy_ok(pw)) {
            memcpy(out, pw, sizeof(pw));
            break;
        }
        r = KH_EINTERNAL;
    }
    kh_wipe(pw, sizeof(pw));
    return r;
}

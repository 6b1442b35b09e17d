/*
 * transit_encrypt.c - encrypt/:name, decrypt/:name, rewrap/:name and
 * datakey/{plaintext,wrapped}/:name (Vault API: transit): envelope
 * encryption's server side.
 *
 * Owns the version rules (encrypt at latest or key_version, never below
 * min_encryption_version or min_decryption_version; decrypt refuses
 * versions above latest or below min_decryption_version), per-context key
 * derivation, the choice between software AEAD, RSA-OAEP and the HSM
 * (managed keys), upsert on encrypt for callers with create, and data
 * keys (random in software, wrapped like any plaintext). Plaintext copies
 * are wiped where they die; errors never contain plaintext; a failed
 * authentication is 400 "cipher: message authentication failed".
 */
#include "engines/transit/transit.h"

#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "common/secret.h"

/* The AEAD key for this item: the version's key, or the per-context
 * key of a derived policy (into derived). */
static int item_key(const struct transit_call *call,
                    const struct transit_policy *pol,
                    const struct transit_version *v, const json_t *item,
                    uint8_t derived[TRANSIT_AEAD_KEY_BYTES],
                    const uint8_t **ret_key)
{
    uint8_t *context = NULL;
    size_t context_len = 0;
    int r;

    if (!pol->derived) {
        *ret_key = v->key;
        return 0;
    }
    r = transit_field_b64(item, "context", TRANSIT_CONTEXT_BYTES_MAX, false,
                          &context, &context_len, call->errmsg,
                          call->errmsg_size);
    if (r != 0)
        return r;
    if (context_len == 0)
        r = kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                      "missing 'context' for key derivation; the key was "
                      "created using a derived key, which means "
                      "additional, per-request information must be "
                      "included in order to perform operations with the "
                      "key");
    else
        r = transit_crypto_derive(v->key, v->key_len, context, context_len,
                                  derived);
    kh_free_secret(context, context_len);
    if (r == 0)
        *ret_key = derived;
    return r;
}

static int check_encryption(const struct transit_call *call,
                            const struct transit_policy *pol)
{
    const struct transit_type_info *info = transit_type_info(pol->type);

    if (!info->encryption)
        return kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                         "key type %s does not support encryption",
                         info->name);
    return 0;
}

/* Seal (seal true) or open in[0..len) with version v's AEAD key under
 * the item's associated_data: in the HSM for a managed key, else in
 * software with the version's (or the per-context derived) key. */
static int aead_with(const struct transit_call *call,
                     struct transit_policy *pol, struct transit_version *v,
                     const json_t *item, bool seal, const uint8_t *in,
                     size_t len, uint8_t **ret_out, size_t *ret_len)
{
    uint8_t derived[TRANSIT_AEAD_KEY_BYTES];
    const uint8_t *key = NULL;
    uint8_t *aad = NULL;
    size_t aad_len = 0;
    int r;

    r = transit_field_b64(item, "associated_data", TRANSIT_AAD_BYTES_MAX,
                          false, &aad, &aad_len, call->errmsg,
                          call->errmsg_size);
    if (r != 0)
        return r;
    if (pol->managed && seal)
        r = transit_managed_seal(call, pol, v, aad, aad_len, in, len, ret_out,
                                 ret_len);
    else if (pol->managed)
        r = transit_managed_open(call, pol, v, aad, aad_len, in, len, ret_out,
                                 ret_len);
    else
        r = item_key(call, pol, v, item, derived, &key);
    if (r == 0 && !pol->managed && seal)
        r = transit_crypto_seal(pol->type, key, aad, aad_len, in, len, ret_out,
                                ret_len);
    else if (r == 0 && !pol->managed)
        r = transit_crypto_open(pol->type, key, aad, aad_len, in, len, ret_out,
                                ret_len);
    kh_wipe(derived, sizeof(derived));
    kh_free_secret(aad, aad_len);
    return r;
}

/* Encrypt with version v (RSA-OAEP, software AEAD or HSM) into
 * *ret_blob. */
static int seal_with(const struct transit_call *call,
                     struct transit_policy *pol, struct transit_version *v,
                     const json_t *item, const uint8_t *plain, size_t len,
                     uint8_t **ret_blob, size_t *ret_len)
{
    int r;

    if (pol->type != TRANSIT_RSA_2048 && pol->type != TRANSIT_RSA_4096)
        return aead_with(call, pol, v, item, true, plain, len, ret_blob,
                         ret_len);
    r = transit_crypto_rsa_encrypt(v, plain, len, ret_blob, ret_len);
    if (r == KH_EINVAL)
        r = kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                      "plaintext is too long for RSA-OAEP with this key");
    return r;
}

int transit_encrypt_bytes(const struct transit_call *call,
                          struct transit_policy *pol, const json_t *item,
                          uint64_t version, const uint8_t *plain, size_t len,
                          char **ret_text, uint32_t *ret_version)
{
    struct transit_version *v;
    uint8_t *blob = NULL;
    size_t blob_len = 0;
    char *text;
    int r;

    r = check_encryption(call, pol);
    if (r != 0)
        return r;
    if (version == 0)
        version = pol->latest_version;
    if (version > pol->latest_version)
        return kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                         "requested version for encryption is higher than "
                         "the latest key version");
    if (version < pol->min_encryption_version ||
        version < pol->min_decryption_version)
        return kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                         "requested version for encryption is less than "
                         "the minimum encryption key version");
    v = transit_policy_version(pol, version);
    KH_ASSERT(v != NULL);
    r = seal_with(call, pol, v, item, plain, len, &blob, &blob_len);
    if (r != 0)
        return r;
    text = transit_ciphertext_format(v->version, blob, blob_len);
    free(blob); /* ciphertext: not secret */
    if (text == NULL)
        return KH_ENOMEM;
    *ret_text = text;
    *ret_version = v->version;
    return 0;
}

/* Decrypt blob with version v (RSA-OAEP, software AEAD or HSM). */
static int open_with(const struct transit_call *call,
                     struct transit_policy *pol, struct transit_version *v,
                     const json_t *item, const uint8_t *blob, size_t blob_len,
                     uint8_t **ret_plain, size_t *ret_len)
{
    if (pol->type == TRANSIT_RSA_2048 || pol->type == TRANSIT_RSA_4096)
        return transit_crypto_rsa_decrypt(v, blob, blob_len, ret_plain,
                                          ret_len);
    return aead_with(call, pol, v, item, false, blob, blob_len, ret_plain,
                     ret_len);
}

int transit_decrypt_text(const struct transit_call *call,
                         struct transit_policy *pol, const json_t *item,
                         const char *text, uint8_t **ret_plain,
                         size_t *ret_len)
{
    struct transit_version *v;
    uint32_t version = 0;
    uint8_t *blob = NULL;
    size_t blob_len = 0;
    int r;

    r = check_encryption(call, pol);
    if (r == 0)
        r = transit_ciphertext_parse(text, &version, &blob, &blob_len,
                                     call->errmsg, call->errmsg_size);
    if (r != 0)
        return r;
    r = KH_EINVAL;
    if (version > pol->latest_version) {
        kh_errmsg(call->errmsg, call->errmsg_size, r,
                  "invalid ciphertext: version is too new");
        goto out;
    }
    if (version < pol->min_decryption_version) {
        kh_errmsg(call->errmsg, call->errmsg_size, r,
                  "ciphertext or signature version is disallowed by policy "
                  "(too old)");
        goto out;
    }
    v = transit_policy_version(pol, version);
    KH_ASSERT(v != NULL);
    r = open_with(call, pol, v, item, blob, blob_len, ret_plain, ret_len);
    if (r == KH_ECORRUPT)
        r = kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                      "cipher: message authentication failed");
out:
    kh_free_secret(blob, blob_len);
    return r;
}

/* ---- items ---- */

/* result's "ciphertext" and "key_version" (encrypt and rewrap). */
static int set_ciphertext(json_t *result, const char *text, uint32_t used)
{
    if (json_object_set_new(result, "ciphertext", json_string(text)) != 0 ||
        json_object_set_new(result, "key_version", json_integer(used)) != 0)
        return KH_ENOMEM;
    return 0;
}

int transit_item_encrypt(const struct transit_call *call,
                         struct transit_policy *pol, const json_t *item,
                         json_t *result)
{
    uint8_t *plain = NULL;
    size_t len = 0;
    uint64_t version = 0;
    uint32_t used = 0;
    char *text = NULL;
    int r;

    if (!transit_field_present(item, "plaintext"))
        return kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                         "missing plaintext to encrypt");
    r = transit_field_b64(item, "plaintext", TRANSIT_PLAINTEXT_BYTES_MAX, true,
                          &plain, &len, call->errmsg, call->errmsg_size);
    if (r == 0)
        r = transit_field_uint(item, "key_version", 0, UINT32_MAX, &version,
                               call->errmsg, call->errmsg_size);
    if (r == 0)
        r = transit_encrypt_bytes(call, pol, item, version, plain, len, &text,
                                  &used);
    if (r == 0)
        r = set_ciphertext(result, text, used);
    free(text);
    kh_free_secret(plain, len);
    return r;
}

int transit_item_decrypt(const struct transit_call *call,
                         struct transit_policy *pol, const json_t *item,
                         json_t *result)
{
    const char *text = transit_field_string(item, "ciphertext");
    uint8_t *plain = NULL;
    size_t len = 0;
    char *b64 = NULL;
    int r;

    if (text == NULL || text[0] == '\0')
        return kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                         "missing ciphertext to decrypt");
    r = transit_decrypt_text(call, pol, item, text, &plain, &len);
    if (r != 0)
        return r;
    b64 = transit_b64(plain, len);
    if (b64 == NULL ||
        json_object_set_new(result, "plaintext", json_string(b64)) != 0)
        r = KH_ENOMEM;
    kh_free_secret(b64, b64 != NULL ? strlen(b64) : 0);
    kh_free_secret(plain, len);
    return r;
}

int transit_item_rewrap(const struct transit_call *call,
                        struct transit_policy *pol, const json_t *item,
                        json_t *result)
{
    const char *text = transit_field_string(item, "ciphertext");
    uint8_t *plain = NULL;
    size_t len = 0;
    uint64_t version = 0;
    uint32_t used = 0;
    char *out = NULL;
    int r;

    if (text == NULL || text[0] == '\0')
        return kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                         "missing ciphertext to rewrap");
    r = transit_field_uint(item, "key_version", 0, UINT32_MAX, &version,
                           call->errmsg, call->errmsg_size);
    if (r == 0)
        r = transit_decrypt_text(call, pol, item, text, &plain, &len);
    if (r == 0)
        r = transit_encrypt_bytes(call, pol, item, version, plain, len, &out,
                                  &used);
    if (r == 0)
        r = set_ciphertext(result, out, used);
    free(out);
    kh_free_secret(plain, len);
    return r;
}

/* ---- handlers ---- */

/* encrypt/ on a missing key: create it when the caller has create
 * (the gate said so: op CREATE), else 400 as Vault does. */
static int encrypt_upsert(const struct transit_call *call)
{
    const json_t *data = call->br->req->data;
    const json_t *batch = json_object_get(data, "batch_input");
    const json_t *first = json_is_array(batch) ? json_array_get(batch, 0)
                                               : data;
    const char *type = transit_field_string(data, "type");
    struct transit_policy settings, *pol = NULL;
    const struct transit_type_info *info;
    int r;

    if (call->br->req->op != KH_OP_CREATE)
        return kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                         "encryption key not found");
    info = transit_type_by_name(type != NULL ? type : "aes256-gcm96");
    if (info == NULL || !info->aead)
        return kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                         "unknown or unsupported key type for upsert");
    memset(&settings, 0, sizeof(settings));
    settings.type = info->type;
    settings.derived = transit_field_present(first, "context");
    transit_lock_write(call->state);
    r = transit_key_find_locked(call, call->name, &pol);
    if (r == KH_ENOTFOUND)
        r = transit_key_create_locked(call, call->name, &settings, &pol);
    transit_unlock(call->state);
    return r;
}

/* Find the key for an operation of kind and run it. */
static int run_on_key(const struct transit_call *call,
                      enum transit_item_kind kind, bool upsert)
{
    struct transit_policy *pol = NULL;
    int r;

    r = transit_name_check(call->name, call->errmsg, call->errmsg_size);
    if (r != 0)
        return r;
    r = transit_key_acquire(call, call->name, false, &pol);
    if (r == KH_ENOTFOUND && upsert) {
        r = encrypt_upsert(call);
        if (r == 0)
            r = transit_key_acquire(call, call->name, false, &pol);
    }
    if (r == KH_ENOTFOUND)
        return kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                         "encryption key not found");
    if (r != 0)
        return r;
    r = transit_batch_run(call, pol, kind);
    transit_unlock(call->state);
    return r;
}

int transit_encrypt_write(const struct transit_call *call)
{
    return run_on_key(call, TRANSIT_ITEM_ENCRYPT, true);
}

int transit_decrypt_write(const struct transit_call *call)
{
    return run_on_key(call, TRANSIT_ITEM_DECRYPT, false);
}

int transit_rewrap_write(const struct transit_call *call)
{
    return run_on_key(call, TRANSIT_ITEM_REWRAP, false);
}

int transit_sign_write(const struct transit_call *call)
{
    return run_on_key(call, TRANSIT_ITEM_SIGN, false);
}

int transit_verify_write(const struct transit_call *call)
{
    return run_on_key(call, TRANSIT_ITEM_VERIFY, false);
}

int transit_hmac_write(const struct transit_call *call)
{
    return run_on_key(call, TRANSIT_ITEM_HMAC, false);
}

/* datakey/:type/:name - call->name is the type, call->tail the key. */
static int datakey_make(const struct transit_call *call,
                        struct transit_policy *pol, bool with_plaintext)
{
    const json_t *data = call->br->req->data;
    uint64_t bits = 256, version = 0;
    uint8_t key[64];
    uint32_t used = 0;
    char *text = NULL, *b64 = NULL;
    json_t *out = NULL;
    int r;

    r = transit_field_uint(data, "bits", 256, 512, &bits, call->errmsg,
                           call->errmsg_size);
    if (r == 0 && bits != 128 && bits != 256 && bits != 512)
        r = kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                      "invalid bits; must be 128, 256, or 512");
    if (r == 0)
        r = transit_field_uint(data, "key_version", 0, UINT32_MAX, &version,
                               call->errmsg, call->errmsg_size);
    if (r == 0)
        r = kh_random_bytes(key, (size_t)bits / 8);
    if (r == 0)
        r = transit_encrypt_bytes(call, pol, data, version, key,
                                  (size_t)bits / 8, &text, &used);
    if (r != 0)
        goto out;
    out = json_pack("{s:s, s:i}", "ciphertext", text, "key_version", used);
    if (out != NULL && with_plaintext) {
        b64 = transit_b64(key, (size_t)bits / 8);
        if (b64 == NULL ||
            json_object_set_new(out, "plaintext", json_string(b64)) != 0) {
            json_decref(out);
            out = NULL;
        }
    }
    r = out != NULL ? kh_response_envelope(call->resp, call->br->req, out)
                    : KH_ENOMEM;
out:
    kh_free_secret(b64, b64 != NULL ? strlen(b64) : 0);
    kh_wipe(key, sizeof(key));
    free(text);
    return r;
}

int transit_datakey_write(const struct transit_call *call)
{
    struct transit_policy *pol = NULL;
    bool with_plaintext = strcmp(call->name, "plaintext") == 0;
    int r;

    if (!with_plaintext && strcmp(call->name, "wrapped") != 0)
        return kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                         "invalid type \"%s\"; must be plaintext or wrapped",
                         call->name);
    r = transit_name_check(call->tail, call->errmsg, call->errmsg_size);
    if (r != 0)
        return r;
    r = transit_key_acquire(call, call->tail, false, &pol);
    if (r == KH_ENOTFOUND)
        return kh_errmsg(call->errmsg, call->errmsg_size, KH_EINVAL,
                         "encryption key not found");
    if (r != 0)
        return r;
    r = datakey_make(call, pol, with_plaintext);
    transit_unlock(call->state);
    return r;
}

/*
 * tls_files.c - reading a PEM certificate and key. The key is a secret: it
 * is read straight into locked memory and wiped when the listener stops.
 */
#include "http/tls_files.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "common/err.h"
#include "common/secret.h"

static int read_file(const char *path, char *buf, size_t size,
                     size_t *ret_len, char *errmsg, size_t errmsg_size)
{
    FILE *f = fopen(path, "rb");
    size_t n;

    if (f == NULL)
        return kh_errmsg(errmsg, errmsg_size, KH_EIO, "cannot read %s: %s",
                         path, strerror(errno));
    n = fread(buf, 1, size - 1, f);
    if (ferror(f) || !feof(f)) {
        fclose(f);
        return kh_errmsg(errmsg, errmsg_size, KH_ECONFIG,
                         "cannot read %s: error or larger than %u bytes",
                         path, TLS_FILE_BYTES_MAX);
    }
    fclose(f);
    buf[n] = '\0';
    *ret_len = n;
    return 0;
}

/* The certificate parses and the key belongs to it (what GnuTLS in MHD
 * would refuse later, on a path that closes the listen socket). */
static bool pair_ok(const char *cert, const char *key)
{
    BIO *cb = BIO_new_mem_buf(cert, -1);
    BIO *kb = BIO_new_mem_buf(key, -1);
    X509 *x = cb != NULL ? PEM_read_bio_X509(cb, NULL, NULL, NULL) : NULL;
    EVP_PKEY *k = kb != NULL ? PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL)
                             : NULL;
    bool ok = x != NULL && k != NULL && X509_check_private_key(x, k) == 1;

    EVP_PKEY_free(k);
    X509_free(x);
    BIO_free(kb);
    BIO_free(cb);
    return ok;
}

int tls_files_load(struct tls_files *tls, const char *cert_file,
                   const char *key_file, char *errmsg, size_t errmsg_size)
{
    struct tls_files t = {0};
    size_t len = 0;
    int r = KH_ENOMEM;

    t.cert = malloc(TLS_FILE_BYTES_MAX);
    t.key_size = TLS_FILE_BYTES_MAX;
    t.key = kh_secure_alloc(t.key_size);
    if (t.cert == NULL || t.key == NULL)
        goto out;
    r = read_file(cert_file, t.cert, TLS_FILE_BYTES_MAX, &len, errmsg,
                  errmsg_size);
    if (r != 0)
        goto out;
    r = kh_errmsg(errmsg, errmsg_size, KH_ECONFIG,
                  "%s holds no PEM certificate", cert_file);
    if (strstr(t.cert, "-----BEGIN CERTIFICATE-----") == NULL)
        goto out;
    r = read_file(key_file, t.key, t.key_size, &len, errmsg, errmsg_size);
    if (r != 0)
        goto out;
    r = kh_errmsg(errmsg, errmsg_size, KH_ECONFIG,
                  "%s holds no PEM private key", key_file);
    if (strstr(t.key, "PRIVATE KEY-----") == NULL)
        goto out;
    r = kh_errmsg(errmsg, errmsg_size, KH_ECONFIG,
                  "%s and %s: not a valid certificate and matching key",
                  cert_file, key_file);
    if (!pair_ok(t.cert, t.key))
        goto out;
    tls_files_clear(tls);
    *tls = t;
    memset(&t, 0, sizeof(t));
    r = 0; /* success */
out:
    tls_files_clear(&t);
    return r;
}

void tls_files_clear(struct tls_files *tls)
{
    free(tls->cert);
    kh_secure_free(tls->key, tls->key_size);
    memset(tls, 0, sizeof(*tls));
}

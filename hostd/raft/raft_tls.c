/*
 * raft_tls.c - mutual TLS 1.3 for the raft transport over OpenSSL memory
 * BIOs (raft_tls.h).
 *
 * Owns one SSL_CTX per raft_io and one SSL with its two memory BIOs per
 * connection. Must never touch a socket or block, never hand out or take
 * plaintext before the peer's certificate verified against the cluster
 * CA, never accept a protocol below TLS 1.3 or a peer without a
 * certificate, and never leave errors in the thread's OpenSSL error queue
 * (the loop thread runs other OpenSSL users).
 */
#include "raft/raft_tls.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <raft.h>
#include <openssl/x509v3.h>
#include <openssl/x509.h>

#include "common/err.h"
#include "raft/raft_io_lmdb.h"

/* The cluster CA signs node certificates directly, or through one or two
 * intermediates. */
#define TLS_VERIFY_DEPTH 4

struct kh_raft_tls_ctx
{
    SSL_CTX *ssl_ctx;
};

struct kh_raft_tls_conn
{
    SSL *ssl;  /* owns both BIOs */
    BIO *rbio; /* bytes from the socket */
    BIO *wbio; /* bytes for the socket */
    bool established;
};

/* The earliest queued OpenSSL reason into why, then an empty queue. */
static void tls_reason(char *why, size_t why_size)
{
    unsigned long e = ERR_peek_error();
    const char *s = NULL;
    char sys[128];

    if (e != 0 && ERR_SYSTEM_ERROR(e))
        s = strerror_r(ERR_GET_REASON(e), sys, sizeof(sys));
    else if (e != 0)
        s = ERR_reason_error_string(e);
    if (s != NULL)
        snprintf(why, why_size, "%s", s);
    else if (e != 0)
        ERR_error_string_n(e, why, why_size);
    else
        snprintf(why, why_size, "%s", "unknown TLS error");
    ERR_clear_error();
}

/* An alert from the peer that refuses our certificate. */
static bool tls_alert_refuses_us(unsigned long e)
{
    int reason = ERR_GET_REASON(e);

    if (e == 0 || ERR_SYSTEM_ERROR(e) || ERR_GET_LIB(e) != ERR_LIB_SSL)
        return false;
    switch (reason - SSL_AD_REASON_OFFSET) {
    case SSL_AD_BAD_CERTIFICATE:
    case SSL_AD_UNSUPPORTED_CERTIFICATE:
    case SSL_AD_CERTIFICATE_REVOKED:
    case SSL_AD_CERTIFICATE_EXPIRED:
    case SSL_AD_CERTIFICATE_UNKNOWN:
    case SSL_AD_UNKNOWN_CA:
    case SSL_AD_ACCESS_DENIED:
    case SSL_AD_CERTIFICATE_REQUIRED:
        return true;
    default:
        return false;
    }
}

/* Classify a failed handshake or read: KH_EAUTH for a certificate that
 * is missing, does not verify or was refused, else KH_EINVAL. */
static int tls_fail(struct kh_raft_tls_conn *conn, char *why, size_t why_size)
{
    long verify = SSL_get_verify_result(conn->ssl);
    unsigned long e = ERR_peek_error();
    bool auth;

    auth = tls_alert_refuses_us(e) ||
           (ERR_GET_LIB(e) == ERR_LIB_SSL &&
            ERR_GET_REASON(e) == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE);
    if (verify != X509_V_OK) {
        snprintf(why, why_size, "peer certificate verify failed: %s",
                 X509_verify_cert_error_string(verify));
        ERR_clear_error();
        return KH_EAUTH;
    }
    tls_reason(why, why_size);
    return auth ? KH_EAUTH : KH_EINVAL;
}

static int tls_ctx_load(SSL_CTX *s, const struct kh_raft_tls *tls, char *errmsg,
                        size_t errmsg_size)
{
    char why[256];

    if (SSL_CTX_use_certificate_chain_file(s, tls->cert_file) != 1) {
        tls_reason(why, sizeof(why));
        return kh_errmsg(errmsg, errmsg_size, KH_ECONFIG,
                         "raft: TLS certificate file %s: %s", tls->cert_file,
                         why);
    }
    if (SSL_CTX_use_PrivateKey_file(s, tls->key_file, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(s) != 1) {
        tls_reason(why, sizeof(why));
        return kh_errmsg(errmsg, errmsg_size, KH_ECONFIG,
                         "raft: TLS key file %s (for the certificate in %s): "
                         "%s",
                         tls->key_file, tls->cert_file, why);
    }
    if (SSL_CTX_load_verify_file(s, tls->ca_file) != 1) {
        tls_reason(why, sizeof(why));
        return kh_errmsg(errmsg, errmsg_size, KH_ECONFIG,
                         "raft: TLS CA file %s: %s", tls->ca_file, why);
    }
    return 0;
}

int kh_raft_tls_ctx_new(const struct kh_raft_tls *tls,
                        struct kh_raft_tls_ctx **ret_ctx, char *errmsg,
                        size_t errmsg_size)
{
    struct kh_raft_tls_ctx *ctx = NULL;
    SSL_CTX *s = NULL;
    int r = KH_EINTERNAL;

    KH_ASSERT(tls != NULL);
    KH_ASSERT(ret_ctx != NULL);
    ERR_clear_error();
    if (tls->cert_file == NULL || tls->key_file == NULL ||
        tls->ca_file == NULL) {
        r = kh_errmsg(errmsg, errmsg_size, KH_ECONFIG,
                      "raft: TLS needs a certificate, a key and a CA file");
        goto out;
    }
    ctx = calloc(1, sizeof(*ctx));
    s = SSL_CTX_new(TLS_method());
    if (ctx == NULL || s == NULL) {
        r = kh_errmsg(errmsg, errmsg_size, KH_ENOMEM,
                      "raft: TLS: out of memory");
        goto out;
    }
    if (SSL_CTX_set_min_proto_version(s, TLS1_3_VERSION) != 1) {
        r = kh_errmsg(errmsg, errmsg_size, KH_EINTERNAL,
                      "raft: TLS 1.3 is not available");
        goto out;
    }
    r = tls_ctx_load(s, tls, errmsg, errmsg_size);
    if (r != 0)
        goto out;
    SSL_CTX_set_verify(s, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                       NULL);
    SSL_CTX_set_verify_depth(s, TLS_VERIFY_DEPTH);
    /* Every connection authenticates in full: nothing to resume from. */
    SSL_CTX_set_session_cache_mode(s, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(s, SSL_OP_NO_TICKET);
    if (SSL_CTX_set_num_tickets(s, 0) != 1) {
        r = kh_errmsg(errmsg, errmsg_size, KH_EINTERNAL,
                      "raft: TLS: cannot turn session tickets off");
        goto out;
    }
    ctx->ssl_ctx = s;
    s = NULL;
    *ret_ctx = ctx;
    ctx = NULL;
    r = 0; /* success */
out:
    SSL_CTX_free(s);
    free(ctx);
    ERR_clear_error();
    return r;
}

void kh_raft_tls_ctx_free(struct kh_raft_tls_ctx *ctx)
{
    if (ctx == NULL)
        return;
    SSL_CTX_free(ctx->ssl_ctx);
    free(ctx);
}

int kh_raft_tls_conn_new(struct kh_raft_tls_ctx *ctx, bool server,
                         struct kh_raft_tls_conn **ret_conn)
{
    struct kh_raft_tls_conn *conn = NULL;
    BIO *rbio = NULL, *wbio = NULL;
    int r = KH_ENOMEM;

    KH_ASSERT(ctx != NULL);
    KH_ASSERT(ret_conn != NULL);
    conn = calloc(1, sizeof(*conn));
    if (conn == NULL)
        goto out;
    conn->ssl = SSL_new(ctx->ssl_ctx);
    rbio = BIO_new(BIO_s_mem());
    wbio = BIO_new(BIO_s_mem());
    if (conn->ssl == NULL || rbio == NULL || wbio == NULL)
        goto out;
    /* An empty BIO means "wait for more", not end of stream. */
    BIO_set_mem_eof_return(rbio, -1);
    BIO_set_mem_eof_return(wbio, -1);
    SSL_set_bio(conn->ssl, rbio, wbio); /* the SSL owns them now */
    conn->rbio = rbio;
    conn->wbio = wbio;
    rbio = NULL;
    wbio = NULL;
    if (server)
        SSL_set_accept_state(conn->ssl);
    else
        SSL_set_connect_state(conn->ssl);
    *ret_conn = conn;
    conn = NULL;
    r = 0; /* success */
out:
    BIO_free(rbio);
    BIO_free(wbio);
    kh_raft_tls_conn_free(conn);
    ERR_clear_error();
    return r;
}

void kh_raft_tls_conn_free(struct kh_raft_tls_conn *conn)
{
    if (conn == NULL)
        return;
    SSL_free(conn->ssl);
    free(conn);
}

int kh_raft_tls_conn_recv(struct kh_raft_tls_conn *conn, const uint8_t *p,
                          size_t n)
{
    KH_ASSERT(conn != NULL);
    KH_ASSERT(n <= INT_MAX);
    if (n == 0)
        return 0;
    if (BIO_write(conn->rbio, p, (int)n) != (int)n) {
        ERR_clear_error();
        return KH_ENOMEM;
    }
    return 0;
}

int kh_raft_tls_conn_handshake(struct kh_raft_tls_conn *conn, bool *ret_done,
                               char *why, size_t why_size)
{
    int rc, e;

    KH_ASSERT(conn != NULL);
    ERR_clear_error();
    if (!conn->established) {
        rc = SSL_do_handshake(conn->ssl);
        if (rc != 1) {
            e = SSL_get_error(conn->ssl, rc);
            if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
                return tls_fail(conn, why, why_size);
            ERR_clear_error();
            *ret_done = false;
            return 0;
        }
        /* OpenSSL already refused a failed verify (SSL_VERIFY_PEER); a
         * second look costs nothing. */
        if (SSL_get_verify_result(conn->ssl) != X509_V_OK ||
            SSL_get0_peer_certificate(conn->ssl) == NULL) {
            snprintf(why, why_size, "%s", "peer certificate not verified");
            return KH_EAUTH;
        }
        conn->established = true;
    }
    *ret_done = true;
    return 0;
}

bool kh_raft_tls_conn_established(const struct kh_raft_tls_conn *conn)
{
    KH_ASSERT(conn != NULL);
    return conn->established;
}

int kh_raft_tls_conn_read(struct kh_raft_tls_conn *conn, uint8_t *buf,
                          size_t cap, size_t *ret_n, char *why, size_t why_size)
{
    size_t n = 0;
    int rc, e;

    KH_ASSERT(conn != NULL);
    KH_ASSERT(conn->established);
    ERR_clear_error();
    rc = SSL_read_ex(conn->ssl, buf, cap, &n);
    if (rc == 1) {
        *ret_n = n;
        return 0;
    }
    e = SSL_get_error(conn->ssl, rc);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        ERR_clear_error();
        *ret_n = 0;
        return 0;
    }
    if (e == SSL_ERROR_ZERO_RETURN) {
        snprintf(why, why_size, "%s", "peer closed the TLS session");
        ERR_clear_error();
        return KH_EIO;
    }
    return tls_fail(conn, why, why_size);
}

int kh_raft_tls_conn_write(struct kh_raft_tls_conn *conn, const uint8_t *p,
                           size_t n)
{
    size_t written = 0;

    KH_ASSERT(conn != NULL);
    KH_ASSERT(conn->established);
    if (n == 0)
        return 0;
    ERR_clear_error();
    /* A memory BIO takes everything: without partial-write mode,
     * SSL_write_ex returns only when all n bytes are records. */
    if (SSL_write_ex(conn->ssl, p, n, &written) != 1 || written != n) {
        ERR_clear_error();
        return KH_ENOMEM;
    }
    return 0;
}

size_t kh_raft_tls_conn_pending(const struct kh_raft_tls_conn *conn)
{
    KH_ASSERT(conn != NULL);
    return BIO_ctrl_pending(conn->wbio);
}

void kh_raft_tls_conn_take(struct kh_raft_tls_conn *conn, uint8_t *buf,
                           size_t n)
{
    KH_ASSERT(conn != NULL);
    KH_ASSERT(n <= kh_raft_tls_conn_pending(conn) && n <= INT_MAX);
    if (n == 0)
        return;
    KH_ASSERT(BIO_read(conn->wbio, buf, (int)n) == (int)n);
}

static bool name_is(const unsigned char *name, int len, uint64_t id)
{
    char text[256];
    unsigned long long d;

    if (name == NULL || len <= 0 || (size_t)len >= sizeof(text) ||
        memchr(name, 0, (size_t)len) != NULL)
        return false;
    memcpy(text, name, (size_t)len);
    text[len] = '\0';
    d = raft_digest(text, 0);
    return (d == 0 ? 1 : (uint64_t)d) == id;
}

static bool san_names(X509 *cert, uint64_t id)
{
    GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL,
                                            NULL);
    bool found = false;
    int i;

    for (i = 0; names != NULL && !found && i < sk_GENERAL_NAME_num(names);
         i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
        if (g->type == GEN_DNS)
            found = name_is(ASN1_STRING_get0_data(g->d.dNSName),
                            ASN1_STRING_length(g->d.dNSName), id);
    }
    GENERAL_NAMES_free(names);
    return found;
}

bool kh_raft_tls_conn_peer_is(const struct kh_raft_tls_conn *conn,
                              uint64_t id)
{
    X509 *cert;
    X509_NAME *subject;
    const X509_NAME_ENTRY *e;
    const ASN1_STRING *cn;
    int i;

    if (conn == NULL || !conn->established)
        return false;
    cert = SSL_get0_peer_certificate(conn->ssl);
    if (cert == NULL)
        return false;
    subject = X509_get_subject_name(cert);
    i = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
    if (i >= 0) {
        e = X509_NAME_get_entry(subject, i);
        cn = X509_NAME_ENTRY_get_data(e);
        if (name_is(ASN1_STRING_get0_data(cn), ASN1_STRING_length(cn), id))
            return true;
    }
    return san_names(cert, id);
}

/*
 * tls_files.h - a listener's certificate and private key, read into memory
 * (the key in locked memory, wiped on free) for libmicrohttpd.
 */
#ifndef KH_HTTP_TLS_FILES_H
#define KH_HTTP_TLS_FILES_H

#include <stddef.h>

#define TLS_FILE_BYTES_MAX (1024u * 1024u)

struct tls_files
{
    char *cert;                 /* PEM, NUL-terminated */
    char *key;                  /* PEM, NUL-terminated, kh_secure_alloc */
    size_t key_size;
};

/* Read both files. KH_EIO/KH_ECONFIG with errmsg naming the file. */
int tls_files_load(struct tls_files *tls, const char *cert_file,
                   const char *key_file, char *errmsg, size_t errmsg_size);

/* Wipe and free; leaves tls zeroed. */
void tls_files_clear(struct tls_files *tls);

#endif

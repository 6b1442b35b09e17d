/*
 * json_alloc.h - make jansson wipe every block it frees. Request and
 * response documents carry secrets (unseal shares, tokens, secret data);
 * this closes the gap of values freed deep inside the library.
 */
#ifndef KH_SERVER_JSON_ALLOC_H
#define KH_SERVER_JSON_ALLOC_H

/* Install once in main, before any thread or JSON value exists. */
void json_alloc_install_wiping(void);

#endif

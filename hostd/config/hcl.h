/*
 * hcl.h - a lexer and parser for the HCL subset Vault configurations use,
 * and for JSON documents, into one read-only node tree.
 *
 * Owns the parse of untrusted configuration text: tokens, escapes,
 * heredocs, comments, nesting. It knows nothing of keyholdd's schema (that
 * is config.c). It must never recurse over its input: nesting is tracked on
 * an explicit stack of KH_CONFIG_DEPTH_MAX frames, and never read past len
 * (the text need not be NUL-terminated).
 *
 * Grammar (HCL mode): a body is a sequence of items, optionally separated
 * by commas; an item is `key = value` or `key label... { body }` where the
 * key is an identifier or a string and each label a string or identifier.
 * A value is a string ("..." with \" \\ \/ \b \f \n \r \t \uHHHH escapes,
 * or a heredoc <<EOF / <<-EOF), a number (-12, 3.5, 1e3), true/false, a
 * list [v, v,] (trailing comma allowed) or an object { body }. Comments:
 * #, // and C-style block comments (which do not nest).
 *
 * JSON mode is chosen when the first non-whitespace byte is '{': strict
 * JSON objects, `"key": value` members become items without labels, no
 * comments, heredocs or trailing commas.
 *
 * Invariants of the tree: every node and item carries the 1-based line and
 * byte column where it starts; strings are NUL-terminated and contain no
 * NUL byte; a labelled item always has an OBJECT value. All memory belongs
 * to the kh_hcl_doc and is wiped when it is freed (values may be secrets).
 */
#ifndef KH_CONFIG_HCL_H
#define KH_CONFIG_HCL_H

#include <stdbool.h>
#include <stddef.h>

enum kh_hcl_type {
    KH_HCL_STRING = 1,
    KH_HCL_NUMBER,
    KH_HCL_BOOL,
    KH_HCL_LIST,
    KH_HCL_OBJECT,
};

struct kh_hcl_item;

struct kh_hcl_node
{
    enum kh_hcl_type type;
    unsigned line;
    unsigned col;
    const char *text; /* STRING: decoded; NUMBER: the literal */
    size_t text_len;
    bool boolean;              /* BOOL */
    struct kh_hcl_node *elems; /* LIST: first element */
    struct kh_hcl_item *items; /* OBJECT: first item */
    size_t count;              /* LIST elements or OBJECT items */
    struct kh_hcl_node *next;  /* next list element, or next label */
};

/* One `key = value` or `key "label" { ... }` in an object. */
struct kh_hcl_item
{
    const char *key;
    unsigned line;
    unsigned col;
    struct kh_hcl_node *labels; /* STRING nodes chained by next, or NULL */
    size_t label_count;
    bool is_block;             /* written `key ... { }` rather than `=` */
    struct kh_hcl_node *value; /* never NULL */
    struct kh_hcl_item *next;
};

struct kh_hcl_doc;

/* Parse len bytes of text (HCL or JSON, see above). On success *ret_doc
 * owns the tree; free it with kh_hcl_free(). On failure returns KH_ECONFIG
 * with errmsg "filename:line:col: what was expected", or KH_ENOMEM.
 * Lengths above KH_CONFIG_FILE_BYTES_MAX, strings above
 * KH_CONFIG_STRING_BYTES_MAX and nesting deeper than KH_CONFIG_DEPTH_MAX
 * (the top-level body counts as depth 1) are errors. */
int kh_hcl_parse(const char *text, size_t len, const char *filename,
                 struct kh_hcl_doc **ret_doc, char *errmsg, size_t errmsg_size);

/* The top-level body: an OBJECT node. */
const struct kh_hcl_node *kh_hcl_root(const struct kh_hcl_doc *doc);

/* Whether the document was parsed as JSON. */
bool kh_hcl_is_json(const struct kh_hcl_doc *doc);

/* Wipe and free every node and string of doc; accepts NULL. */
void kh_hcl_free(struct kh_hcl_doc *doc);

#endif

/*
 * hcl.c - lexer and parser for configuration text (HCL subset and JSON).
 *
 * Owns turning bytes into the node tree of hcl.h and every syntax error
 * message, each with line and column. It must never recurse (containers
 * are frames on a fixed stack of KH_CONFIG_DEPTH_MAX), never read outside
 * [text, text + len), never keep a string longer than
 * KH_CONFIG_STRING_BYTES_MAX, and never free a value without wiping it:
 * every allocation lives in the document's chunk list, wiped on free.
 */
#include "config/hcl.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/assert.h"
#include "common/err.h"
#include "common/secret.h"
#include "config/limits.h"

/* One allocation of the document; data is zeroed and suitably aligned. */
struct hcl_chunk
{
    struct hcl_chunk *next;
    size_t size;
    max_align_t data[];
};

struct kh_hcl_doc
{
    struct hcl_chunk *chunks;
    struct kh_hcl_node *root;
    bool json;
};

enum tok_type {
    TOK_EOF = 1,
    TOK_IDENT,
    TOK_STRING,
    TOK_NUMBER,
    TOK_LBRACE,
    TOK_RBRACE,
    TOK_LBRACK,
    TOK_RBRACK,
    TOK_EQUAL,
    TOK_COLON,
    TOK_COMMA,
};

struct token
{
    enum tok_type type;
    unsigned line;
    unsigned col;
    const char *text; /* STRING: decoded in the doc; others: the input */
    size_t len;
};

/* Where a container is between its members. */
enum sep_state {
    SEP_FIRST,        /* just opened */
    SEP_AFTER_MEMBER, /* a member ended; ',' or the close may follow */
    SEP_AFTER_COMMA,
};

struct frame
{
    struct kh_hcl_node *node;
    struct kh_hcl_item *tail_item;
    struct kh_hcl_node *tail_elem;
    enum sep_state state;
};

struct parser
{
    const char *text;
    size_t len;
    size_t pos;
    unsigned line;
    unsigned col;
    bool json;
    bool done;
    struct kh_hcl_doc *doc;
    const char *filename;
    char *errmsg;
    size_t errmsg_size;
    struct frame stack[KH_CONFIG_DEPTH_MAX];
    size_t depth;
};

static int parse_error(struct parser *p, unsigned line, unsigned col,
                       const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int parse_error(struct parser *p, unsigned line, unsigned col,
                       const char *fmt, ...)
{
    char what[256];
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return kh_errmsg(p->errmsg, p->errmsg_size, KH_ECONFIG, "%s:%u:%u: %s",
                     p->filename, line, col, what);
}

static int parse_nomem(struct parser *p)
{
    return kh_errmsg(p->errmsg, p->errmsg_size, KH_ENOMEM,
                     "%s: out of memory while parsing", p->filename);
}

static void *doc_alloc(struct kh_hcl_doc *doc, size_t size)
{
    struct hcl_chunk *chunk;

    KH_ASSERT(doc != NULL);
    KH_ASSERT(size <= 2u * KH_CONFIG_FILE_BYTES_MAX);
    chunk = calloc(1, sizeof(*chunk) + size);
    if (chunk == NULL)
        return NULL;
    chunk->size = size;
    chunk->next = doc->chunks;
    doc->chunks = chunk;
    return chunk->data;
}

/* A NUL-terminated copy of len bytes, owned by doc. */
static char *doc_strndup(struct kh_hcl_doc *doc, const char *s, size_t len)
{
    char *copy = doc_alloc(doc, len + 1);

    if (copy != NULL && len > 0)
        memcpy(copy, s, len);
    return copy;
}

void kh_hcl_free(struct kh_hcl_doc *doc)
{
    struct hcl_chunk *chunk;
    struct hcl_chunk *next;

    if (doc == NULL)
        return;
    for (chunk = doc->chunks; chunk != NULL; chunk = next) {
        next = chunk->next;
        kh_free_secret(chunk, sizeof(*chunk) + chunk->size);
    }
    kh_free_secret(doc, sizeof(*doc));
}

const struct kh_hcl_node *kh_hcl_root(const struct kh_hcl_doc *doc)
{
    KH_ASSERT(doc != NULL);
    KH_ASSERT(doc->root != NULL);
    return doc->root;
}

bool kh_hcl_is_json(const struct kh_hcl_doc *doc)
{
    KH_ASSERT(doc != NULL);
    return doc->json;
}

/* ---- lexer ------------------------------------------------------------ */

static bool is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static bool is_ident_start(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_ident_char(int c)
{
    return is_ident_start(c) || is_digit(c) || c == '-' || c == '.';
}

static bool is_space(int c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* The byte at pos + k, or -1 past the end. */
static int peek(const struct parser *p, size_t k)
{
    if (k >= p->len - p->pos)
        return -1;
    return (unsigned char)p->text[p->pos + k];
}

static void advance(struct parser *p, size_t n)
{
    size_t i;

    KH_ASSERT(n <= p->len - p->pos);
    for (i = 0; i < n; i++) {
        if (p->text[p->pos] == '\n') {
            p->line++;
            p->col = 1;
        } else {
            p->col++;
        }
        p->pos++;
    }
}

static int skip_block_comment(struct parser *p)
{
    const char *end;

    KH_ASSERT(peek(p, 0) == '/');
    KH_ASSERT(peek(p, 1) == '*');
    end = memmem(p->text + p->pos + 2, p->len - p->pos - 2, "*/", 2);
    if (end == NULL)
        return parse_error(p, p->line, p->col, "unterminated /* comment");
    advance(p, (size_t)(end - (p->text + p->pos)) + 2);
    return 0;
}

/* Whitespace and (in HCL mode) comments. */
static int skip_space(struct parser *p)
{
    int c;
    int r;

    while (p->pos < p->len) {
        c = peek(p, 0);
        if (is_space(c)) {
            advance(p, 1);
        } else if (p->json) {
            break;
        } else if (c == '#' || (c == '/' && peek(p, 1) == '/')) {
            const char *eol = memchr(p->text + p->pos, '\n', p->len - p->pos);
            advance(p, eol == NULL ? p->len - p->pos
                                   : (size_t)(eol - (p->text + p->pos)));
        } else if (c == '/' && peek(p, 1) == '*') {
            r = skip_block_comment(p);
            if (r < 0)
                return r;
        } else {
            break;
        }
    }
    return 0;
}

static int hex_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Four hex digits at text[i..i+4), all before end. */
static bool hex4(const char *text, size_t i, size_t end, uint32_t *ret)
{
    uint32_t v = 0;
    size_t k;

    if (i > end || end - i < 4)
        return false;
    for (k = 0; k < 4; k++) {
        int h = hex_value((unsigned char)text[i + k]);

        if (h < 0)
            return false;
        v = v << 4 | (uint32_t)h;
    }
    *ret = v;
    return true;
}

static size_t utf8_encode(uint32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | cp >> 12);
        out[1] = (char)(0x80 | (cp >> 6 & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | cp >> 18);
    out[1] = (char)(0x80 | (cp >> 12 & 0x3f));
    out[2] = (char)(0x80 | (cp >> 6 & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* A \uHHHH escape (or a surrogate pair) at text[*i]; writes UTF-8 to out
 * (at most as many bytes as the escape consumed) and moves *i past it. */
static int decode_unicode(struct parser *p, const struct token *tok,
                          size_t quote, size_t *i, size_t end, char *out,
                          size_t *ret_n)
{
    unsigned col = tok->col + (unsigned)(*i - quote);
    uint32_t cp;
    uint32_t low;

    if (!hex4(p->text, *i + 2, end, &cp))
        return parse_error(p, tok->line, col,
                           "expected 4 hex digits after \\u");
    *i += 6;
    if (cp >= 0xdc00 && cp <= 0xdfff)
        return parse_error(p, tok->line, col, "unpaired surrogate \\u%04x",
                           (unsigned)cp);
    if (cp >= 0xd800 && cp <= 0xdbff) {
        if (end - *i < 6 || p->text[*i] != '\\' || p->text[*i + 1] != 'u' ||
            !hex4(p->text, *i + 2, end, &low) || low < 0xdc00 || low > 0xdfff)
            return parse_error(p, tok->line, col, "unpaired surrogate \\u%04x",
                               (unsigned)cp);
        *i += 6;
        cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
    }
    if (cp == 0)
        return parse_error(p, tok->line, col, "\\u0000 is not allowed");
    *ret_n = utf8_encode(cp, out);
    return 0;
}

static int escape_char(int e)
{
    switch (e) {
    case '"':
    case '\\':
    case '/':
        return e;
    case 'n':
        return '\n';
    case 't':
        return '\t';
    case 'r':
        return '\r';
    case 'b':
        return '\b';
    case 'f':
        return '\f';
    default:
        return -1;
    }
}

/* Decode text[quote+1 .. end) (end is the closing quote) into out. */
static int decode_string(struct parser *p, const struct token *tok,
                         size_t quote, size_t end, char *out, size_t *ret_len)
{
    size_t i = quote + 1;
    size_t n = 0;
    size_t w = 0;
    int c;
    int r;

    while (i < end) {
        if (p->text[i] != '\\') {
            out[n++] = p->text[i++];
            continue;
        }
        KH_ASSERT(i + 1 < end);
        if (p->text[i + 1] == 'u') {
            r = decode_unicode(p, tok, quote, &i, end, out + n, &w);
            if (r < 0)
                return r;
            n += w;
            continue;
        }
        c = escape_char((unsigned char)p->text[i + 1]);
        if (c < 0)
            return parse_error(p, tok->line, tok->col + (unsigned)(i - quote),
                               "invalid escape sequence in string");
        out[n++] = (char)c;
        i += 2;
    }
    *ret_len = n;
    return 0;
}

static int lex_string(struct parser *p, struct token *tok)
{
    size_t quote = p->pos;
    size_t end;
    size_t n = 0;
    char *out;
    int r;

    for (end = quote + 1; end < p->len; end++) {
        unsigned char c = (unsigned char)p->text[end];

        if (c == '"')
            break;
        if (c == '\\')
            end++;
        else if (c < 0x20)
            return parse_error(p, tok->line, tok->col + (unsigned)(end - quote),
                               c == '\n' ? "newline in string"
                                         : "control character in string");
    }
    if (end >= p->len)
        return parse_error(p, tok->line, tok->col, "unterminated string");
    out = doc_alloc(p->doc, end - quote);
    if (out == NULL)
        return parse_nomem(p);
    r = decode_string(p, tok, quote, end, out, &n);
    if (r < 0)
        return r;
    if (n > KH_CONFIG_STRING_BYTES_MAX)
        return parse_error(p, tok->line, tok->col,
                           "string longer than %u bytes",
                           KH_CONFIG_STRING_BYTES_MAX);
    tok->type = TOK_STRING;
    tok->text = out;
    tok->len = n;
    advance(p, end + 1 - quote);
    return 0;
}

/* Find the heredoc's closing line, starting at body. */
static bool heredoc_find_end(const struct parser *p, size_t body,
                             const char *marker, size_t marker_len, bool indent,
                             size_t *ret_close, size_t *ret_close_end)
{
    size_t line = body;

    while (line < p->len) {
        const char *eol = memchr(p->text + line, '\n', p->len - line);
        size_t line_end = eol == NULL ? p->len : (size_t)(eol - p->text);
        size_t a = line;
        size_t b = line_end;

        if (b > a && p->text[b - 1] == '\r')
            b--;
        while (indent && a < b && (p->text[a] == ' ' || p->text[a] == '\t'))
            a++;
        if (b - a == marker_len && memcmp(p->text + a, marker, b - a) == 0) {
            *ret_close = line;
            *ret_close_end = line_end;
            return true;
        }
        line = line_end + 1;
    }
    return false;
}

/* Copy text[body..close) to out; for <<- strip the closing line's
 * indentation from each line when every non-empty line has it (the rule of
 * HCL 1, which Vault uses). */
static size_t heredoc_copy(const struct parser *p, size_t body, size_t close,
                           bool indent, char *out)
{
    size_t prefix = 0;
    size_t n = 0;
    size_t line;
    bool strip = indent;

    while (close + prefix < p->len &&
           (p->text[close + prefix] == ' ' || p->text[close + prefix] == '\t'))
        prefix++;
    for (line = body; strip && line < close;) {
        const char *eol = memchr(p->text + line, '\n', close - line);
        size_t line_len = (size_t)(eol - (p->text + line)) + 1;

        KH_ASSERT(eol != NULL);
        if (line_len > 1 && (line_len <= prefix ||
                             memcmp(p->text + line, p->text + close, prefix)))
            strip = false;
        line += line_len;
    }
    for (line = body; line < close;) {
        const char *eol = memchr(p->text + line, '\n', close - line);
        size_t line_len = (size_t)(eol - (p->text + line)) + 1;
        size_t skip = strip && line_len > 1 ? prefix : 0;

        memcpy(out + n, p->text + line + skip, line_len - skip);
        n += line_len - skip;
        line += line_len;
    }
    return n;
}

static int lex_heredoc(struct parser *p, struct token *tok)
{
    size_t i = p->pos + 2;
    size_t marker;
    size_t close = 0;
    size_t close_end = 0;
    bool indent = false;
    char *out;

    if (i < p->len && p->text[i] == '-') {
        indent = true;
        i++;
    }
    marker = i;
    while (i < p->len && (is_ident_start(p->text[i]) || is_digit(p->text[i])))
        i++;
    if (i == marker)
        return parse_error(p, tok->line, tok->col,
                           "expected a heredoc marker after '<<'");
    if (i < p->len && p->text[i] == '\r')
        i++;
    if (i >= p->len || p->text[i] != '\n')
        return parse_error(p, tok->line, tok->col,
                           "expected a newline after the heredoc marker");
    if (!heredoc_find_end(p, i + 1, p->text + marker, i - marker, indent,
                          &close, &close_end))
        return parse_error(p, tok->line, tok->col,
                           "unterminated heredoc, expected a line \"%.*s\"",
                           (int)((i - marker) > 64 ? 64 : (i - marker)),
                           p->text + marker);
    if (close - (i + 1) > KH_CONFIG_STRING_BYTES_MAX)
        return parse_error(p, tok->line, tok->col,
                           "string longer than %u bytes",
                           KH_CONFIG_STRING_BYTES_MAX);
    if (memchr(p->text + i + 1, '\0', close - (i + 1)) != NULL)
        return parse_error(p, tok->line, tok->col, "NUL byte in heredoc");
    out = doc_alloc(p->doc, close - (i + 1) + 1);
    if (out == NULL)
        return parse_nomem(p);
    tok->type = TOK_STRING;
    tok->text = out;
    tok->len = heredoc_copy(p, i + 1, close, indent, out);
    advance(p, close_end - p->pos);
    return 0;
}

static size_t skip_digits(const struct parser *p, size_t i)
{
    while (i < p->len && is_digit((unsigned char)p->text[i]))
        i++;
    return i;
}

/* -?digits(.digits)?([eE][+-]?digits)? not followed by an identifier. */
static int lex_number(struct parser *p, struct token *tok)
{
    size_t i = p->pos;
    size_t start;

    if (p->text[i] == '-')
        i++;
    start = i;
    i = skip_digits(p, i);
    if (i == start)
        goto bad;
    if (i < p->len && p->text[i] == '.') {
        start = ++i;
        i = skip_digits(p, i);
        if (i == start)
            goto bad;
    }
    if (i < p->len && (p->text[i] == 'e' || p->text[i] == 'E')) {
        i++;
        if (i < p->len && (p->text[i] == '+' || p->text[i] == '-'))
            i++;
        start = i;
        i = skip_digits(p, i);
        if (i == start)
            goto bad;
    }
    if (i < p->len && is_ident_char((unsigned char)p->text[i]))
        goto bad;
    tok->type = TOK_NUMBER;
    tok->text = p->text + p->pos;
    tok->len = i - p->pos;
    advance(p, i - p->pos);
    return 0;
bad:
    return parse_error(p, tok->line, tok->col, "malformed number");
}

static int lex_ident(struct parser *p, struct token *tok)
{
    size_t i = p->pos;

    while (i < p->len && is_ident_char((unsigned char)p->text[i]))
        i++;
    tok->type = TOK_IDENT;
    tok->text = p->text + p->pos;
    tok->len = i - p->pos;
    advance(p, i - p->pos);
    return 0;
}

static enum tok_type punct_type(int c)
{
    switch (c) {
    case '{':
        return TOK_LBRACE;
    case '}':
        return TOK_RBRACE;
    case '[':
        return TOK_LBRACK;
    case ']':
        return TOK_RBRACK;
    case '=':
        return TOK_EQUAL;
    case ':':
        return TOK_COLON;
    case ',':
        return TOK_COMMA;
    default:
        return TOK_EOF;
    }
}

static int lex_next(struct parser *p, struct token *tok)
{
    int c;
    int r;

    r = skip_space(p);
    if (r < 0)
        return r;
    memset(tok, 0, sizeof(*tok));
    tok->line = p->line;
    tok->col = p->col;
    tok->type = TOK_EOF;
    c = peek(p, 0);
    if (c < 0)
        return 0;
    if (punct_type(c) != TOK_EOF) {
        tok->type = punct_type(c);
        advance(p, 1);
        return 0;
    }
    if (c == '"')
        return lex_string(p, tok);
    if (c == '<' && peek(p, 1) == '<' && !p->json)
        return lex_heredoc(p, tok);
    if (c == '-' || is_digit(c))
        return lex_number(p, tok);
    if (is_ident_start(c))
        return lex_ident(p, tok);
    if (c >= 0x21 && c < 0x7f)
        return parse_error(p, tok->line, tok->col, "unexpected character '%c'",
                           c);
    return parse_error(p, tok->line, tok->col, "unexpected byte 0x%02x",
                       (unsigned)c);
}

/* ---- parser ----------------------------------------------------------- */

static int unexpected(struct parser *p, const struct token *tok,
                      const char *expected)
{
    static const char *const names[] = {
        [TOK_EOF] = "end of file", [TOK_STRING] = "string",
        [TOK_NUMBER] = "number",   [TOK_LBRACE] = "'{'",
        [TOK_RBRACE] = "'}'",      [TOK_LBRACK] = "'['",
        [TOK_RBRACK] = "']'",      [TOK_EQUAL] = "'='",
        [TOK_COLON] = "':'",       [TOK_COMMA] = "','",
    };

    KH_ASSERT((size_t)tok->type < KH_ARRAY_LEN(names));
    if (tok->type == TOK_IDENT)
        return parse_error(p, tok->line, tok->col,
                           "unexpected identifier \"%.*s\", expected %s",
                           (int)(tok->len > 64 ? 64 : tok->len), tok->text,
                           expected);
    return parse_error(p, tok->line, tok->col, "unexpected %s, expected %s",
                       names[tok->type], expected);
}

static struct kh_hcl_node *new_node(struct parser *p, enum kh_hcl_type type,
                                    const struct token *tok)
{
    struct kh_hcl_node *node = doc_alloc(p->doc, sizeof(*node));

    if (node == NULL)
        return NULL;
    node->type = type;
    node->line = tok->line;
    node->col = tok->col;
    return node;
}

static int push(struct parser *p, struct kh_hcl_node *node)
{
    struct frame *f;

    KH_ASSERT(node->type == KH_HCL_OBJECT || node->type == KH_HCL_LIST);
    if (p->depth == KH_CONFIG_DEPTH_MAX)
        return parse_error(p, node->line, node->col,
                           "nesting deeper than %d levels",
                           KH_CONFIG_DEPTH_MAX);
    f = &p->stack[p->depth++];
    memset(f, 0, sizeof(*f));
    f->node = node;
    f->state = SEP_FIRST;
    return 0;
}

/* Make the value starting at tok; containers are pushed to be filled. */
static int parse_value(struct parser *p, const struct token *tok,
                       struct kh_hcl_node **ret_node)
{
    static const enum kh_hcl_type types[] = {
        [TOK_STRING] = KH_HCL_STRING, [TOK_NUMBER] = KH_HCL_NUMBER,
        [TOK_IDENT] = KH_HCL_BOOL,    [TOK_LBRACE] = KH_HCL_OBJECT,
        [TOK_LBRACK] = KH_HCL_LIST,
    };
    struct kh_hcl_node *node;
    bool is_bool = tok->type == TOK_IDENT &&
                   ((tok->len == 4 && memcmp(tok->text, "true", 4) == 0) ||
                    (tok->len == 5 && memcmp(tok->text, "false", 5) == 0));

    if ((size_t)tok->type >= KH_ARRAY_LEN(types) || types[tok->type] == 0 ||
        (tok->type == TOK_IDENT && !is_bool))
        return unexpected(p, tok, "a value");
    node = new_node(p, types[tok->type], tok);
    if (node == NULL)
        return parse_nomem(p);
    if (tok->type == TOK_STRING) {
        node->text = tok->text;
        node->text_len = tok->len;
    } else if (tok->type == TOK_NUMBER) {
        node->text = doc_strndup(p->doc, tok->text, tok->len);
        node->text_len = tok->len;
        if (node->text == NULL)
            return parse_nomem(p);
    }
    node->boolean = is_bool && tok->len == 4;
    *ret_node = node;
    if (tok->type == TOK_LBRACE || tok->type == TOK_LBRACK)
        return push(p, node);
    return 0;
}

static void frame_add_item(struct frame *f, struct kh_hcl_item *item)
{
    if (f->tail_item == NULL)
        f->node->items = item;
    else
        f->tail_item->next = item;
    f->tail_item = item;
    f->node->count++;
    f->state = SEP_AFTER_MEMBER;
}

static int add_label(struct parser *p, struct kh_hcl_item *item,
                     struct kh_hcl_node **tail, const struct token *tok)
{
    struct kh_hcl_node *label = new_node(p, KH_HCL_STRING, tok);

    if (label == NULL)
        return parse_nomem(p);
    label->text_len = tok->len;
    label->text = tok->type == TOK_STRING
                      ? tok->text
                      : doc_strndup(p->doc, tok->text, tok->len);
    if (label->text == NULL)
        return parse_nomem(p);
    if (*tail == NULL)
        item->labels = label;
    else
        (*tail)->next = label;
    *tail = label;
    item->label_count++;
    return 0;
}

/* key [labels] (= value | { body }), key already read into tok. */
static int parse_item(struct parser *p, struct frame *f,
                      const struct token *key)
{
    struct kh_hcl_item *item = doc_alloc(p->doc, sizeof(*item));
    struct kh_hcl_node *tail = NULL;
    struct token tok;
    int r;

    if (item == NULL)
        return parse_nomem(p);
    item->line = key->line;
    item->col = key->col;
    item->key = key->type == TOK_STRING
                    ? key->text
                    : doc_strndup(p->doc, key->text, key->len);
    if (item->key == NULL)
        return parse_nomem(p);
    for (;;) { /* each label consumes input, so this ends */
        r = lex_next(p, &tok);
        if (r < 0)
            return r;
        if (p->json || (tok.type != TOK_STRING && tok.type != TOK_IDENT))
            break;
        r = add_label(p, item, &tail, &tok);
        if (r < 0)
            return r;
    }
    frame_add_item(f, item);
    if (tok.type == TOK_LBRACE && !p->json) {
        item->is_block = true;
        return parse_value(p, &tok, &item->value);
    }
    if (tok.type != (p->json ? TOK_COLON : TOK_EQUAL))
        return unexpected(p, &tok, p->json ? "':'" : "'=' or '{'");
    if (item->label_count > 0)
        return unexpected(p, &tok, "'{' after block labels");
    r = lex_next(p, &tok);
    if (r < 0)
        return r;
    return parse_value(p, &tok, &item->value);
}

static int object_step(struct parser *p, struct frame *f,
                       const struct token *tok)
{
    bool root = p->depth == 1;

    switch (tok->type) {
    case TOK_COMMA:
        if (f->state != SEP_AFTER_MEMBER)
            return unexpected(p, tok, "a key");
        f->state = SEP_AFTER_COMMA;
        return 0;
    case TOK_RBRACE:
        if (root && !p->json)
            return unexpected(p, tok, "a key");
        if (p->json && f->state == SEP_AFTER_COMMA)
            return unexpected(p, tok, "a key after ','");
        p->depth--;
        return 0;
    case TOK_EOF:
        if (root && !p->json) {
            p->done = true;
            return 0;
        }
        return unexpected(p, tok, "'}'");
    case TOK_STRING:
    case TOK_IDENT:
        if (p->json && tok->type != TOK_STRING)
            return unexpected(p, tok, "a string key");
        if (p->json && f->state == SEP_AFTER_MEMBER)
            return unexpected(p, tok, "',' or '}'");
        return parse_item(p, f, tok);
    default:
        return unexpected(p, tok, "a key");
    }
}

static int list_step(struct parser *p, struct frame *f, const struct token *tok)
{
    struct kh_hcl_node *node = NULL;
    int r;

    switch (tok->type) {
    case TOK_RBRACK:
        if (p->json && f->state == SEP_AFTER_COMMA)
            return unexpected(p, tok, "a value after ','");
        p->depth--;
        return 0;
    case TOK_COMMA:
        if (f->state != SEP_AFTER_MEMBER)
            return unexpected(p, tok, "a value");
        f->state = SEP_AFTER_COMMA;
        return 0;
    default:
        if (f->state == SEP_AFTER_MEMBER)
            return unexpected(p, tok, "',' or ']'");
        r = parse_value(p, tok, &node);
        if (r < 0)
            return r;
        if (f->tail_elem == NULL)
            f->node->elems = node;
        else
            f->tail_elem->next = node;
        f->tail_elem = node;
        f->node->count++;
        f->state = SEP_AFTER_MEMBER;
        return 0;
    }
}

static int parse_document(struct parser *p)
{
    struct token tok = {.type = TOK_EOF, .line = 1, .col = 1};
    size_t step;
    int r;

    if (p->json) {
        r = lex_next(p, &tok);
        if (r < 0)
            return r;
        KH_ASSERT(tok.type == TOK_LBRACE);
    }
    p->doc->root = new_node(p, KH_HCL_OBJECT, &tok);
    if (p->doc->root == NULL)
        return parse_nomem(p);
    r = push(p, p->doc->root);
    if (r < 0)
        return r;
    /* Every step consumes at least one token, and EOF ends the loop. */
    for (step = 0; step <= p->len + 1 && !p->done; step++) {
        r = lex_next(p, &tok);
        if (r < 0)
            return r;
        if (p->depth == 0) {
            if (tok.type != TOK_EOF)
                return unexpected(p, &tok, "end of file after the object");
            p->done = true;
        } else if (p->stack[p->depth - 1].node->type == KH_HCL_OBJECT) {
            r = object_step(p, &p->stack[p->depth - 1], &tok);
        } else {
            r = list_step(p, &p->stack[p->depth - 1], &tok);
        }
        if (r < 0)
            return r;
    }
    if (!p->done)
        return kh_errmsg(p->errmsg, p->errmsg_size, KH_EINTERNAL,
                         "%s: parser did not reach the end", p->filename);
    return 0;
}

static bool detect_json(const char *text, size_t len)
{
    size_t i = 0;

    while (i < len && is_space((unsigned char)text[i]))
        i++;
    return i < len && text[i] == '{';
}

int kh_hcl_parse(const char *text, size_t len, const char *filename,
                 struct kh_hcl_doc **ret_doc, char *errmsg, size_t errmsg_size)
{
    struct kh_hcl_doc *doc = NULL;
    struct parser *p = NULL;
    int r = KH_EINTERNAL;

    KH_ASSERT(ret_doc != NULL);
    KH_ASSERT(text != NULL || len == 0);
    if (filename == NULL)
        filename = "<config>";
    if (len > KH_CONFIG_FILE_BYTES_MAX) {
        r = kh_errmsg(errmsg, errmsg_size, KH_ECONFIG,
                      "%s: file is larger than %u bytes", filename,
                      KH_CONFIG_FILE_BYTES_MAX);
        goto out;
    }
    doc = calloc(1, sizeof(*doc));
    p = calloc(1, sizeof(*p));
    if (doc == NULL || p == NULL) {
        r = kh_errmsg(errmsg, errmsg_size, KH_ENOMEM, "%s: out of memory",
                      filename);
        goto out;
    }
    *p = (struct parser){.text = text,
                         .len = len,
                         .line = 1,
                         .col = 1,
                         .json = detect_json(text, len),
                         .doc = doc,
                         .filename = filename,
                         .errmsg = errmsg,
                         .errmsg_size = errmsg_size};
    doc->json = p->json;
    r = parse_document(p);
    if (r < 0)
        goto out;
    KH_ASSERT(doc->root != NULL);
    *ret_doc = doc;
    doc = NULL;
    r = 0; /* success */
out:
    free(p);
    kh_hcl_free(doc);
    return r;
}

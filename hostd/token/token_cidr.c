/*
 * token_cidr.c - bound CIDRs of a token (token_bound_cidrs, the Vault HTTP API
 * §5): parsing "10.0.0.0/8", "192.168.1.7", "fd00::/8" and "::1", and
 * deciding whether a client address lies in one of them.
 *
 * Owns only text-to-prefix parsing with inet_pton and a bitwise prefix
 * compare; it never resolves names. An IPv4-mapped IPv6 client address
 * (::ffff:a.b.c.d, what a dual-stack listener reports) is matched as the
 * IPv4 address it carries. Malformed text never matches.
 */
#include <arpa/inet.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>

#include "token/token_internal.h"

struct cidr
{
    int family; /* AF_INET or AF_INET6 */
    uint8_t addr[16];
    unsigned bits;
};

static bool addr_parse(const char *text, struct cidr *ret)
{
    memset(ret, 0, sizeof(*ret));
    if (inet_pton(AF_INET, text, ret->addr) == 1) {
        ret->family = AF_INET;
        ret->bits = 32;
        return true;
    }
    if (inet_pton(AF_INET6, text, ret->addr) == 1) {
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0,    0,
                                           0, 0, 0, 0, 0xff, 0xff};
        ret->family = AF_INET6;
        ret->bits = 128;
        if (memcmp(ret->addr, mapped, sizeof(mapped)) == 0) {
            memmove(ret->addr, ret->addr + 12, 4);
            memset(ret->addr + 4, 0, 12);
            ret->family = AF_INET;
            ret->bits = 32;
        }
        return true;
    }
    return false;
}

static bool cidr_parse(const char *text, struct cidr *ret)
{
    char host[TOKEN_CIDR_BYTES_MAX];
    const char *slash = strchr(text, '/');
    size_t host_len = slash != NULL ? (size_t)(slash - text) : strlen(text);
    unsigned long bits;
    char *end = NULL;

    if (host_len == 0 || host_len >= sizeof(host))
        return false;
    memcpy(host, text, host_len);
    host[host_len] = '\0';
    if (!addr_parse(host, ret))
        return false;
    if (slash == NULL)
        return true;
    if (slash[1] < '0' || slash[1] > '9' || strlen(slash + 1) > 3)
        return false;
    bits = strtoul(slash + 1, &end, 10);
    if (*end != '\0' || bits > ret->bits)
        return false;
    ret->bits = (unsigned)bits;
    return true;
}

bool token_cidr_valid(const char *cidr)
{
    struct cidr c;

    return cidr != NULL && strlen(cidr) < TOKEN_CIDR_BYTES_MAX &&
           cidr_parse(cidr, &c);
}

static bool cidr_contains(const struct cidr *net, const struct cidr *addr)
{
    unsigned full = net->bits / 8, rest = net->bits % 8;

    if (net->family != addr->family)
        return false;
    if (memcmp(net->addr, addr->addr, full) != 0)
        return false;
    if (rest == 0)
        return true;
    return ((net->addr[full] ^ addr->addr[full]) &
            (uint8_t)(0xff << (8 - rest))) == 0;
}

bool token_entry_cidr_ok(const struct token_entry *e, const char *remote_addr)
{
    struct cidr addr, net;
    size_t i;

    KH_ASSERT(e != NULL);
    KH_ASSERT(e->bound_cidr_count <= TOKEN_BOUND_CIDRS_MAX);
    if (e->bound_cidr_count == 0)
        return true;
    if (remote_addr == NULL || !addr_parse(remote_addr, &addr))
        return false;
    for (i = 0; i < e->bound_cidr_count; i++) {
        if (cidr_parse(e->bound_cidrs[i], &net) && cidr_contains(&net, &addr))
            return true;
    }
    return false;
}

// test_posh_dns.c: which addresses the POSH fetcher may connect to (router/posh_dns.c): a peer
// picks the domain, so only globally routable unicast addresses pass by default.
#include <arpa/inet.h>
#include <string.h>

#include "router/posh_dns.h"
#include "tests/support/t.h"

static bool global(const char *text) {
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    if (strchr(text, ':') != NULL) {
        ss.ss_family = AF_INET6;
        T_ASSERT(inet_pton(AF_INET6, text, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1);
    } else {
        ss.ss_family = AF_INET;
        T_ASSERT(inet_pton(AF_INET, text, &((struct sockaddr_in *)&ss)->sin_addr) == 1);
    }
    return rt_posh_dns_global_addr(&ss);
}

int main(void) {
    static const char *const refused[] = {
        "0.0.0.0",        "10.1.2.3",         "127.0.0.1",       "100.64.0.1",
        "169.254.1.1",    "172.16.0.1",       "172.31.255.255",  "192.168.1.1",
        "192.0.2.1",      "198.18.0.1",       "198.51.100.7",    "203.0.113.9",
        "224.0.0.1",      "255.255.255.255",  "::",              "::1",
        "fe80::1",        "fc00::1",          "fd12:3456::1",    "ff02::1",
        "2001:db8::1",    "::ffff:127.0.0.1", "::ffff:10.0.0.1", "2002:7f00:1::1",
        "2002:c0a8:101::1", "2001:0:4136:e378::1", "64:ff9b::7f00:1",
    };
    static const char *const allowed[] = {
        "8.8.8.8",        "1.1.1.1",          "172.32.0.1",      "100.128.0.1",
        "2a00:1450::1",   "2606:4700::1111",  "::ffff:8.8.8.8",  "2002:808:808::1",
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        if (global(refused[i])) {
            fprintf(stderr, "%s must not count as global\n", refused[i]);
            return 1;
        }
    }
    for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
        if (!global(allowed[i])) {
            fprintf(stderr, "%s must count as global\n", allowed[i]);
            return 1;
        }
    }
    struct sockaddr_storage unix_sa = {.ss_family = AF_UNIX};
    T_ASSERT(!rt_posh_dns_global_addr(&unix_sa));
    return 0;
}

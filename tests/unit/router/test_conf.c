// test_conf: the configuration loader (router/conf.h): a full config into every field, defaults,
// one case per error class with its line number, domain normalisation, rt_conf_domain lookups,
// the random dialback secret and the shipped sample config.
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "router/conf.h"
#include "router/core/log.h"
#include "tests/support/t.h"

static char g_dir[PATH_MAX]; // absolute, resolved temp directory
static unsigned g_seq;

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    T_ASSERT(f != NULL);
    T_ASSERT(fputs(text, f) >= 0);
    T_ASSERT(fclose(f) == 0);
}

static void dir_file(char *out, size_t out_len, const char *name) {
    int n = snprintf(out, out_len, "%s/%s", g_dir, name);
    T_ASSERT(n > 0 && (size_t)n < out_len);
}

// write_conf writes |text| to a fresh file in the temp directory; |path| receives its name.
static void write_conf(char *path, size_t path_len, const char *text) {
    char name[32];
    snprintf(name, sizeof(name), "c%u.conf", g_seq++);
    dir_file(path, path_len, name);
    write_file(path, text);
}

static rt_conf_t *load_ok(const char *text) {
    char path[PATH_MAX + 32];
    char err[512];
    rt_conf_t *conf = NULL;
    write_conf(path, sizeof(path), text);
    rc_t rc = rt_conf_load(path, &conf, err, sizeof(err));
    if (rc != RC_OK) {
        fprintf(stderr, "unexpected error: %s\nconfig:\n%s\n", err, text);
    }
    T_ASSERT_EQ(rc, RC_OK);
    T_ASSERT(conf != NULL);
    return conf;
}

// load_err asserts that |text| fails with RC_CONF and a message "<path>:<line>: ..." containing
// |needle|.
static void load_err(const char *text, unsigned line, const char *needle) {
    char path[PATH_MAX + 32];
    char err[512];
    char prefix[PATH_MAX + 64];
    rt_conf_t *conf = (rt_conf_t *)(uintptr_t)1;
    write_conf(path, sizeof(path), text);
    rc_t rc = rt_conf_load(path, &conf, err, sizeof(err));
    snprintf(prefix, sizeof(prefix), "%s:%u: ", path, line);
    if (rc != RC_CONF || strncmp(err, prefix, strlen(prefix)) != 0 ||
        strstr(err, needle) == NULL) {
        fprintf(stderr, "config:\n%s\nwant \"%s...%s\", got rc=%d \"%s\"\n", text, prefix, needle,
                rc, err);
    }
    T_ASSERT_EQ(rc, RC_CONF);
    T_ASSERT(conf == NULL);
    T_ASSERT(strncmp(err, prefix, strlen(prefix)) == 0);
    T_ASSERT(strstr(err, needle) != NULL);
}

static void assert_addr4(const rt_conf_addr_t *a, const char *ip, uint16_t port, const char *text) {
    const struct sockaddr_in *sin = (const struct sockaddr_in *)&a->sa;
    struct in_addr want;
    T_ASSERT_EQ(inet_pton(AF_INET, ip, &want), 1);
    T_ASSERT_EQ(sin->sin_family, AF_INET);
    T_ASSERT_EQ(a->sa_len, sizeof(struct sockaddr_in));
    T_ASSERT_EQ(ntohs(sin->sin_port), port);
    T_ASSERT(sin->sin_addr.s_addr == want.s_addr);
    T_ASSERT_STREQ(a->text, text);
}

static void assert_addr6(const rt_conf_addr_t *a, const char *ip, uint16_t port, const char *text) {
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&a->sa;
    struct in6_addr want;
    T_ASSERT_EQ(inet_pton(AF_INET6, ip, &want), 1);
    T_ASSERT_EQ(sin6->sin6_family, AF_INET6);
    T_ASSERT_EQ(a->sa_len, sizeof(struct sockaddr_in6));
    T_ASSERT_EQ(ntohs(sin6->sin6_port), port);
    T_ASSERT(memcmp(&sin6->sin6_addr, &want, sizeof(want)) == 0);
    T_ASSERT_STREQ(a->text, text);
}

static bool is_hex64(const char *s) {
    if (s == NULL || strlen(s) != 64) {
        return false;
    }
    for (size_t i = 0; i < 64; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
            return false;
        }
    }
    return true;
}

static void test_full(void) {
    char text[PATH_MAX + 4096];
    char abs_b[PATH_MAX + 32];
    char want[PATH_MAX + 32];
    dir_file(abs_b, sizeof(abs_b), "b.pem");
    int n = snprintf(text, sizeof(text),
             "workers = 3;\n"
             "log_level = \"debug\";\n"
             "s2s = {\n"
             "  listen = [ \"127.0.0.1:5269\", \"[::1]:5270\" ];\n"
             "  listen_tls = [ \"127.0.0.2:5223\" ];\n"
             "  require_tls = false;\n"
             "  ca_file = \"ca.pem\";\n"
             "  dialback_secret = \"s3cret\";\n"
             "  resolver = \"127.0.0.1:53,[::1]:5353\";\n"
             "  cn_fallback = true;\n"
             "  auth_timeout = 31;\n"
             "  connect_timeout = 11;\n"
             "  stanza_timeout = 61;\n"
             "  idle_timeout = 601;\n"
             "  max_unauth_per_ip = 17;\n"
             "  max_stanza_size = 300000;\n"
             "  max_queue_bytes = 5000000;\n"
             "};\n"
             "components = { listen = [ \"127.0.0.1:5347\", \"[2001:db8::1]:5348\" ]; "
             "auth_timeout = 12; };\n"
             "metrics = { listen = \"127.0.0.1:9269\"; };\n"
             "certificates = (\n"
             "  { cert = \"a.pem\"; key = \"a.key\"; domains = [ \"A.Example.\", \"b.example\" ]; },\n"
             "  { cert = \"%s\"; key = \"sub/b.key\"; domains = [ \"zeta.example\", "
             "\"a.example\" ]; }\n"
             ");\n"
             "domains = (\n"
             "  { name = \"zeta.example\"; secret = \"z secret\"; },\n"
             "  { name = \"A.EXAMPLE\"; secret = \"a secret\"; },\n"
             "  { name = \"B\xc3\xbc" "cher.example\"; secret = \"b secret\"; }\n"
             ");\n"
             "routes = (\n"
             "  { domain = \"Remote.Example.\"; host = \"127.0.0.2\"; port = 5270; direct_tls = true; },\n"
             "  { domain = \"r2.example\"; host = \"Relay.Example\"; },\n"
             "  { domain = \"r3.example\"; host = \"::1\"; }\n"
             ");\n",
             abs_b);
    T_ASSERT(n > 0 && (size_t)n < sizeof(text));
    rt_conf_t *c = load_ok(text);

    T_ASSERT_EQ(c->workers, 3);
    T_ASSERT_EQ(c->log_level, CORE_LOG_DEBUG);
    T_ASSERT_EQ(c->num_s2s_listen, 2);
    assert_addr4(&c->s2s_listen[0], "127.0.0.1", 5269, "127.0.0.1:5269");
    assert_addr6(&c->s2s_listen[1], "::1", 5270, "[::1]:5270");
    T_ASSERT_EQ(c->num_s2s_listen_tls, 1);
    assert_addr4(&c->s2s_listen_tls[0], "127.0.0.2", 5223, "127.0.0.2:5223");
    T_ASSERT(!c->require_tls);
    dir_file(want, sizeof(want), "ca.pem");
    T_ASSERT_STREQ(c->ca_file, want);
    T_ASSERT_STREQ(c->dialback_secret, "s3cret");
    T_ASSERT_STREQ(c->resolver, "127.0.0.1:53,[::1]:5353");
    T_ASSERT(c->cn_fallback);
    T_ASSERT_EQ(c->auth_timeout_s, 31);
    T_ASSERT_EQ(c->connect_timeout_s, 11);
    T_ASSERT_EQ(c->stanza_timeout_s, 61);
    T_ASSERT_EQ(c->idle_timeout_s, 601);
    T_ASSERT_EQ(c->max_unauth_per_ip, 17);
    T_ASSERT_EQ(c->max_stanza_size, 300000);
    T_ASSERT_EQ(c->max_queue_bytes, 5000000);

    T_ASSERT_EQ(c->num_comp_listen, 2);
    assert_addr4(&c->comp_listen[0], "127.0.0.1", 5347, "127.0.0.1:5347");
    assert_addr6(&c->comp_listen[1], "2001:db8::1", 5348, "[2001:db8::1]:5348");
    T_ASSERT_EQ(c->comp_auth_timeout_s, 12);

    T_ASSERT(c->metrics_enabled);
    assert_addr4(&c->metrics_listen, "127.0.0.1", 9269, "127.0.0.1:9269");

    T_ASSERT_EQ(c->num_certs, 2);
    dir_file(want, sizeof(want), "a.pem");
    T_ASSERT_STREQ(c->certs[0].cert_file, want);
    dir_file(want, sizeof(want), "a.key");
    T_ASSERT_STREQ(c->certs[0].key_file, want);
    T_ASSERT_EQ(c->certs[0].num_domains, 2);
    T_ASSERT_STREQ(c->certs[0].domains[0], "a.example");
    T_ASSERT_STREQ(c->certs[0].domains[1], "b.example");
    T_ASSERT_STREQ(c->certs[1].cert_file, abs_b); // absolute: kept
    dir_file(want, sizeof(want), "sub/b.key");
    T_ASSERT_STREQ(c->certs[1].key_file, want);
    T_ASSERT_EQ(c->certs[1].num_domains, 2);
    T_ASSERT_STREQ(c->certs[1].domains[0], "zeta.example");
    T_ASSERT_STREQ(c->certs[1].domains[1], "a.example");

    // Sorted by name; a.example is named by both certificates: the first one serves it.
    T_ASSERT_EQ(c->num_domains, 3);
    T_ASSERT_STREQ(c->domains[0].name, "a.example");
    T_ASSERT_STREQ(c->domains[0].secret, "a secret");
    T_ASSERT_EQ(c->domains[0].cert_idx, 0);
    T_ASSERT_STREQ(c->domains[1].name, "xn--bcher-kva.example");
    T_ASSERT_STREQ(c->domains[1].secret, "b secret");
    T_ASSERT(c->domains[1].cert_idx == SIZE_MAX);
    T_ASSERT_STREQ(c->domains[2].name, "zeta.example");
    T_ASSERT_STREQ(c->domains[2].secret, "z secret");
    T_ASSERT_EQ(c->domains[2].cert_idx, 1);

    T_ASSERT_EQ(c->num_routes, 3);
    T_ASSERT_STREQ(c->routes[0].domain, "remote.example");
    T_ASSERT_STREQ(c->routes[0].host, "127.0.0.2");
    T_ASSERT_EQ(c->routes[0].port, 5270);
    T_ASSERT(c->routes[0].direct_tls);
    T_ASSERT_STREQ(c->routes[1].domain, "r2.example");
    T_ASSERT_STREQ(c->routes[1].host, "relay.example");
    T_ASSERT_EQ(c->routes[1].port, 5269);
    T_ASSERT(!c->routes[1].direct_tls);
    T_ASSERT_STREQ(c->routes[2].host, "::1");

    // rt_conf_domain: binary search over A-labels.
    T_ASSERT(rt_conf_domain(c, "a.example") == &c->domains[0]);
    T_ASSERT(rt_conf_domain(c, "xn--bcher-kva.example") == &c->domains[1]);
    T_ASSERT(rt_conf_domain(c, "zeta.example") == &c->domains[2]);
    T_ASSERT(rt_conf_domain(c, "b.example") == NULL);
    T_ASSERT(rt_conf_domain(c, "A.EXAMPLE") == NULL); // callers pass A-labels
    T_ASSERT(rt_conf_domain(c, "") == NULL);
    T_ASSERT(rt_conf_domain(c, "zzz.example") == NULL);
    rt_conf_free(c);
}

static void test_defaults(void) {
    rt_conf_t *c = load_ok("# nothing set\n");
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    long want_workers = cpus < 1 ? 1 : cpus > 64 ? 64 : cpus;
    T_ASSERT_EQ(c->workers, want_workers);
    T_ASSERT_EQ(c->log_level, CORE_LOG_INFO);
    T_ASSERT_EQ(c->num_s2s_listen, 0);
    T_ASSERT_EQ(c->num_s2s_listen_tls, 0);
    T_ASSERT(c->require_tls);
    T_ASSERT(c->ca_file == NULL);
    T_ASSERT(is_hex64(c->dialback_secret));
    T_ASSERT(c->resolver == NULL);
    T_ASSERT(!c->cn_fallback);
    T_ASSERT_EQ(c->auth_timeout_s, 30);
    T_ASSERT_EQ(c->connect_timeout_s, 10);
    T_ASSERT_EQ(c->stanza_timeout_s, 60);
    T_ASSERT_EQ(c->idle_timeout_s, 600);
    T_ASSERT_EQ(c->max_unauth_per_ip, 16);
    T_ASSERT_EQ(c->max_stanza_size, 262144);
    T_ASSERT_EQ(c->max_queue_bytes, 4194304);
    T_ASSERT_EQ(c->num_comp_listen, 0);
    T_ASSERT_EQ(c->comp_auth_timeout_s, 10);
    T_ASSERT(!c->metrics_enabled);
    T_ASSERT_EQ(c->num_certs, 0);
    T_ASSERT_EQ(c->num_domains, 0);
    T_ASSERT_EQ(c->num_routes, 0);
    T_ASSERT(rt_conf_domain(c, "a.example") == NULL);
    rt_conf_free(c);

    // Present but empty groups and lists also give the defaults.
    c = load_ok("s2s = {};\ncomponents = {};\ncertificates = ();\ndomains = ();\nroutes = [];\n");
    T_ASSERT(c->require_tls);
    T_ASSERT_EQ(c->auth_timeout_s, 30);
    T_ASSERT_EQ(c->comp_auth_timeout_s, 10);
    T_ASSERT_EQ(c->num_domains, 0);
    rt_conf_free(c);
}

static void test_random_secret(void) {
    rt_conf_t *a = load_ok("s2s = { require_tls = true; };\n");
    rt_conf_t *b = load_ok("s2s = { require_tls = true; };\n");
    T_ASSERT(is_hex64(a->dialback_secret));
    T_ASSERT(is_hex64(b->dialback_secret));
    T_ASSERT(strcmp(a->dialback_secret, b->dialback_secret) != 0);
    rt_conf_free(a);
    rt_conf_free(b);
}

static void test_errors(void) {
    // Syntax error (libconfig's own report).
    load_err("workers = 2;\nlog_level = ;\n", 2, "syntax error");
    load_err("workers = 2;\nworkers = 3;\n", 2, "duplicate");
    // Unknown keys at every level.
    load_err("workers = 2;\nfoo = 1;\n", 2, "unknown key 'foo'");
    load_err("s2s = {\n  require_tls = true;\n  bogus = 1;\n};\n", 3, "unknown key 'bogus' in s2s");
    load_err("metrics = {\n  listen = \"127.0.0.1:9269\";\n  path = \"/m\";\n};\n", 3,
             "unknown key 'path'");
    load_err("domains = (\n  { name = \"a.example\"; secret = \"x\"; extra = 1; }\n);\n", 2,
             "unknown key 'extra' in domains[]");
    load_err("routes = (\n  { domain = \"r.example\";\n    host = \"127.0.0.1\"; weight = 1; }\n);\n", 3,
             "unknown key 'weight'");
    // Wrong types.
    load_err("s2s = {\n  auth_timeout = \"30\";\n};\n", 2, "'auth_timeout' must be an integer");
    load_err("s2s = {\n  require_tls = 1;\n};\n", 2, "'require_tls' must be a boolean");
    load_err("\nworkers = 2.0;\n", 2, "must be an integer");
    load_err("s2s = \"x\";\n", 1, "'s2s' must be a group");
    load_err("s2s = {\n listen = \"127.0.0.1:5269\";\n};\n", 2, "'listen' must be an array");
    load_err("domains = (\n  \"a.example\", 1 );\n", 2, "must be a group");
    load_err("domains = {\n};\n", 1, "'domains' must be a list");
    load_err("log_level = \"loud\";\n", 1, "want error, warn, info or debug");
    // Out of range.
    load_err("workers = 0;\n", 1, "out of range [1, 64]");
    load_err("workers = 65;\n", 1, "out of range");
    load_err("s2s = {\n\n  idle_timeout = 100000;\n};\n", 3, "'idle_timeout' = 100000 is out of range");
    load_err("s2s = {\n  max_stanza_size = 100;\n};\n", 2, "out of range");
    load_err("s2s = {\n  max_stanza_size = -1;\n};\n", 2, "out of range");
    load_err("routes = (\n { domain = \"r.example\"; host = \"127.0.0.1\";\n   port = 70000; }\n);\n", 3,
             "'port' = 70000 is out of range");
    load_err("s2s = {\n  max_stanza_size = 1000000;\n  max_queue_bytes = 65536;\n};\n", 3,
             "must be at least");
    // Bad addresses.
    static const char *const bad_addrs[] = {
        "localhost:5269", "127.0.0.1",        "127.0.0.1:0",     "127.0.0.1:65536",
        "127.0.0.1:05269", "[::1]5269",       "::1:5269",        "127.0.0.1:5269 ",
        "127.0.0.256:1",  "[::1]:",           "[::1:5269",       "[fe80::1%lo]:5269",
        "1.2.3:5269",     "127.0.0.1:+5269",  ":5269",           "[]:5269",
    };
    for (size_t i = 0; i < sizeof(bad_addrs) / sizeof(bad_addrs[0]); i++) {
        char text[256];
        snprintf(text, sizeof(text), "s2s = {\n  listen = [ \"127.0.0.1:1\",\n    \"%s\" ];\n};\n",
                 bad_addrs[i]);
        load_err(text, 3, "bad address");
    }
    load_err("metrics = {\n  listen = \"example.org:80\";\n};\n", 2, "bad address");
    load_err("s2s = {\n  resolver = \"127.0.0.1:53,dns.example:53\";\n};\n", 2, "bad address");
    load_err("s2s = {\n  resolver = \"127.0.0.1:53,\";\n};\n", 2, "bad address");
    // Bad domain names.
    load_err("domains = (\n  { name = \"bad domain!\"; secret = \"x\"; }\n);\n", 2, "bad domain name");
    load_err("domains = (\n  { name = \"a..example\"; secret = \"x\"; }\n);\n", 2, "bad domain name");
    load_err("certificates = (\n { cert = \"a.pem\"; key = \"a.key\";\n   domains = [ \"ok.example\", "
             "\"-bad-.example_\" ]; }\n);\n",
             3, "bad domain name");
    load_err("routes = (\n  { domain = \"r_.example\"; host = \"127.0.0.1\"; }\n);\n", 2,
             "bad domain name");
    load_err("routes = (\n  { domain = \"r.example\"; host = \"bad host\"; }\n);\n", 2,
             "bad domain name");
    // Duplicates (after normalisation).
    load_err("domains = (\n  { name = \"a.example\"; secret = \"x\"; },\n  { name = \"b.example\"; "
             "secret = \"y\"; },\n  { name = \"A.Example.\"; secret = \"z\"; }\n);\n",
             4, "duplicate hosted domain \"a.example\" (first at line 2)");
    load_err("routes = (\n  { domain = \"r.example\"; host = \"127.0.0.1\"; },\n  { domain = "
             "\"R.EXAMPLE\"; host = \"127.0.0.2\"; }\n);\n",
             3, "duplicate route");
    // Missing or unreadable files.
    load_err("s2s = {\n  ca_file = \"nope.pem\";\n};\n", 2, "cannot read");
    load_err("certificates = (\n  { cert = \"a.pem\";\n    key = \"/nonexistent/a.key\"; domains = "
             "[ \"a.example\" ]; }\n);\n",
             3, "cannot read \"/nonexistent/a.key\"");
    // Missing or empty required values.
    load_err("domains = (\n  { name = \"a.example\"; }\n);\n", 2, "missing required key 'secret'");
    load_err("domains = (\n  { name = \"a.example\";\n    secret = \"\"; }\n);\n", 3,
             "'secret' must not be empty");
    load_err("domains = (\n  { secret = \"x\"; }\n);\n", 2, "missing required key 'name'");
    load_err("certificates = (\n  { cert = \"a.pem\"; key = \"a.key\"; }\n);\n", 2,
             "missing required key 'domains'");
    load_err("certificates = (\n  { cert = \"a.pem\"; key = \"a.key\"; domains = [ ]; }\n);\n", 2,
             "at least one domain");
    load_err("metrics = {\n};\n", 1, "missing required key 'listen'");
    load_err("s2s = {\n  dialback_secret = \"\";\n};\n", 2, "must not be empty");

    // A file that does not exist at all: no line.
    char path[PATH_MAX + 32];
    char err[256];
    rt_conf_t *conf = NULL;
    dir_file(path, sizeof(path), "missing.conf");
    T_ASSERT_EQ(rt_conf_load(path, &conf, err, sizeof(err)), RC_CONF);
    T_ASSERT(conf == NULL);
    T_ASSERT(strstr(err, "missing.conf: cannot read") != NULL);
    // A tiny error buffer is cut, not overflowed.
    char small[8];
    T_ASSERT_EQ(rt_conf_load(path, &conf, small, sizeof(small)), RC_CONF);
    T_ASSERT_EQ(strlen(small), 7);
}

static void test_normalise(void) {
    rt_conf_t *c = load_ok("domains = (\n"
                           "  { name = \"UPPER.Example\"; secret = \"1\"; },\n"
                           "  { name = \"dot.example.\"; secret = \"2\"; },\n"
                           "  { name = \"\xc3\xa9t\xc3\xa9.example\"; secret = \"3\"; },\n"
                           "  { name = \"xn--bcher-kva.example\"; secret = \"4\"; }\n"
                           ");\n");
    T_ASSERT_EQ(c->num_domains, 4);
    T_ASSERT(rt_conf_domain(c, "upper.example") != NULL);
    T_ASSERT_STREQ(rt_conf_domain(c, "upper.example")->secret, "1");
    T_ASSERT(rt_conf_domain(c, "dot.example") != NULL);
    T_ASSERT(rt_conf_domain(c, "xn--t-9fab.example") != NULL);
    T_ASSERT_STREQ(rt_conf_domain(c, "xn--t-9fab.example")->secret, "3");
    T_ASSERT_STREQ(rt_conf_domain(c, "xn--bcher-kva.example")->secret, "4");
    for (size_t i = 1; i < c->num_domains; i++) {
        T_ASSERT(strcmp(c->domains[i - 1].name, c->domains[i].name) < 0);
    }
    rt_conf_free(c);
}

// Many domains in reverse order: the binary search must find each one.
static void test_many_domains(void) {
    size_t num = 500;
    size_t cap = 64 + num * 64;
    char *text = malloc(cap);
    T_ASSERT(text != NULL);
    size_t len = (size_t)snprintf(text, cap, "domains = (\n");
    for (size_t i = num; i-- > 0;) {
        len += (size_t)snprintf(text + len, cap - len, "  { name = \"d%zu.example\"; secret = \"s\"; }%s\n",
                                i, i ? "," : "");
    }
    snprintf(text + len, cap - len, ");\n");
    rt_conf_t *c = load_ok(text);
    free(text);
    T_ASSERT_EQ(c->num_domains, num);
    for (size_t i = 0; i < num; i++) {
        char name[64];
        snprintf(name, sizeof(name), "d%zu.example", i);
        const rt_conf_domain_t *d = rt_conf_domain(c, name);
        T_ASSERT(d != NULL);
        T_ASSERT_STREQ(d->name, name);
    }
    T_ASSERT(rt_conf_domain(c, "d500.example") == NULL);
    T_ASSERT(rt_conf_domain(c, "d.example") == NULL);
    rt_conf_free(c);
}

// The shipped sample documents every option; it must stay loadable.
// Prooftype policies, their inheritance from s2s, and the new limits.
static void test_policies(void) {
    rt_conf_t *c = load_ok("# defaults\n");
    const dna_policy_t *d = rt_conf_policy(c, "any.example");
    T_ASSERT(d == &c->policy_default);
    T_ASSERT_EQ(d->num_order, 3);
    T_ASSERT_EQ(d->order[0], DNA_PROOF_PKIX);
    T_ASSERT_EQ(d->order[1], DNA_PROOF_DANE);
    T_ASSERT_EQ(d->order[2], DNA_PROOF_POSH);
    T_ASSERT(d->allow_dialback_without_proof);
    T_ASSERT_EQ(d->on_failure, DNA_ON_FAILURE_DIALBACK);
    T_ASSERT(!c->dane_pkix_usages);
    T_ASSERT_EQ(c->dna_timeout_s, 5);
    T_ASSERT_EQ(c->posh_port, 443);
    T_ASSERT(!c->posh_private_addresses);
    T_ASSERT_EQ(c->max_pending_pairs, 128);
    T_ASSERT_EQ(c->shutdown_timeout_s, 10);
    T_ASSERT_EQ(c->max_total_queue_bytes, (size_t)64 * 1024 * 1024);
    rt_conf_free(c);

    c = load_ok("s2s = { prooftypes = [ \"posh\", \"PKIX\" ]; on_failure = \"refuse\";\n"
                "  dialback_without_proof = false; max_pending_pairs = 7; shutdown_timeout = 3; };\n"
                "policies = (\n"
                "  { domain = \"Z.Example\"; prooftypes = [ \"dane\" ]; },\n"
                "  { domain = \"a.example\"; on_failure = \"dialback\"; dialback_without_proof = true; }\n"
                ");\n");
    d = rt_conf_policy(c, "other.example");
    T_ASSERT_EQ(d->num_order, 2);
    T_ASSERT_EQ(d->order[0], DNA_PROOF_POSH);
    T_ASSERT_EQ(d->order[1], DNA_PROOF_PKIX);
    T_ASSERT_EQ(d->on_failure, DNA_ON_FAILURE_REFUSE);
    T_ASSERT(!d->allow_dialback_without_proof);
    T_ASSERT_EQ(c->max_pending_pairs, 7);
    T_ASSERT_EQ(c->shutdown_timeout_s, 3);
    const dna_policy_t *z = rt_conf_policy(c, "z.example");
    T_ASSERT(z != d);
    T_ASSERT_EQ(z->num_order, 1);
    T_ASSERT_EQ(z->order[0], DNA_PROOF_DANE);
    T_ASSERT_EQ(z->on_failure, DNA_ON_FAILURE_REFUSE); // inherited
    T_ASSERT(!z->allow_dialback_without_proof);        // inherited
    const dna_policy_t *a = rt_conf_policy(c, "a.example");
    T_ASSERT_EQ(a->num_order, 2); // inherited order
    T_ASSERT_EQ(a->order[0], DNA_PROOF_POSH);
    T_ASSERT_EQ(a->on_failure, DNA_ON_FAILURE_DIALBACK);
    T_ASSERT(a->allow_dialback_without_proof);
    T_ASSERT_EQ(dna_policy_check(a), RC_OK);
    rt_conf_free(c);

    // An empty list means no prooftype: dialback only.
    c = load_ok("s2s = { prooftypes = []; };\n");
    T_ASSERT_EQ(c->policy_default.num_order, 0);
    rt_conf_free(c);

    load_err("s2s = {\n  prooftypes = [ \"x509\" ];\n};\n", 2, "unknown prooftype \"x509\"");
    load_err("s2s = {\n  prooftypes = [ \"pkix\", \"pkix\" ];\n};\n", 2, "listed twice");
    load_err("s2s = {\n  prooftypes = [ \"pkixx\" ];\n};\n", 2, "unknown prooftype");
    load_err("s2s = {\n  on_failure = \"ignore\";\n};\n", 2, "want \"dialback\" or \"refuse\"");
    load_err("policies = (\n  { domain = \"a.example\"; },\n  { domain = \"A.example\"; }\n);\n", 3,
             "duplicate policy for \"a.example\"");
    load_err("policies = (\n  { prooftypes = [ \"dane\" ]; }\n);\n", 2, "missing required key 'domain'");
    load_err("s2s = {\n  max_total_queue_bytes = 2000000;\n};\n", 2,
             "must be at least 'max_queue_bytes'");
}

static void test_sample(void) {
    char src[PATH_MAX];
    char dst[PATH_MAX + 32];
    char err[512];
    snprintf(src, sizeof(src), "%s/tools/fedrouter.conf.sample", RT_SOURCE_DIR);
    FILE *f = fopen(src, "r");
    T_ASSERT(f != NULL);
    char *text = malloc(65536);
    T_ASSERT(text != NULL);
    size_t n = fread(text, 1, 65535, f);
    fclose(f);
    text[n] = '\0';
    dir_file(dst, sizeof(dst), "fedrouter.conf");
    write_file(dst, text);
    free(text);
    rt_conf_t *c = NULL;
    rc_t rc = rt_conf_load(dst, &c, err, sizeof(err));
    if (rc != RC_OK) {
        fprintf(stderr, "sample: %s\n", err);
    }
    T_ASSERT_EQ(rc, RC_OK);
    T_ASSERT(c->num_s2s_listen >= 1);
    T_ASSERT(c->metrics_enabled);
    T_ASSERT(c->num_domains >= 1);
    T_ASSERT(c->num_certs >= 1);
    T_ASSERT(c->num_routes >= 1);
    T_ASSERT(c->ca_file != NULL);
    rt_conf_free(c);
}

int main(void) {
    char tmpl[] = "/tmp/rt_conf_XXXXXX";
    T_ASSERT(mkdtemp(tmpl) != NULL);
    T_ASSERT(realpath(tmpl, g_dir) != NULL);
    char sub[PATH_MAX + 32];
    dir_file(sub, sizeof(sub), "sub");
    T_ASSERT(mkdir(sub, 0700) == 0);
    static const char *const files[] = {"ca.pem", "a.pem", "a.key", "b.pem", "sub/b.key",
                                        "a.example.pem", "a.example.key"};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char p[PATH_MAX + 32];
        dir_file(p, sizeof(p), files[i]);
        write_file(p, "placeholder\n");
    }
    core_log_set_level(CORE_LOG_WARN); // the random-secret notice is expected
    rt_conf_free(NULL);

    test_full();
    test_defaults();
    test_policies();
    test_random_secret();
    test_errors();
    test_normalise();
    test_many_domains();
    test_sample();

    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
    T_ASSERT(system(cmd) == 0);
    return 0;
}

// conf.c: the configuration loader (STYLE.md §11). libconfig parses the file; one schema table per
// section (root, s2s, components, metrics, and the elements of certificates/domains/routes) drives
// validation and conversion into the typed rt_conf_t. After rt_conf_load nothing looks a setting
// up by name.
//
// WARNING: libconfig 1.5 (Debian 12) silently wraps integer literals that do not fit in 32 bits
// unless they carry the 'L' suffix (5000000000 reads as 705032704). Every range in the schema is
// below 2^31, so a wrapped value is usually out of range, but not always: write large values with
// 'L' (the sample config says so).
#include "router/conf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libconfig.h>
#include <limits.h>
#include <netinet/in.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dna/domain.h"
#include "router/core/bytes.h"
#include "router/core/log.h"

#define CONF_WORKERS_MAX 64
#define CONF_SECRET_BYTES 32
#define CONF_DEFAULT_S2S_PORT 5269

// What a schema entry converts a setting into.
typedef enum conf_kind {
    CONF_K_U32,         // integer -> uint32_t
    CONF_K_U16,         // integer -> uint16_t
    CONF_K_SIZE,        // integer -> size_t
    CONF_K_BOOL,        // bool -> bool
    CONF_K_LOG_LEVEL,   // "error|warn|info|debug" -> int (core_log_level_t)
    CONF_K_STRING,      // non-empty string -> owned char *
    CONF_K_FILE,        // readable file -> owned char *, joined to the config directory
    CONF_K_DOMAIN,      // domain name -> owned char *, lower-case A-label
    CONF_K_HOST,        // IP literal (kept) or host name (normalised) -> owned char *
    CONF_K_DOMAIN_LIST, // array of domain names -> owned char ** + count
    CONF_K_ADDR,        // "ip:port" -> rt_conf_addr_t
    CONF_K_ADDR_LIST,   // array of "ip:port" -> owned rt_conf_addr_t * + count
    CONF_K_RESOLVER,    // "ip:port[,ip:port]" (validated) -> owned char *
    CONF_K_PROOFTYPES,  // array of "pkix"/"dane"/"posh" -> dna_policy_t order + num_order
    CONF_K_ON_FAILURE,  // "dialback" | "refuse" -> dna_on_failure_t
    CONF_K_GROUP,       // nested group, same target struct
    CONF_K_LIST,        // list of groups -> owned array of |sub->elem_size| + count
} conf_kind_t;

#define CONF_F_REQUIRED 0x1u // must be present
#define CONF_F_DEF_CPUS 0x2u // default: online CPUs, capped to max (workers)

typedef struct conf_section conf_section_t;

// One option. Numeric kinds use min/max/def; bool uses def (0/1); log level uses def.
typedef struct conf_opt {
    const char *name;
    conf_kind_t kind;
    unsigned flags;
    int64_t min;
    int64_t max;
    int64_t def;
    size_t off;     // target field in the section's struct
    size_t off_num; // count field (lists)
    const conf_section_t *sub; // CONF_K_GROUP, CONF_K_LIST
} conf_opt_t;

struct conf_section {
    const char *name; // for messages
    const conf_opt_t *opts;
    size_t num_opts;
    size_t elem_size;   // CONF_K_LIST element size
    size_t present_off; // bool set to true when the group is present, or SIZE_MAX
};

#define OPT_U32(n, fl, lo, hi, d, field)                                                           \
    { n, CONF_K_U32, fl, lo, hi, d, offsetof(rt_conf_t, field), 0, NULL }
#define OPT_SIZE(n, lo, hi, d, field)                                                              \
    { n, CONF_K_SIZE, 0, lo, hi, d, offsetof(rt_conf_t, field), 0, NULL }
#define OPT_BOOL(T, n, d, field) { n, CONF_K_BOOL, 0, 0, 1, d, offsetof(T, field), 0, NULL }
#define OPT_PTR(T, n, k, fl, field) { n, k, fl, 0, 0, 0, offsetof(T, field), 0, NULL }
#define OPT_LIST(T, n, k, field, num)                                                              \
    { n, k, 0, 0, 0, 0, offsetof(T, field), offsetof(T, num), NULL }

static const conf_opt_t s2s_opts[] = {
    OPT_LIST(rt_conf_t, "listen", CONF_K_ADDR_LIST, s2s_listen, num_s2s_listen),
    OPT_LIST(rt_conf_t, "listen_tls", CONF_K_ADDR_LIST, s2s_listen_tls, num_s2s_listen_tls),
    OPT_BOOL(rt_conf_t, "require_tls", 1, require_tls),
    OPT_PTR(rt_conf_t, "ca_file", CONF_K_FILE, 0, ca_file),
    OPT_PTR(rt_conf_t, "dialback_secret", CONF_K_STRING, 0, dialback_secret),
    OPT_PTR(rt_conf_t, "resolver", CONF_K_RESOLVER, 0, resolver),
    OPT_BOOL(rt_conf_t, "cn_fallback", 0, cn_fallback),
    OPT_U32("auth_timeout", 0, 1, 3600, 30, auth_timeout_s),
    OPT_U32("connect_timeout", 0, 1, 600, 10, connect_timeout_s),
    OPT_U32("stanza_timeout", 0, 1, 3600, 60, stanza_timeout_s),
    OPT_U32("idle_timeout", 0, 1, 86400, 600, idle_timeout_s),
    OPT_U32("max_unauth_per_ip", 0, 1, 65536, 16, max_unauth_per_ip),
    // RFC 6120 §13.12: a server must accept stanzas of at least 10000 bytes.
    OPT_SIZE("max_stanza_size", 10000, 16 * 1024 * 1024, 262144, max_stanza_size),
    OPT_SIZE("max_queue_bytes", 65536, 1024 * 1024 * 1024, 4194304, max_queue_bytes),
    OPT_SIZE("max_total_queue_bytes", 1024 * 1024, INT64_C(64) * 1024 * 1024 * 1024,
             64 * 1024 * 1024, max_total_queue_bytes),
    OPT_U32("max_pending_pairs", 0, 1, 65536, 128, max_pending_pairs),
    OPT_U32("shutdown_timeout", 0, 0, 3600, 10, shutdown_timeout_s),
    OPT_PTR(rt_conf_t, "prooftypes", CONF_K_PROOFTYPES, 0, policy_default),
    OPT_BOOL(rt_conf_t, "dialback_without_proof", 1,
             policy_default.allow_dialback_without_proof),
    OPT_PTR(rt_conf_t, "on_failure", CONF_K_ON_FAILURE, 0, policy_default.on_failure),
    OPT_BOOL(rt_conf_t, "dane_pkix_usages", 0, dane_pkix_usages),
    OPT_U32("dna_timeout", 0, 1, 120, 5, dna_timeout_s),
    {"posh_port", CONF_K_U16, 0, 1, 65535, 443, offsetof(rt_conf_t, posh_port), 0, NULL},
    OPT_BOOL(rt_conf_t, "posh_private_addresses", 0, posh_private_addresses),
};

static const conf_opt_t comp_opts[] = {
    OPT_LIST(rt_conf_t, "listen", CONF_K_ADDR_LIST, comp_listen, num_comp_listen),
    OPT_U32("auth_timeout", 0, 1, 3600, 10, comp_auth_timeout_s),
};

static const conf_opt_t metrics_opts[] = {
    OPT_PTR(rt_conf_t, "listen", CONF_K_ADDR, CONF_F_REQUIRED, metrics_listen),
};

static const conf_opt_t admin_opts[] = {
    OPT_PTR(rt_conf_t, "socket", CONF_K_STRING, CONF_F_REQUIRED, admin_socket),
};

static const conf_opt_t cert_opts[] = {
    OPT_PTR(rt_conf_cert_t, "cert", CONF_K_FILE, CONF_F_REQUIRED, cert_file),
    OPT_PTR(rt_conf_cert_t, "key", CONF_K_FILE, CONF_F_REQUIRED, key_file),
    {"domains", CONF_K_DOMAIN_LIST, CONF_F_REQUIRED, 0, 0, 0, offsetof(rt_conf_cert_t, domains),
     offsetof(rt_conf_cert_t, num_domains), NULL},
};

static const conf_opt_t domain_opts[] = {
    OPT_PTR(rt_conf_domain_t, "name", CONF_K_DOMAIN, CONF_F_REQUIRED, name),
    OPT_PTR(rt_conf_domain_t, "secret", CONF_K_STRING, CONF_F_REQUIRED, secret),
};

static const conf_opt_t policy_opts[] = {
    OPT_PTR(rt_conf_policy_t, "domain", CONF_K_DOMAIN, CONF_F_REQUIRED, domain),
    OPT_PTR(rt_conf_policy_t, "prooftypes", CONF_K_PROOFTYPES, 0, policy),
    OPT_BOOL(rt_conf_policy_t, "dialback_without_proof", 1, policy.allow_dialback_without_proof),
    OPT_PTR(rt_conf_policy_t, "on_failure", CONF_K_ON_FAILURE, 0, policy.on_failure),
};

static const conf_opt_t route_opts[] = {
    OPT_PTR(rt_dns_route_t, "domain", CONF_K_DOMAIN, CONF_F_REQUIRED, domain),
    OPT_PTR(rt_dns_route_t, "host", CONF_K_HOST, CONF_F_REQUIRED, host),
    {"port", CONF_K_U16, 0, 1, 65535, CONF_DEFAULT_S2S_PORT, offsetof(rt_dns_route_t, port), 0,
     NULL},
    OPT_BOOL(rt_dns_route_t, "direct_tls", 0, direct_tls),
};

#define SECTION(n, o, esz, present) {n, o, RT_ARRAY_LEN(o), esz, present}
static const conf_section_t s2s_section = SECTION("s2s", s2s_opts, 0, SIZE_MAX);
static const conf_section_t comp_section = SECTION("components", comp_opts, 0, SIZE_MAX);
static const conf_section_t metrics_section =
    SECTION("metrics", metrics_opts, 0, offsetof(rt_conf_t, metrics_enabled));
static const conf_section_t admin_section = SECTION("admin", admin_opts, 0, SIZE_MAX);
static const conf_section_t cert_section =
    SECTION("certificates[]", cert_opts, sizeof(rt_conf_cert_t), SIZE_MAX);
static const conf_section_t domain_section =
    SECTION("domains[]", domain_opts, sizeof(rt_conf_domain_t), SIZE_MAX);
static const conf_section_t policy_section =
    SECTION("policies[]", policy_opts, sizeof(rt_conf_policy_t), SIZE_MAX);
static const conf_section_t route_section =
    SECTION("routes[]", route_opts, sizeof(rt_dns_route_t), SIZE_MAX);

static const conf_opt_t root_opts[] = {
    OPT_U32("workers", CONF_F_DEF_CPUS, 1, CONF_WORKERS_MAX, 1, workers),
    {"log_level", CONF_K_LOG_LEVEL, 0, 0, 0, CORE_LOG_INFO, offsetof(rt_conf_t, log_level), 0,
     NULL},
    {"s2s", CONF_K_GROUP, 0, 0, 0, 0, 0, 0, &s2s_section},
    {"components", CONF_K_GROUP, 0, 0, 0, 0, 0, 0, &comp_section},
    {"metrics", CONF_K_GROUP, 0, 0, 0, 0, 0, 0, &metrics_section},
    {"admin", CONF_K_GROUP, 0, 0, 0, 0, 0, 0, &admin_section},
    {"certificates", CONF_K_LIST, 0, 0, 0, 0, offsetof(rt_conf_t, certs),
     offsetof(rt_conf_t, num_certs), &cert_section},
    {"domains", CONF_K_LIST, 0, 0, 0, 0, offsetof(rt_conf_t, domains),
     offsetof(rt_conf_t, num_domains), &domain_section},
    {"routes", CONF_K_LIST, 0, 0, 0, 0, offsetof(rt_conf_t, routes),
     offsetof(rt_conf_t, num_routes), &route_section},
    {"policies", CONF_K_LIST, 0, 0, 0, 0, offsetof(rt_conf_t, policies),
     offsetof(rt_conf_t, num_policies), &policy_section},
};
static const conf_section_t root_section = SECTION("top level", root_opts, 0, SIZE_MAX);

// Load context: the first error wins and stops the load.
typedef struct conf_ctx {
    const char *path; // as given
    char *dir;        // absolute directory of the config file (owned)
    char *err;
    size_t err_len;
} conf_ctx_t;

// conf_failv formats "file:line: reason" (or "file: reason" when |line| is 0) into the caller's
// buffer, marking truncation with "...". Returns RC_CONF.
static rc_t conf_failv(conf_ctx_t *ctx, const char *file, unsigned line, const char *fmt,
                       va_list ap) RT_PRINTF(4, 0);
static rc_t conf_failv(conf_ctx_t *ctx, const char *file, unsigned line, const char *fmt,
                       va_list ap) {
    if (ctx->err == NULL || ctx->err_len == 0) {
        return RC_CONF;
    }
    int n;
    if (line != 0) {
        n = snprintf(ctx->err, ctx->err_len, "%s:%u: ", file, line);
    } else {
        n = snprintf(ctx->err, ctx->err_len, "%s: ", file);
    }
    size_t used = n < 0 ? 0 : (size_t)n;
    if (used < ctx->err_len) {
        int m = vsnprintf(ctx->err + used, ctx->err_len - used, fmt, ap);
        used += m < 0 ? 0 : (size_t)m;
    }
    if (used >= ctx->err_len && ctx->err_len >= 4) {
        memcpy(ctx->err + ctx->err_len - 4, "...", 4); // truncated: say so
    }
    return RC_CONF;
}

// conf_fail reports an error at setting |s| (its file and line), or at the config file itself
// when |s| is NULL. Returns RC_CONF.
static rc_t conf_fail(conf_ctx_t *ctx, const config_setting_t *s, const char *fmt, ...)
    RT_PRINTF(3, 4);
static rc_t conf_fail(conf_ctx_t *ctx, const config_setting_t *s, const char *fmt, ...) {
    const char *file = ctx->path;
    unsigned line = 0;
    if (s != NULL) {
        line = config_setting_source_line(s);
        if (config_setting_source_file(s) != NULL) {
            file = config_setting_source_file(s);
        }
    }
    va_list ap;
    va_start(ap, fmt);
    rc_t rc = conf_failv(ctx, file, line, fmt, ap);
    va_end(ap);
    return rc;
}

// conf_fail_at reports an error at |file|:|line|. Returns RC_CONF.
static rc_t conf_fail_at(conf_ctx_t *ctx, const char *file, unsigned line, const char *fmt, ...)
    RT_PRINTF(4, 5);
static rc_t conf_fail_at(conf_ctx_t *ctx, const char *file, unsigned line, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    rc_t rc = conf_failv(ctx, file, line, fmt, ap);
    va_end(ap);
    return rc;
}

// setting_label names |s| for messages: its key, or "element N" of its parent.
static const char *setting_label(const config_setting_t *s, char *buf, size_t buf_len) {
    if (config_setting_name(s) != NULL) {
        return config_setting_name(s);
    }
    int n = snprintf(buf, buf_len, "element %d", config_setting_index(s));
    if (n < 0 || (size_t)n >= buf_len) {
        return "element";
    }
    return buf;
}

static const char *type_name(int type) {
    switch (type) {
    case CONFIG_TYPE_GROUP:
        return "a group";
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64:
        return "an integer";
    case CONFIG_TYPE_FLOAT:
        return "a float";
    case CONFIG_TYPE_STRING:
        return "a string";
    case CONFIG_TYPE_BOOL:
        return "a boolean";
    case CONFIG_TYPE_ARRAY:
        return "an array";
    case CONFIG_TYPE_LIST:
        return "a list";
    default:
        return "a setting";
    }
}

static rc_t want_type(conf_ctx_t *ctx, const config_setting_t *s, int type, const char *want) {
    if (config_setting_type(s) == type) {
        return RC_OK;
    }
    char buf[32];
    return conf_fail(ctx, s, "'%s' must be %s, not %s", setting_label(s, buf, sizeof(buf)), want,
                     type_name(config_setting_type(s)));
}

// want_string checks that |s| is a non-empty string and returns it in |*out| (borrowed).
static rc_t want_string(conf_ctx_t *ctx, const config_setting_t *s, const char **out) {
    rc_t rc = want_type(ctx, s, CONFIG_TYPE_STRING, "a string");
    if (rc != RC_OK) {
        return rc;
    }
    const char *v = config_setting_get_string(s);
    if (v == NULL || v[0] == '\0') {
        char buf[32];
        return conf_fail(ctx, s, "'%s' must not be empty", setting_label(s, buf, sizeof(buf)));
    }
    *out = v;
    return RC_OK;
}

// want_string_array checks that |s| is an array or list; each element is checked as a string by
// its converter.
static rc_t want_string_array(conf_ctx_t *ctx, const config_setting_t *s) {
    if (config_setting_type(s) != CONFIG_TYPE_ARRAY && config_setting_type(s) != CONFIG_TYPE_LIST) {
        return want_type(ctx, s, CONFIG_TYPE_ARRAY, "an array of strings");
    }
    return RC_OK;
}

// conf_parse_addr parses "a.b.c.d:port" or "[v6]:port" strictly (IP literals only, port 1..65535)
// from the |len| bytes at |text|. Fills |out| and returns true, or false.
static bool conf_parse_addr(rt_conf_addr_t *out, const char *text, size_t len) {
    core_cur_t cur;
    core_cur_t host;
    uint64_t port = 0;
    char ip[INET6_ADDRSTRLEN + 1];
    core_cur_init(&cur, text, len);
    bool v6 = core_cur_match(&cur, "[", 1);
    if (v6) {
        if (!core_cur_get_until(&cur, &host, ']') || !core_cur_match(&cur, ":", 1)) {
            return false;
        }
    } else {
        // The last ':' separates the port; an IPv4 literal has no other ':' (inet_pton checks).
        size_t colon = len;
        for (size_t i = 0; i < len; i++) {
            if (text[i] == ':') {
                colon = i;
            }
        }
        if (colon == len || !core_cur_get_bytes(&cur, &host, colon) || !core_cur_skip(&cur, 1)) {
            return false;
        }
    }
    if (cur.len == 0 || !core_cur_get_decimal(&cur, 65535, &port) || !core_cur_empty(&cur) ||
        port == 0) {
        return false;
    }
    if (host.len == 0 || host.len >= sizeof(ip) || len >= sizeof(out->text)) {
        return false;
    }
    core_memcpy(ip, host.ptr, host.len);
    ip[host.len] = '\0';
    core_memset(out, 0, sizeof(*out));
    if (v6) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&out->sa;
        if (inet_pton(AF_INET6, ip, &sin6->sin6_addr) != 1) {
            return false;
        }
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)port);
        out->sa_len = sizeof(*sin6);
    } else {
        struct sockaddr_in *sin = (struct sockaddr_in *)&out->sa;
        if (inet_pton(AF_INET, ip, &sin->sin_addr) != 1) {
            return false;
        }
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)port);
        out->sa_len = sizeof(*sin);
    }
    core_memcpy(out->text, text, len);
    out->text[len] = '\0';
    return true;
}

static rc_t conv_addr(conf_ctx_t *ctx, const config_setting_t *s, rt_conf_addr_t *out) {
    const char *v = NULL;
    rc_t rc = want_string(ctx, s, &v);
    if (rc != RC_OK) {
        return rc;
    }
    if (!conf_parse_addr(out, v, strlen(v))) {
        char buf[32];
        return conf_fail(ctx, s, "'%s': bad address \"%s\" (want ip:port or [ipv6]:port)",
                         setting_label(s, buf, sizeof(buf)), v);
    }
    return RC_OK;
}

static rc_t conv_resolver(conf_ctx_t *ctx, const config_setting_t *s, char **out) {
    const char *v = NULL;
    rc_t rc = want_string(ctx, s, &v);
    if (rc != RC_OK) {
        return rc;
    }
    size_t len = strlen(v);
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || v[i] == ',') {
            rt_conf_addr_t a;
            if (!conf_parse_addr(&a, v + start, i - start)) {
                return conf_fail(ctx, s, "'resolver': bad address in \"%s\" (want ip:port[,ip:port])",
                                 v);
            }
            start = i + 1;
        }
    }
    *out = core_xstrdup(v);
    return RC_OK;
}

static rc_t conv_domain(conf_ctx_t *ctx, const config_setting_t *s, char **out) {
    const char *v = NULL;
    char norm[DNA_DOMAIN_MAX];
    rc_t rc = want_string(ctx, s, &v);
    if (rc != RC_OK) {
        return rc;
    }
    if (dna_domain_normalize(norm, sizeof(norm), v, strlen(v)) != RC_OK) {
        char buf[32];
        return conf_fail(ctx, s, "'%s': bad domain name \"%s\"",
                         setting_label(s, buf, sizeof(buf)), v);
    }
    *out = core_xstrdup(norm);
    return RC_OK;
}

static rc_t conv_host(conf_ctx_t *ctx, const config_setting_t *s, char **out) {
    const char *v = NULL;
    rc_t rc = want_string(ctx, s, &v);
    if (rc != RC_OK) {
        return rc;
    }
    struct in6_addr a6;
    if (inet_pton(AF_INET, v, &a6) == 1 || inet_pton(AF_INET6, v, &a6) == 1) {
        *out = core_xstrdup(v);
        return RC_OK;
    }
    return conv_domain(ctx, s, out);
}

static rc_t conv_file(conf_ctx_t *ctx, const config_setting_t *s, char **out) {
    const char *v = NULL;
    char *joined = NULL;
    rc_t rc = want_string(ctx, s, &v);
    if (rc != RC_OK) {
        goto out;
    }
    if (v[0] == '/') {
        joined = core_xstrdup(v);
    } else {
        size_t dlen = strlen(ctx->dir);
        size_t vlen = strlen(v);
        joined = core_xmalloc(dlen + 1 + vlen + 1);
        core_memcpy(joined, ctx->dir, dlen);
        joined[dlen] = '/';
        core_memcpy(joined + dlen + 1, v, vlen + 1);
    }
    if (access(joined, R_OK) != 0) {
        char buf[32];
        rc = conf_fail(ctx, s, "'%s': cannot read \"%s\": %s", setting_label(s, buf, sizeof(buf)),
                       joined, strerror(errno));
        goto out;
    }
    *out = joined;
    joined = NULL;
out:
    free(joined);
    return rc;
}

// conv_prooftypes converts an array of prooftype names into |out|'s order (each at most once).
static rc_t conv_prooftypes(conf_ctx_t *ctx, const config_setting_t *s, dna_policy_t *out) {
    rc_t rc = want_string_array(ctx, s);
    if (rc != RC_OK) {
        return rc;
    }
    size_t num = (size_t)config_setting_length(s);
    if (num > DNA_PROOF_COUNT) {
        return conf_fail(ctx, s, "'prooftypes' lists %zu entries; at most %d (pkix, dane, posh)",
                         num, DNA_PROOF_COUNT);
    }
    out->num_order = 0;
    for (size_t i = 0; i < num; i++) {
        const char *name = config_setting_get_string_elem(s, (unsigned)i);
        dna_prooftype_t pt;
        if (!dna_prooftype_parse(name, strlen(name), &pt) || strlen(name) != 4) {
            return conf_fail(ctx, s, "'prooftypes': unknown prooftype \"%s\" (want pkix, dane, posh)",
                             name);
        }
        for (size_t j = 0; j < out->num_order; j++) {
            if (out->order[j] == pt) {
                return conf_fail(ctx, s, "'prooftypes': \"%s\" is listed twice", name);
            }
        }
        out->order[out->num_order++] = pt;
    }
    return RC_OK;
}

static rc_t conv_on_failure(conf_ctx_t *ctx, const config_setting_t *s, dna_on_failure_t *out) {
    const char *str = NULL;
    rc_t rc = want_string(ctx, s, &str);
    if (rc != RC_OK) {
        return rc;
    }
    if (strcmp(str, "dialback") == 0) {
        *out = DNA_ON_FAILURE_DIALBACK;
    } else if (strcmp(str, "refuse") == 0) {
        *out = DNA_ON_FAILURE_REFUSE;
    } else {
        return conf_fail(ctx, s, "'on_failure' = \"%s\": want \"dialback\" or \"refuse\"", str);
    }
    return RC_OK;
}

static rc_t conv_int(conf_ctx_t *ctx, const config_setting_t *s, const conf_opt_t *opt,
                     int64_t *out) {
    if (config_setting_type(s) != CONFIG_TYPE_INT && config_setting_type(s) != CONFIG_TYPE_INT64) {
        return want_type(ctx, s, CONFIG_TYPE_INT, "an integer");
    }
    long long v = config_setting_get_int64(s);
    if (v < opt->min || v > opt->max) {
        return conf_fail(ctx, s, "'%s' = %lld is out of range [%lld, %lld]", opt->name, v,
                         (long long)opt->min, (long long)opt->max);
    }
    *out = (int64_t)v;
    return RC_OK;
}

static rc_t apply_section(conf_ctx_t *ctx, const config_setting_t *g, const conf_section_t *sec,
                          void *base);

// apply_list converts a list of groups into an owned array of |sub->elem_size| elements. The
// array and its count are stored before the elements are filled, so a failure leaves a partial
// config that rt_conf_free releases.
static rc_t apply_list(conf_ctx_t *ctx, const config_setting_t *s, const conf_opt_t *opt,
                       void *base) {
    int type = config_setting_type(s);
    int n = config_setting_length(s);
    if (type != CONFIG_TYPE_LIST && !(type == CONFIG_TYPE_ARRAY && n == 0)) {
        return want_type(ctx, s, CONFIG_TYPE_LIST, "a list ( { ... }, ... )");
    }
    size_t num = n < 0 ? 0 : (size_t)n;
    uint8_t *arr = core_xcalloc(num, opt->sub->elem_size);
    *(void **)((uint8_t *)base + opt->off) = arr;
    *(size_t *)((uint8_t *)base + opt->off_num) = num;
    for (size_t i = 0; i < num; i++) {
        config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        if (config_setting_type(e) != CONFIG_TYPE_GROUP) {
            return want_type(ctx, e, CONFIG_TYPE_GROUP, "a group { ... }");
        }
        rc_t rc = apply_section(ctx, e, opt->sub, arr + i * opt->sub->elem_size);
        if (rc != RC_OK) {
            return rc;
        }
    }
    return RC_OK;
}

// apply_opt converts setting |s| as described by |opt| into |base|.
static rc_t apply_opt(conf_ctx_t *ctx, const config_setting_t *s, const conf_opt_t *opt,
                      void *base) {
    uint8_t *field = (uint8_t *)base + opt->off;
    int64_t v = 0;
    rc_t rc = RC_OK;
    switch (opt->kind) {
    case CONF_K_U32:
        if ((rc = conv_int(ctx, s, opt, &v)) == RC_OK) {
            *(uint32_t *)field = (uint32_t)v;
        }
        return rc;
    case CONF_K_U16:
        if ((rc = conv_int(ctx, s, opt, &v)) == RC_OK) {
            *(uint16_t *)field = (uint16_t)v;
        }
        return rc;
    case CONF_K_SIZE:
        if ((rc = conv_int(ctx, s, opt, &v)) == RC_OK) {
            *(size_t *)field = (size_t)v;
        }
        return rc;
    case CONF_K_BOOL:
        if ((rc = want_type(ctx, s, CONFIG_TYPE_BOOL, "a boolean (true/false)")) == RC_OK) {
            *(bool *)field = config_setting_get_bool(s) != 0;
        }
        return rc;
    case CONF_K_LOG_LEVEL: {
        const char *str = NULL;
        core_log_level_t level;
        if ((rc = want_string(ctx, s, &str)) != RC_OK) {
            return rc;
        }
        if (!core_log_parse_level(str, &level)) {
            return conf_fail(ctx, s, "'%s' = \"%s\": want error, warn, info or debug", opt->name,
                             str);
        }
        *(int *)field = (int)level;
        return RC_OK;
    }
    case CONF_K_STRING: {
        const char *str = NULL;
        if ((rc = want_string(ctx, s, &str)) == RC_OK) {
            *(char **)field = core_xstrdup(str);
        }
        return rc;
    }
    case CONF_K_FILE:
        return conv_file(ctx, s, (char **)field);
    case CONF_K_DOMAIN:
        return conv_domain(ctx, s, (char **)field);
    case CONF_K_HOST:
        return conv_host(ctx, s, (char **)field);
    case CONF_K_RESOLVER:
        return conv_resolver(ctx, s, (char **)field);
    case CONF_K_ADDR:
        return conv_addr(ctx, s, (rt_conf_addr_t *)field);
    case CONF_K_PROOFTYPES:
        return conv_prooftypes(ctx, s, (dna_policy_t *)field);
    case CONF_K_ON_FAILURE:
        return conv_on_failure(ctx, s, (dna_on_failure_t *)field);
    case CONF_K_ADDR_LIST: {
        if ((rc = want_string_array(ctx, s)) != RC_OK) {
            return rc;
        }
        size_t num = (size_t)config_setting_length(s);
        rt_conf_addr_t *arr = core_xcalloc(num, sizeof(*arr));
        *(rt_conf_addr_t **)field = arr;
        *(size_t *)((uint8_t *)base + opt->off_num) = num;
        for (size_t i = 0; i < num && rc == RC_OK; i++) {
            rc = conv_addr(ctx, config_setting_get_elem(s, (unsigned)i), &arr[i]);
        }
        return rc;
    }
    case CONF_K_DOMAIN_LIST: {
        if ((rc = want_string_array(ctx, s)) != RC_OK) {
            return rc;
        }
        size_t num = (size_t)config_setting_length(s);
        if (num == 0) {
            return conf_fail(ctx, s, "'%s' must name at least one domain", opt->name);
        }
        char **arr = core_xcalloc(num, sizeof(*arr));
        *(char ***)field = arr;
        *(size_t *)((uint8_t *)base + opt->off_num) = num;
        for (size_t i = 0; i < num && rc == RC_OK; i++) {
            rc = conv_domain(ctx, config_setting_get_elem(s, (unsigned)i), &arr[i]);
        }
        return rc;
    }
    case CONF_K_GROUP:
        if ((rc = want_type(ctx, s, CONFIG_TYPE_GROUP, "a group { ... }")) != RC_OK) {
            return rc;
        }
        return apply_section(ctx, s, opt->sub, base);
    case CONF_K_LIST:
        return apply_list(ctx, s, opt, base);
    }
    return conf_fail(ctx, s, "internal: unhandled option kind");
}

// apply_defaults writes the default of every scalar option of |sec| into |base|.
static void apply_defaults(const conf_section_t *sec, void *base) {
    for (size_t i = 0; i < sec->num_opts; i++) {
        const conf_opt_t *opt = &sec->opts[i];
        uint8_t *field = (uint8_t *)base + opt->off;
        switch (opt->kind) {
        case CONF_K_U32:
            *(uint32_t *)field = (uint32_t)opt->def;
            break;
        case CONF_K_U16:
            *(uint16_t *)field = (uint16_t)opt->def;
            break;
        case CONF_K_SIZE:
            *(size_t *)field = (size_t)opt->def;
            break;
        case CONF_K_BOOL:
            *(bool *)field = opt->def != 0;
            break;
        case CONF_K_LOG_LEVEL:
            *(int *)field = (int)opt->def;
            break;
        case CONF_K_PROOFTYPES: {
            dna_policy_t def;
            dna_policy_default(&def);
            memcpy(((dna_policy_t *)field)->order, def.order, sizeof(def.order));
            ((dna_policy_t *)field)->num_order = def.num_order;
            break;
        }
        case CONF_K_ON_FAILURE:
            *(dna_on_failure_t *)field = DNA_ON_FAILURE_DIALBACK;
            break;
        case CONF_K_GROUP:
            apply_defaults(opt->sub, base);
            break;
        default:
            break;
        }
    }
}

// apply_section applies defaults, then converts every member of group |g| (may be NULL: section
// absent) through the table of |sec|. Unknown keys and missing required keys are errors.
static rc_t apply_section(conf_ctx_t *ctx, const config_setting_t *g, const conf_section_t *sec,
                          void *base) {
    uint64_t seen = 0;
    _Static_assert(RT_ARRAY_LEN(root_opts) <= 64 && RT_ARRAY_LEN(s2s_opts) <= 64, "seen mask");
    apply_defaults(sec, base);
    if (g == NULL) {
        return RC_OK;
    }
    int n = config_setting_length(g);
    for (int i = 0; i < n; i++) {
        const config_setting_t *m = config_setting_get_elem(g, (unsigned)i);
        const char *name = config_setting_name(m);
        size_t k = 0;
        while (k < sec->num_opts && (name == NULL || strcmp(sec->opts[k].name, name) != 0)) {
            k++;
        }
        if (k == sec->num_opts) {
            return conf_fail(ctx, m, "unknown key '%s' in %s", name ? name : "?", sec->name);
        }
        seen |= UINT64_C(1) << k;
        rc_t rc = apply_opt(ctx, m, &sec->opts[k], base);
        if (rc != RC_OK) {
            return rc;
        }
    }
    for (size_t k = 0; k < sec->num_opts; k++) {
        if ((sec->opts[k].flags & CONF_F_REQUIRED) && !(seen & (UINT64_C(1) << k))) {
            return conf_fail(ctx, g, "%s: missing required key '%s'", sec->name,
                             sec->opts[k].name);
        }
    }
    if (sec->present_off != SIZE_MAX) {
        *(bool *)((uint8_t *)base + sec->present_off) = true;
    }
    return RC_OK;
}

// A hosted domain with the line it came from, for duplicate reports.
typedef struct conf_dom_line {
    rt_conf_domain_t d;
    const config_setting_t *s;
} conf_dom_line_t;

static int cmp_dom_line(const void *a, const void *b) {
    return strcmp(((const conf_dom_line_t *)a)->d.name, ((const conf_dom_line_t *)b)->d.name);
}

// finish_domains sorts the hosted domains, rejects duplicates and links each to its certificate.
static rc_t finish_domains(conf_ctx_t *ctx, const config_t *cf, rt_conf_t *conf) {
    rc_t rc = RC_OK;
    size_t n = conf->num_domains;
    conf_dom_line_t *tmp = NULL;
    if (n == 0) {
        return RC_OK;
    }
    const config_setting_t *list = config_setting_get_member(config_root_setting(cf), "domains");
    tmp = core_xcalloc(n, sizeof(*tmp));
    for (size_t i = 0; i < n; i++) {
        tmp[i].d = conf->domains[i];
        tmp[i].s = config_setting_get_elem(list, (unsigned)i);
    }
    qsort(tmp, n, sizeof(*tmp), cmp_dom_line);
    for (size_t i = 0; i < n; i++) {
        conf->domains[i] = tmp[i].d;
        conf->domains[i].cert_idx = SIZE_MAX;
    }
    for (size_t i = 1; i < n; i++) {
        if (strcmp(tmp[i].d.name, tmp[i - 1].d.name) == 0) {
            const config_setting_t *first = tmp[i - 1].s;
            const config_setting_t *second = tmp[i].s;
            if (config_setting_source_line(first) > config_setting_source_line(second)) {
                first = tmp[i].s;
                second = tmp[i - 1].s;
            }
            rc = conf_fail(ctx, second, "duplicate hosted domain \"%s\" (first at line %u)",
                           tmp[i].d.name, config_setting_source_line(first));
            goto out;
        }
    }
    // The first certificate naming a domain serves it.
    for (size_t c = conf->num_certs; c-- > 0;) {
        for (size_t j = 0; j < conf->certs[c].num_domains; j++) {
            const rt_conf_domain_t *d = rt_conf_domain(conf, conf->certs[c].domains[j]);
            if (d != NULL) {
                conf->domains[d - conf->domains].cert_idx = c;
            }
        }
    }
out:
    free(tmp);
    return rc;
}

static rc_t finish_routes(conf_ctx_t *ctx, const config_t *cf, const rt_conf_t *conf) {
    const config_setting_t *list = config_setting_get_member(config_root_setting(cf), "routes");
    for (size_t i = 1; i < conf->num_routes; i++) {
        for (size_t j = 0; j < i; j++) {
            if (strcmp(conf->routes[i].domain, conf->routes[j].domain) == 0) {
                return conf_fail(ctx, config_setting_get_elem(list, (unsigned)i),
                                 "duplicate route for \"%s\"", conf->routes[i].domain);
            }
        }
    }
    return RC_OK;
}

static int cmp_policy(const void *a, const void *b) {
    return strcmp(((const rt_conf_policy_t *)a)->domain, ((const rt_conf_policy_t *)b)->domain);
}

// finish_policies lets each per-domain policy inherit the keys it does not set from s2s's
// default, sorts them by domain and rejects duplicates.
static rc_t finish_policies(conf_ctx_t *ctx, const config_t *cf, rt_conf_t *conf) {
    const config_setting_t *list = config_setting_get_member(config_root_setting(cf), "policies");
    const dna_policy_t *def = &conf->policy_default;
    for (size_t i = 0; i < conf->num_policies; i++) {
        const config_setting_t *e = config_setting_get_elem(list, (unsigned)i);
        dna_policy_t *p = &conf->policies[i].policy;
        if (config_setting_get_member(e, "prooftypes") == NULL) {
            memcpy(p->order, def->order, sizeof(p->order));
            p->num_order = def->num_order;
        }
        if (config_setting_get_member(e, "dialback_without_proof") == NULL) {
            p->allow_dialback_without_proof = def->allow_dialback_without_proof;
        }
        if (config_setting_get_member(e, "on_failure") == NULL) {
            p->on_failure = def->on_failure;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(conf->policies[i].domain, conf->policies[j].domain) == 0) {
                return conf_fail(ctx, e, "duplicate policy for \"%s\"", conf->policies[i].domain);
            }
        }
    }
    if (conf->num_policies > 1) {
        qsort(conf->policies, conf->num_policies, sizeof(*conf->policies), cmp_policy);
    }
    return RC_OK;
}

static rc_t finish(conf_ctx_t *ctx, const config_t *cf, rt_conf_t *conf, bool workers_set) {
    rc_t rc;
    if (!workers_set) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        conf->workers = cpus < 1 ? 1 : cpus > CONF_WORKERS_MAX ? CONF_WORKERS_MAX : (uint32_t)cpus;
    }
    if (conf->max_queue_bytes < conf->max_stanza_size) {
        const config_setting_t *s = config_lookup(cf, "s2s.max_queue_bytes");
        return conf_fail(ctx, s ? s : config_lookup(cf, "s2s"),
                         "'max_queue_bytes' (%zu) must be at least 'max_stanza_size' (%zu)",
                         conf->max_queue_bytes, conf->max_stanza_size);
    }
    if ((rc = finish_domains(ctx, cf, conf)) != RC_OK) {
        return rc;
    }
    if ((rc = finish_routes(ctx, cf, conf)) != RC_OK) {
        return rc;
    }
    if ((rc = finish_policies(ctx, cf, conf)) != RC_OK) {
        return rc;
    }
    if (conf->max_total_queue_bytes < conf->max_queue_bytes) {
        const config_setting_t *s = config_lookup(cf, "s2s.max_total_queue_bytes");
        return conf_fail(ctx, s ? s : config_lookup(cf, "s2s"),
                         "'max_total_queue_bytes' (%zu) must be at least 'max_queue_bytes' (%zu)",
                         conf->max_total_queue_bytes, conf->max_queue_bytes);
    }
    if (conf->dialback_secret == NULL) {
        uint8_t raw[CONF_SECRET_BYTES];
        char hex[2 * CONF_SECRET_BYTES + 1];
        if (RAND_bytes(raw, sizeof(raw)) != 1) {
            return conf_fail(ctx, NULL, "cannot generate a random dialback secret");
        }
        core_hex_encode(hex, raw, sizeof(raw));
        conf->dialback_secret = core_xstrdup(hex);
        core_memset(raw, 0, sizeof(raw));
        core_memset(hex, 0, sizeof(hex));
        CORE_LOG(CORE_LOG_INFO, CORE_LOG_SRC_CONF,
                 "s2s.dialback_secret not set: using a random secret; dialback keys will not "
                 "verify across restarts or other cluster nodes");
    }
    return RC_OK;
}

// conf_dir returns the absolute directory of |path| (owned), or NULL with errno set.
static char *conf_dir(const char *path) {
    const char *slash = strrchr(path, '/');
    char *dir = NULL;
    char *abs = NULL;
    if (slash == NULL) {
        dir = core_xstrdup(".");
    } else if (slash == path) {
        dir = core_xstrdup("/");
    } else {
        dir = core_xstrndup(path, (size_t)(slash - path));
    }
    abs = realpath(dir, NULL);
    free(dir);
    return abs;
}

rc_t rt_conf_load(const char *path, rt_conf_t **out, char *err, size_t err_len) {
    conf_ctx_t ctx = {.path = path, .dir = NULL, .err = err, .err_len = err_len};
    config_t cf;
    rt_conf_t *conf = NULL;
    rc_t rc = RC_OK;
    *out = NULL;
    if (err != NULL && err_len > 0) {
        err[0] = '\0';
    }
    config_init(&cf);
    ctx.dir = conf_dir(path);
    if (ctx.dir == NULL) {
        rc = conf_fail(&ctx, NULL, "cannot resolve the directory: %s", strerror(errno));
        goto out;
    }
    config_set_include_dir(&cf, ctx.dir);
    if (!config_read_file(&cf, path)) {
        if (config_error_type(&cf) == CONFIG_ERR_FILE_IO) {
            rc = conf_fail(&ctx, NULL, "cannot read the file: %s", strerror(errno));
        } else {
            int line = config_error_line(&cf);
            rc = conf_fail_at(&ctx, config_error_file(&cf) ? config_error_file(&cf) : path,
                              line > 0 ? (unsigned)line : 0, "%s", config_error_text(&cf));
        }
        goto out;
    }
    conf = core_xcalloc(1, sizeof(*conf));
    const config_setting_t *root = config_root_setting(&cf);
    rc = apply_section(&ctx, root, &root_section, conf);
    if (rc != RC_OK) {
        goto out;
    }
    rc = finish(&ctx, &cf, conf, config_setting_get_member(root, "workers") != NULL);
    if (rc != RC_OK) {
        goto out;
    }
    *out = conf;
    conf = NULL;
out:
    rt_conf_free(conf);
    config_destroy(&cf);
    free(ctx.dir);
    return rc;
}

static void free_secret(char *s) {
    if (s != NULL) {
        core_memset(s, 0, strlen(s));
        free(s);
    }
}

void rt_conf_free(rt_conf_t *conf) {
    if (conf == NULL) {
        return;
    }
    free(conf->s2s_listen);
    free(conf->s2s_listen_tls);
    free(conf->ca_file);
    free_secret(conf->dialback_secret);
    free(conf->resolver);
    free(conf->comp_listen);
    free(conf->admin_socket);
    for (size_t i = 0; i < conf->num_certs; i++) {
        free(conf->certs[i].cert_file);
        free(conf->certs[i].key_file);
        for (size_t j = 0; j < conf->certs[i].num_domains; j++) {
            free(conf->certs[i].domains[j]);
        }
        free(conf->certs[i].domains);
    }
    free(conf->certs);
    for (size_t i = 0; i < conf->num_domains; i++) {
        free(conf->domains[i].name);
        free_secret(conf->domains[i].secret);
    }
    free(conf->domains);
    for (size_t i = 0; i < conf->num_routes; i++) {
        free(conf->routes[i].domain);
        free(conf->routes[i].host);
    }
    free(conf->routes);
    for (size_t i = 0; i < conf->num_policies; i++) {
        free(conf->policies[i].domain);
    }
    free(conf->policies);
    free(conf);
}

const dna_policy_t *rt_conf_policy(const rt_conf_t *conf, const char *domain) {
    size_t lo = 0;
    size_t hi = conf->num_policies;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(domain, conf->policies[mid].domain);
        if (c == 0) {
            return &conf->policies[mid].policy;
        }
        if (c < 0) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    return &conf->policy_default;
}

const rt_conf_domain_t *rt_conf_domain(const rt_conf_t *conf, const char *name) {
    size_t lo = 0;
    size_t hi = conf->num_domains;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, conf->domains[mid].name);
        if (c == 0) {
            return &conf->domains[mid];
        }
        if (c < 0) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    return NULL;
}

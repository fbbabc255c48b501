// test_posh_fetch.c: router/posh_fetch.c against a real nginx on 127.0.0.1 (Debian nginx-light),
// with a throw-away test CA made by the openssl CLI. Skips (77) without nginx or openssl.
//
// Host names are all *.posh.test; the resolver stub maps every host to 127.0.0.1 and the
// fetcher's default port is nginx's port. nginx serves DIR/www/$host/... and a few server blocks
// for redirects, a wrong-name certificate and an untrusted certificate. Requests are counted in
// nginx's access log ("$host $request_uri" per line) and by the resolver stub.
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "router/core/bytes.h"
#include "router/core/log.h"
#include "router/posh_fetch.h"
#include "tests/support/t.h"

static char g_dir[256];
static pid_t g_nginx = -1;
static uint16_t g_port;

// ---- process and file helpers -------------------------------------------------------------------

static void cleanup(void) {
    if (g_nginx > 0) {
        kill(g_nginx, SIGTERM);
        waitpid(g_nginx, NULL, 0);
        g_nginx = -1;
    }
    if (g_dir[0] != '\0' && getenv("T_KEEP") == NULL) {
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
        if (system(cmd) != 0) {
            fprintf(stderr, "cleanup of %s failed\n", g_dir);
        }
        g_dir[0] = '\0';
    }
}

static void write_file(const char *rel, const char *data, size_t len) {
    char path[512];
    char cmd[600];
    snprintf(path, sizeof(path), "%s/%s", g_dir, rel);
    char *slash = strrchr(path, '/');
    *slash = '\0';
    snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", path);
    T_ASSERT(system(cmd) == 0);
    *slash = '/';
    FILE *f = fopen(path, "wb");
    T_ASSERT(f != NULL);
    T_ASSERT(fwrite(data, 1, len, f) == len);
    T_ASSERT(fclose(f) == 0);
}

static void write_str(const char *rel, const char *fmt, ...) RT_PRINTF(2, 3);
static void write_str(const char *rel, const char *fmt, ...) {
    char buf[8192];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    T_ASSERT(n > 0 && (size_t)n < sizeof(buf));
    write_file(rel, buf, (size_t)n);
}

static void run(const char *fmt, ...) RT_PRINTF(1, 2);
static void run(const char *fmt, ...) {
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    if (system(cmd) != 0) {
        fprintf(stderr, "command failed: %s\n", cmd);
        exit(1);
    }
}

static uint16_t free_port(int *keep_fd, bool keep_listening) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    T_ASSERT(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    T_ASSERT(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    socklen_t sl = sizeof(sa);
    T_ASSERT(getsockname(fd, (struct sockaddr *)&sa, &sl) == 0);
    if (keep_listening) {
        T_ASSERT(listen(fd, 16) == 0);
        *keep_fd = fd;
    } else {
        close(fd);
    }
    return ntohs(sa.sin_port);
}

static uint64_t mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

// access_count counts access-log lines for |host| (nginx writes them when a request ends).
static int access_count(const char *host) {
    char path[300];
    char line[1024];
    int n = 0;
    usleep(150 * 1000);
    snprintf(path, sizeof(path), "%s/access.log", g_dir);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return 0;
    }
    size_t hl = strlen(host);
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, host, hl) == 0 && line[hl] == ' ') {
            n++;
        }
    }
    fclose(f);
    return n;
}

// ---- loop: fd table, resolver stub -------------------------------------------------------------

typedef struct watch_ent {
    int fd;
    bool r, w;
} watch_ent_t;

static watch_ent_t g_watch[64];
static size_t g_num_watch;

static void on_watch(void *loop_ctx, int fd, bool r, bool w) {
    (void)loop_ctx;
    for (size_t i = 0; i < g_num_watch; i++) {
        if (g_watch[i].fd == fd) {
            if (!r && !w) {
                g_watch[i] = g_watch[--g_num_watch];
            } else {
                g_watch[i].r = r;
                g_watch[i].w = w;
            }
            return;
        }
    }
    if (r || w) {
        T_ASSERT(g_num_watch < RT_ARRAY_LEN(g_watch));
        g_watch[g_num_watch++] = (watch_ent_t){fd, r, w};
    }
}

typedef struct stub_req {
    rt_posh_resolved_cb cb;
    void *cbctx;
    uint16_t port;
    bool live;
    rc_t rc; // RC_OK: 127.0.0.1; else this answer with no address ("nx.*", "dnsfail.*")
} stub_req_t;

static stub_req_t g_stub[64];
static size_t g_num_stub;
static int g_resolves;
static bool g_in_resolve;

static rc_t stub_resolve(void *rctx, const char *host, uint16_t port, rt_posh_resolved_cb cb,
                         void *cbctx) {
    (void)rctx;
    T_ASSERT(g_num_stub < RT_ARRAY_LEN(g_stub));
    rc_t rc = strncmp(host, "nx.", 3) == 0        ? RC_DNS_NOT_FOUND
              : strncmp(host, "dnsfail.", 8) == 0 ? RC_DNS_FAIL
                                                  : RC_OK;
    g_stub[g_num_stub++] = (stub_req_t){cb, cbctx, port, true, rc};
    g_resolves++;
    return RC_OK;
}

static void stub_cancel(void *rctx, void *cbctx) {
    (void)rctx;
    for (size_t i = 0; i < g_num_stub; i++) {
        if (g_stub[i].cbctx == cbctx) {
            g_stub[i].live = false;
        }
    }
}

// stub_deliver answers every pending resolution with 127.0.0.1 (never from inside resolve).
static void stub_deliver(void) {
    stub_req_t pending[64];
    size_t n = g_num_stub;
    memcpy(pending, g_stub, n * sizeof(pending[0]));
    g_num_stub = 0;
    for (size_t i = 0; i < n; i++) {
        if (!pending[i].live) {
            continue;
        }
        // A cancel issued while delivering earlier entries must still be honoured.
        struct sockaddr_storage ss = {0};
        struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
        sin->sin_family = AF_INET;
        sin->sin_port = htons(pending[i].port);
        sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof(*sin);
        g_in_resolve = true;
        if (pending[i].rc != RC_OK) {
            pending[i].cb(pending[i].cbctx, pending[i].rc, NULL, NULL, 0);
            g_in_resolve = false;
            continue;
        }
        pending[i].cb(pending[i].cbctx, RC_OK, &ss, &len, 1);
        g_in_resolve = false;
    }
}

// ---- results -----------------------------------------------------------------------------------

typedef struct outcome {
    int calls;
    rt_posh_status_t status;
    uint64_t ttl_s;
    bool from_cache;
    bool has_doc;
    dna_posh_doc_t doc;
    char why[256];
    char url[RT_POSH_SOURCE_URL_MAX + 1];
} outcome_t;

static void on_result(void *ctx, const rt_posh_result_t *res) {
    outcome_t *o = ctx;
    o->calls++;
    o->status = res->status;
    o->ttl_s = res->ttl_s;
    o->from_cache = res->from_cache;
    o->has_doc = res->doc != NULL;
    if (res->doc != NULL) {
        o->doc = *res->doc;
    }
    snprintf(o->why, sizeof(o->why), "%s", res->why != NULL ? res->why : "(null)");
    snprintf(o->url, sizeof(o->url), "%s", res->source_url);
    fprintf(stderr, "  result %s: status %d ttl %llu cache %d why \"%s\" url \"%s\"\n",
            res->domain, (int)res->status, (unsigned long long)res->ttl_s, (int)res->from_cache,
            o->why, o->url);
}

// loop_until runs the loop until every outcome in |os| has been called or |max_ms| passed.
static void loop_until(rt_posh_t *p, outcome_t **os, size_t n, uint32_t max_ms) {
    uint64_t end = mono_ms() + max_ms;
    for (;;) {
        bool all = true;
        for (size_t i = 0; i < n; i++) {
            all = all && os[i]->calls > 0;
        }
        if (all || mono_ms() >= end) {
            return;
        }
        stub_deliver();
        struct pollfd pfd[64];
        size_t num = g_num_watch;
        for (size_t i = 0; i < num; i++) {
            pfd[i].fd = g_watch[i].fd;
            pfd[i].events = (short)((g_watch[i].r ? POLLIN : 0) | (g_watch[i].w ? POLLOUT : 0));
            pfd[i].revents = 0;
        }
        uint32_t to = rt_posh_next_timeout_ms(p, 50);
        if (g_num_stub > 0) {
            to = 0;
        }
        int r = poll(pfd, num, (int)to);
        T_ASSERT(r >= 0 || errno == EINTR);
        for (size_t i = 0; i < num && r > 0; i++) {
            if (pfd[i].revents != 0) {
                bool rd = (pfd[i].revents & (POLLIN | POLLHUP | POLLERR)) != 0;
                bool wr = (pfd[i].revents & (POLLOUT | POLLHUP | POLLERR)) != 0;
                rt_posh_process(p, pfd[i].fd, rd, wr);
            }
        }
        rt_posh_tick(p, mono_ms());
    }
}

static void fetch_wait(rt_posh_t *p, const char *domain, outcome_t *o) {
    memset(o, 0, sizeof(*o));
    T_ASSERT(rt_posh_fetch(p, domain, on_result, o) == RC_OK);
    T_ASSERT_EQ(o->calls, 0); // never synchronous
    loop_until(p, &o, 1, 8000);
    T_ASSERT_EQ(o->calls, 1);
}

static void expect(rt_posh_t *p, const char *domain, rt_posh_status_t st, const char *why_part) {
    outcome_t o;
    fprintf(stderr, "fetch %s\n", domain);
    fetch_wait(p, domain, &o);
    T_ASSERT_EQ(o.status, st);
    if (why_part != NULL && strstr(o.why, why_part) == NULL) {
        fprintf(stderr, "why \"%s\" lacks \"%s\"\n", o.why, why_part);
        exit(1);
    }
}

// ---- fixture -----------------------------------------------------------------------------------

static const char k_ext[] = "basicConstraints=CA:FALSE\n"
                            "keyUsage=digitalSignature\n"
                            "extendedKeyUsage=serverAuth\n";

static void make_certs(void) {
    run("cd '%s' && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
        "-keyout ca.key -out ca.pem -days 2 -subj /CN=posh-test-ca 2>/dev/null",
        g_dir);
    write_str("srv.ext", "%ssubjectAltName=DNS:*.posh.test,DNS:posh.test\n", k_ext);
    write_str("wrong.ext", "%ssubjectAltName=DNS:other.example\n", k_ext);
    const char *leaves[] = {"srv", "wrong"};
    for (size_t i = 0; i < 2; i++) {
        run("cd '%s' && openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
            "-keyout %s.key -out %s.csr -subj /CN=posh-test 2>/dev/null && "
            "openssl x509 -req -in %s.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 "
            "-extfile %s.ext -out %s.pem 2>/dev/null",
            g_dir, leaves[i], leaves[i], leaves[i], leaves[i], leaves[i]);
    }
    // Untrusted: a self-signed certificate that names every test host.
    run("cd '%s' && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
        "-keyout self.key -out self.pem -days 2 -subj /CN=posh.test "
        "-addext subjectAltName=DNS:*.posh.test 2>/dev/null",
        g_dir);
}

// cert_sha256 returns the SHA-256 of the DER of DIR/|name| (the "XMPP server certificate" whose
// fingerprint the documents publish) and its base64 in |b64|.
static void cert_sha256(const char *name, uint8_t out[32], char b64[64]) {
    char path[300];
    snprintf(path, sizeof(path), "%s/%s", g_dir, name);
    FILE *f = fopen(path, "r");
    T_ASSERT(f != NULL);
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    T_ASSERT(x != NULL);
    uint8_t *der = NULL;
    int len = i2d_X509(x, &der);
    T_ASSERT(len > 0);
    SHA256(der, (size_t)len, out);
    OPENSSL_free(der);
    X509_free(x);
    core_b64_encode(b64, out, 32);
}

static void server_block(char *buf, size_t cap, const char *name, const char *cert,
                         const char *body) {
    size_t l = strlen(buf);
    snprintf(buf + l, cap - l,
             "  server {\n    listen 127.0.0.1:%u ssl;\n    server_name %s;\n"
             "    ssl_certificate %s/%s.pem;\n    ssl_certificate_key %s/%s.key;\n%s  }\n",
             (unsigned)g_port, name, g_dir, cert, g_dir, cert, body);
}

static void start_nginx(void) {
    static char conf[16384];
    char body[2048];
    snprintf(conf, sizeof(conf),
             "master_process off;\nworker_processes 1;\npid %s/nginx.pid;\n"
             "error_log %s/error.log info;\nevents { worker_connections 64; }\n"
             "http {\n  log_format hostlog '$host $request_uri';\n"
             "  access_log %s/access.log hostlog;\n"
             "  client_body_temp_path %s/tmp;\n"
             "  types { application/json json; }\n  default_type application/json;\n"
             "  ssl_protocols TLSv1.2 TLSv1.3;\n",
             g_dir, g_dir, g_dir, g_dir);
    snprintf(body, sizeof(body), "    root %s/www/$host;\n", g_dir);
    server_block(conf, sizeof(conf), "_", "srv", body);
    // Two redirects (relative, then cross-host 307), within max_redirects = 3.
    snprintf(body, sizeof(body),
             "    location = /.well-known/posh/xmpp-server.json { return 301 /a; }\n"
             "    location = /a { return 307 https://good.posh.test:%u/.well-known/posh/"
             "xmpp-server.json; }\n",
             (unsigned)g_port);
    server_block(conf, sizeof(conf), "redir.posh.test", "srv", body);
    // Four redirects: over the limit.
    server_block(conf, sizeof(conf), "chain.posh.test", "srv",
                 "    location = /.well-known/posh/xmpp-server.json { return 302 /r1; }\n"
                 "    location = /r1 { return 302 /r2; }\n"
                 "    location = /r2 { return 303 /r3; }\n"
                 "    location = /r3 { return 308 /r4; }\n"
                 "    location = /r4 { return 200 '{}'; }\n");
    server_block(conf, sizeof(conf), "loop.posh.test", "srv",
                 "    location = /.well-known/posh/xmpp-server.json { return 302 /x; }\n"
                 "    location = /x { return 302 /.well-known/posh/xmpp-server.json; }\n");
    server_block(conf, sizeof(conf), "http.posh.test", "srv",
                 "    location / { return 302 http://good.posh.test/.well-known/posh/"
                 "xmpp-server.json; }\n");
    server_block(conf, sizeof(conf), "fail.posh.test", "srv", "    location / { return 503; }\n");
    snprintf(body, sizeof(body), "    root %s/www/good.posh.test;\n", g_dir);
    server_block(conf, sizeof(conf), "wrongname.posh.test", "wrong", body);
    server_block(conf, sizeof(conf), "untrusted.posh.test", "self", body);
    size_t l = strlen(conf);
    snprintf(conf + l, sizeof(conf) - l, "}\n");
    write_str("nginx.conf", "%s", conf);
    run("mkdir -p '%s/tmp'", g_dir);

    char conf_path[300];
    char err_path[300];
    snprintf(conf_path, sizeof(conf_path), "%s/nginx.conf", g_dir);
    snprintf(err_path, sizeof(err_path), "%s/error.log", g_dir);
    g_nginx = fork();
    T_ASSERT(g_nginx >= 0);
    if (g_nginx == 0) {
        int devnull = open("/dev/null", O_RDWR);
        if (devnull >= 0) {
            dup2(devnull, 0);
        }
        execl("/usr/sbin/nginx", "nginx", "-p", g_dir, "-c", conf_path, "-e", err_path, "-g",
              "daemon off;", (char *)NULL);
        _exit(127);
    }
    // Wait until it listens.
    uint64_t end = mono_ms() + 10000;
    for (;;) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(g_port)};
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
        close(fd);
        if (ok == 0) {
            break;
        }
        int st = 0;
        if (waitpid(g_nginx, &st, WNOHANG) == g_nginx) {
            g_nginx = -1;
            run("cat '%s'", err_path);
            fprintf(stderr, "nginx exited\n");
            exit(1);
        }
        T_ASSERT(mono_ms() < end);
        usleep(20 * 1000);
    }
}

static rt_posh_t *new_fetcher(uint16_t port, uint32_t timeout_ms) {
    char ca[300];
    snprintf(ca, sizeof(ca), "%s/ca.pem", g_dir);
    rt_posh_conf_t conf = {
        .ca_file = ca,
        .port = port,
        .timeout_ms = timeout_ms,
        .max_redirects = 3,
        .max_ttl_s = 3600,
        .resolver = {.resolve = stub_resolve, .cancel = stub_cancel, .rctx = NULL},
    };
    rt_posh_t *p = rt_posh_new(&conf, on_watch, NULL);
    T_ASSERT(p != NULL);
    return p;
}

int main(void) {
    if (access("/usr/sbin/nginx", X_OK) != 0 || access("/usr/bin/openssl", X_OK) != 0) {
        fprintf(stderr, "skip: nginx or openssl missing\n");
        return T_SKIP;
    }
    signal(SIGPIPE, SIG_IGN);
    core_log_set_level(CORE_LOG_DEBUG);
    snprintf(g_dir, sizeof(g_dir), "/tmp/posh_fetch.XXXXXX");
    T_ASSERT(mkdtemp(g_dir) != NULL);
    atexit(cleanup);
    g_port = free_port(NULL, false);
    make_certs();

    uint8_t fp[32];
    char fp_b64[64];
    cert_sha256("wrong.pem", fp, fp_b64); // any certificate: the test only compares digests
    char fps_doc[256];
    snprintf(fps_doc, sizeof(fps_doc),
             "{\"fingerprints\":[{\"sha-256\":\"%s\"}],\"expires\":604800}", fp_b64);
    const char *wk = ".well-known/posh/xmpp-server.json";
    char rel[256];
#define DOC(host, ...)                                                                             \
    do {                                                                                           \
        snprintf(rel, sizeof(rel), "www/%s/%s", host, wk);                                         \
        write_str(rel, __VA_ARGS__);                                                               \
    } while (0)
    DOC("good.posh.test", "%s", fps_doc);
    DOC("coal.posh.test", "%s", fps_doc);
    DOC("cancel.posh.test", "%s", fps_doc);
    DOC("zero.posh.test", "{\"fingerprints\":[{\"sha-256\":\"%s\"}],\"expires\":0}", fp_b64);
    DOC("bad.posh.test", "{\"fingerprints\":[{\"sha-256\":\"%s\"}],\"expires\":", fp_b64);
    // Reference (to another host, with its own port) and a reference to a reference.
    DOC("ref.posh.test", "{\"url\":\"https://hosting.posh.test:%u/fps/a.json\",\"expires\":1000}",
        (unsigned)g_port);
    write_str("www/hosting.posh.test/fps/a.json", "%s", fps_doc);
    DOC("refref.posh.test",
        "{\"url\":\"https://ref.posh.test:%u/.well-known/posh/xmpp-server.json\",\"expires\":1000}",
        (unsigned)g_port);
    // Oversized (valid JSON padded with spaces past DNA_POSH_DOC_MAX).
    {
        size_t big_len = DNA_POSH_DOC_MAX + 100;
        char *big = malloc(big_len);
        T_ASSERT(big != NULL);
        memset(big, ' ', big_len);
        memcpy(big, fps_doc, strlen(fps_doc));
        snprintf(rel, sizeof(rel), "www/big.posh.test/%s", wk);
        write_file(rel, big, big_len);
        free(big);
    }
    start_nginx();

    rt_posh_t *p = new_fetcher(g_port, 4000);
    outcome_t o;

    // Fingerprints document: FOUND, the right digest, ttl = expires capped at max_ttl_s.
    fprintf(stderr, "fetch good.posh.test\n");
    fetch_wait(p, "good.posh.test", &o);
    T_ASSERT_EQ(o.status, RT_POSH_FOUND);
    T_ASSERT(o.has_doc && !o.from_cache);
    T_ASSERT_EQ(o.doc.kind, DNA_POSH_KIND_FINGERPRINTS);
    T_ASSERT_EQ(o.doc.num_fps, 1);
    T_ASSERT(o.doc.fps[0].has_sha256 && memcmp(o.doc.fps[0].sha256, fp, 32) == 0);
    T_ASSERT_EQ(o.ttl_s, 3600);
    char want[512];
    snprintf(want, sizeof(want), "https://good.posh.test:%u/%s", (unsigned)g_port, wk);
    T_ASSERT_STREQ(o.url, want);

    // Cache hit: no new resolution, no new request, deferred to the loop, same material.
    int resolves = g_resolves;
    int hits = access_count("good.posh.test");
    T_ASSERT_EQ(hits, 1);
    fetch_wait(p, "GOOD.posh.test.", &o); // normalised to the same key
    T_ASSERT_EQ(o.status, RT_POSH_FOUND);
    T_ASSERT(o.from_cache && o.has_doc && memcmp(o.doc.fps[0].sha256, fp, 32) == 0);
    T_ASSERT(o.ttl_s > 3590 && o.ttl_s <= 3600);
    T_ASSERT_STREQ(o.url, want);
    T_ASSERT_EQ(g_resolves, resolves);
    T_ASSERT_EQ(access_count("good.posh.test"), hits);

    // 404 and expires 0 -> NONE; malformed and oversized -> INVALID; 5xx -> TEMPFAIL.
    expect(p, "missing.posh.test", RT_POSH_NONE, "404");
    // The domain has no address: no POSH document (an answer); a resolver failure: try later.
    expect(p, "nx.posh.test", RT_POSH_NONE, "no address");
    expect(p, "dnsfail.posh.test", RT_POSH_TEMPFAIL, "cannot resolve");
    expect(p, "zero.posh.test", RT_POSH_NONE, "expires 0");
    expect(p, "bad.posh.test", RT_POSH_INVALID, "malformed POSH");
    expect(p, "big.posh.test", RT_POSH_INVALID, "limit");
    expect(p, "fail.posh.test", RT_POSH_TEMPFAIL, "HTTP 503");

    // Reference to another host: FOUND from the referenced URL, ttl = the lower expires.
    fprintf(stderr, "fetch ref.posh.test\n");
    fetch_wait(p, "ref.posh.test", &o);
    T_ASSERT_EQ(o.status, RT_POSH_FOUND);
    T_ASSERT(o.has_doc && memcmp(o.doc.fps[0].sha256, fp, 32) == 0);
    T_ASSERT_EQ(o.ttl_s, 1000);
    snprintf(want, sizeof(want), "https://hosting.posh.test:%u/fps/a.json", (unsigned)g_port);
    T_ASSERT_STREQ(o.url, want);
    expect(p, "refref.posh.test", RT_POSH_INVALID, "another reference");

    // Redirects: two followed (relative 301, then 307 to another host); four -> INVALID; a loop
    // -> INVALID; to http:// -> INVALID.
    fprintf(stderr, "fetch redir.posh.test\n");
    fetch_wait(p, "redir.posh.test", &o);
    T_ASSERT_EQ(o.status, RT_POSH_FOUND);
    snprintf(want, sizeof(want), "https://good.posh.test:%u/%s", (unsigned)g_port, wk);
    T_ASSERT_STREQ(o.url, want);
    T_ASSERT_EQ(o.ttl_s, 3600);
    expect(p, "chain.posh.test", RT_POSH_INVALID, "more than 3 redirects");
    T_ASSERT_EQ(access_count("chain.posh.test"), 4); // the 4th redirect is not followed
    expect(p, "loop.posh.test", RT_POSH_INVALID, "loop");
    expect(p, "http.posh.test", RT_POSH_INVALID, "not https");

    // HTTPS certificate for another name, or not from the trust store -> INVALID.
    expect(p, "wrongname.posh.test", RT_POSH_INVALID, "certificate");
    expect(p, "untrusted.posh.test", RT_POSH_INVALID, "certificate");
    T_ASSERT_EQ(access_count("wrongname.posh.test"), 0);

    // Failures are cached too (briefly): a second fetch does not resolve again.
    resolves = g_resolves;
    fetch_wait(p, "untrusted.posh.test", &o);
    T_ASSERT(o.status == RT_POSH_INVALID && o.from_cache);
    T_ASSERT_EQ(g_resolves, resolves);

    // Coalescing: three callers, one resolution, one request, three callbacks.
    {
        outcome_t c[3];
        outcome_t *cp[3] = {&c[0], &c[1], &c[2]};
        memset(c, 0, sizeof(c));
        resolves = g_resolves;
        for (size_t i = 0; i < 3; i++) {
            T_ASSERT(rt_posh_fetch(p, "coal.posh.test", on_result, &c[i]) == RC_OK);
        }
        loop_until(p, cp, 3, 8000);
        for (size_t i = 0; i < 3; i++) {
            T_ASSERT_EQ(c[i].calls, 1);
            T_ASSERT_EQ(c[i].status, RT_POSH_FOUND);
            T_ASSERT(!c[i].from_cache);
        }
        T_ASSERT_EQ(g_resolves, resolves + 1);
        T_ASSERT_EQ(access_count("coal.posh.test"), 1);
    }

    // Cancel: of a waiter on a running retrieval, and of a deferred cache hit.
    {
        outcome_t a = {0};
        outcome_t b = {0};
        outcome_t *bp = &b;
        T_ASSERT(rt_posh_fetch(p, "cancel.posh.test", on_result, &a) == RC_OK);
        T_ASSERT(rt_posh_fetch(p, "cancel.posh.test", on_result, &b) == RC_OK);
        rt_posh_cancel(p, &a);
        loop_until(p, &bp, 1, 8000);
        T_ASSERT_EQ(b.calls, 1);
        T_ASSERT_EQ(b.status, RT_POSH_FOUND);
        T_ASSERT_EQ(a.calls, 0);
        outcome_t h = {0};
        T_ASSERT(rt_posh_fetch(p, "good.posh.test", on_result, &h) == RC_OK);
        rt_posh_cancel(p, &h);
        T_ASSERT_EQ(rt_posh_next_timeout_ms(p, 50), 0); // the cancelled hit is still queued
        rt_posh_tick(p, mono_ms());
        loop_until(p, &bp, 1, 100);
        T_ASSERT_EQ(h.calls, 0);
        T_ASSERT_EQ(a.calls, 0);
    }

    // Bad input is refused at once, without a callback.
    T_ASSERT_EQ(rt_posh_fetch(p, "127.0.0.1", on_result, &o), RC_DNA_BAD_NAME);
    T_ASSERT_EQ(rt_posh_fetch(p, "bad..name", on_result, &o), RC_DNA_BAD_NAME);
    rt_posh_free(p);
    T_ASSERT_EQ(g_num_watch, 0);

    // A server that accepts and never speaks: TEMPFAIL when the timeout fires, not before, and
    // the loop kept running (poll never blocked longer than the fetcher asked).
    {
        int lfd = -1;
        uint16_t slow_port = free_port(&lfd, true);
        rt_posh_t *ps = new_fetcher(slow_port, 600);
        uint64_t t0 = mono_ms();
        expect(ps, "slow.posh.test", RT_POSH_TEMPFAIL, "timed out");
        uint64_t took = mono_ms() - t0;
        T_ASSERT(took >= 550 && took < 3000);
        // Freeing with a retrieval pending runs its callback with TEMPFAIL.
        outcome_t f = {0};
        T_ASSERT(rt_posh_fetch(ps, "slow2.posh.test", on_result, &f) == RC_OK);
        stub_deliver(); // connect starts
        rt_posh_free(ps);
        T_ASSERT_EQ(f.calls, 1);
        T_ASSERT_EQ(f.status, RT_POSH_TEMPFAIL);
        T_ASSERT(strstr(f.why, "shutting down") != NULL);
        T_ASSERT_EQ(g_num_watch, 0);
        close(lfd);
    }
    // Nothing listens: TEMPFAIL from the refused connection, long before the timeout.
    {
        uint16_t closed_port = free_port(NULL, false);
        rt_posh_t *pr = new_fetcher(closed_port, 5000);
        uint64_t t0 = mono_ms();
        expect(pr, "refused.posh.test", RT_POSH_TEMPFAIL, "cannot connect");
        T_ASSERT(mono_ms() - t0 < 2000);
        rt_posh_free(pr);
        T_ASSERT_EQ(g_num_watch, 0);
    }
    T_ASSERT(!g_in_resolve);
    fprintf(stderr, "ok\n");
    return 0;
}

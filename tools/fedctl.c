// fedctl: talks to a running fedrouter over its admin socket (config admin.socket).
//
//   fedctl [-s SOCKET] [--json] peers | pairs | stats | reload
//          | verdicts [--domain D] [--peer IP[:PORT]] | verdicts-flush IP:PORT
//          | flush-peer IP:PORT | drain-peer IP:PORT | undrain-peer IP:PORT
//
// Sends one request line, reads one JSON object; prints it as is (--json) or as a table.
// Exit status: 0 ok, 1 the router answered an error or could not be reached, 2 usage.
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define FEDCTL_DEFAULT_SOCKET "/run/fedrouter/admin.sock"
#define FEDCTL_MAX_ANSWER (256u * 1024 * 1024)
#define FEDCTL_MAX_DEPTH 32

// ---- a small JSON reader (the router's answers only) ----------------------------------------------
typedef enum jkind { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ } jkind_t;

typedef struct jval {
    jkind_t kind;
    char *str;           // J_STR: unescaped text; J_NUM: the literal; J_BOOL: "true"/"false"
    struct jval **items; // J_ARR, J_OBJ (values)
    char **keys;         // J_OBJ
    size_t num;
} jval_t;

typedef struct jparser {
    const char *p;
    const char *end;
} jparser_t;

static void jfree(jval_t *v) {
    if (v == NULL) {
        return;
    }
    for (size_t i = 0; i < v->num; i++) {
        jfree(v->items[i]);
        if (v->keys != NULL) {
            free(v->keys[i]);
        }
    }
    free(v->items);
    free(v->keys);
    free(v->str);
    free(v);
}

static void jskip(jparser_t *j) {
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\n' || *j->p == '\r' || *j->p == '\t')) {
        j->p++;
    }
}

static void *xrealloc(void *p, size_t n) {
    void *q = realloc(p, n);
    if (q == NULL) {
        fprintf(stderr, "fedctl: out of memory\n");
        exit(1);
    }
    return q;
}

static char *jstring(jparser_t *j) {
    if (j->p >= j->end || *j->p != '"') {
        return NULL;
    }
    j->p++;
    size_t cap = 16, len = 0;
    char *out = xrealloc(NULL, cap);
    while (j->p < j->end && *j->p != '"') {
        char c = *j->p++;
        if (c == '\\') {
            if (j->p >= j->end) {
                break;
            }
            char e = *j->p++;
            switch (e) {
            case 'n':
                c = '\n';
                break;
            case 't':
                c = '\t';
                break;
            case 'r':
                c = '\r';
                break;
            case 'u': { // \u00XX from the router (control bytes); others become '?'
                unsigned v = 0;
                for (int i = 0; i < 4 && j->p < j->end; i++, j->p++) {
                    char h = *j->p;
                    v = v * 16 + (unsigned)(h >= 'a' ? h - 'a' + 10 : h >= 'A' ? h - 'A' + 10 : h - '0');
                }
                c = v < 0x80 ? (char)v : '?';
                break;
            }
            default:
                c = e;
            }
        }
        if (len + 2 > cap) {
            cap *= 2;
            out = xrealloc(out, cap);
        }
        out[len++] = c;
    }
    if (j->p >= j->end) {
        free(out);
        return NULL;
    }
    j->p++;
    out[len] = '\0';
    return out;
}

static jval_t *jparse(jparser_t *j, int depth) {
    jskip(j);
    if (j->p >= j->end || depth > FEDCTL_MAX_DEPTH) {
        return NULL;
    }
    jval_t *v = xrealloc(NULL, sizeof(*v));
    memset(v, 0, sizeof(*v));
    char c = *j->p;
    if (c == '"') {
        v->kind = J_STR;
        if ((v->str = jstring(j)) == NULL) {
            goto bad;
        }
    } else if (c == '[' || c == '{') {
        bool obj = c == '{';
        v->kind = obj ? J_OBJ : J_ARR;
        j->p++;
        jskip(j);
        if (j->p < j->end && *j->p == (obj ? '}' : ']')) {
            j->p++;
            return v;
        }
        for (;;) {
            char *key = NULL;
            if (obj) {
                jskip(j);
                if ((key = jstring(j)) == NULL) {
                    goto bad;
                }
                jskip(j);
                if (j->p >= j->end || *j->p != ':') {
                    free(key);
                    goto bad;
                }
                j->p++;
            }
            jval_t *item = jparse(j, depth + 1);
            if (item == NULL) {
                free(key);
                goto bad;
            }
            v->items = xrealloc(v->items, (v->num + 1) * sizeof(*v->items));
            if (obj) {
                v->keys = xrealloc(v->keys, (v->num + 1) * sizeof(*v->keys));
                v->keys[v->num] = key;
            }
            v->items[v->num++] = item;
            jskip(j);
            if (j->p < j->end && *j->p == ',') {
                j->p++;
                continue;
            }
            if (j->p < j->end && *j->p == (obj ? '}' : ']')) {
                j->p++;
                return v;
            }
            goto bad;
        }
    } else {
        const char *s = j->p;
        while (j->p < j->end && strchr(",]} \n\r\t", *j->p) == NULL) {
            j->p++;
        }
        size_t n = (size_t)(j->p - s);
        if (n == 0) {
            goto bad;
        }
        v->str = xrealloc(NULL, n + 1);
        memcpy(v->str, s, n);
        v->str[n] = '\0';
        v->kind = strcmp(v->str, "null") == 0                                    ? J_NULL
                  : strcmp(v->str, "true") == 0 || strcmp(v->str, "false") == 0 ? J_BOOL
                                                                                  : J_NUM;
    }
    return v;
bad:
    jfree(v);
    return NULL;
}

static const jval_t *jget(const jval_t *o, const char *key) {
    if (o == NULL || o->kind != J_OBJ) {
        return NULL;
    }
    for (size_t i = 0; i < o->num; i++) {
        if (strcmp(o->keys[i], key) == 0) {
            return o->items[i];
        }
    }
    return NULL;
}

// jtext returns a field as text ("-" when absent or null).
static const char *jtext(const jval_t *o, const char *key) {
    const jval_t *v = jget(o, key);
    return v == NULL || v->kind == J_NULL || v->str == NULL ? "-" : v->str;
}

static bool jtrue(const jval_t *o, const char *key) {
    const jval_t *v = jget(o, key);
    return v != NULL && v->kind == J_BOOL && strcmp(v->str, "true") == 0;
}

// ---- output ---------------------------------------------------------------------------------------
static void counts_text(const jval_t *o, char *out, size_t cap) {
    snprintf(out, cap, "%s/%s/%s", jtext(o, "waiting"), jtext(o, "pending"), jtext(o, "valid"));
}

static void print_peers(const jval_t *peers) {
    printf("%-3s %-28s %-8s %-18s %s\n", "W", "PEER", "FAILURES", "WAITING(w/p/v)", "STREAMS");
    for (size_t i = 0; peers != NULL && i < peers->num; i++) {
        const jval_t *p = peers->items[i];
        const jval_t *streams = jget(p, "streams");
        char w[64];
        counts_text(jget(p, "waiting"), w, sizeof(w));
        printf("%-3s %-28s %-8s %-18s %zu%s\n", jtext(p, "worker"), jtext(p, "addr"),
               jtext(p, "failures"), w, streams != NULL ? streams->num : 0,
               jtrue(p, "draining") ? "  DRAINING" : "");
        for (size_t k = 0; streams != NULL && k < streams->num; k++) {
            const jval_t *s = streams->items[k];
            char pc[64];
            counts_text(jget(s, "pairs"), pc, sizeof(pc));
            printf("    stream %-6s %-12s %s -> %s  pairs(w/p/v) %s%s%s%s%s\n", jtext(s, "id"),
                   jtext(s, "state"), jtext(s, "local"), jtext(s, "remote"), pc,
                   jtrue(s, "tls") ? " tls" : "", jtrue(s, "bidi") ? " bidi" : "",
                   jtrue(s, "sm") ? " sm" : "", jtrue(s, "vconn") ? " vconn" : "");
        }
    }
}

static void print_pairs(const jval_t *pairs) {
    printf("%-3s %-3s %-24s %-24s %-8s %-22s %-6s %-6s %s\n", "W", "DIR", "LOCAL", "REMOTE",
           "STATE", "PEER", "STREAM", "QUEUED", "VERIFIED BY");
    for (size_t i = 0; pairs != NULL && i < pairs->num; i++) {
        const jval_t *p = pairs->items[i];
        const char *how = jtext(p, "mechanism");
        const char *proof = jtext(p, "prooftype");
        bool has_proof = strcmp(proof, "-") != 0;
        // Inbound pairs read remote -> local; outbound ones local -> remote.
        printf("%-3s %-3s %-24s %-24s %-8s %-22s %-6s %-6s %s%s%s%s%s\n", jtext(p, "worker"),
               jtext(p, "dir"), jtext(p, "local"), jtext(p, "remote"), jtext(p, "state"),
               jtext(p, "peer"), jtext(p, "stream"), jtext(p, "queued"), how,
               has_proof ? " (" : "", has_proof ? proof : "", has_proof ? ")" : "",
               jtrue(p, "piggybacked") && strcmp(how, "piggybacked") != 0 ? " piggybacked" : "");
    }
}

static void print_verdicts(const jval_t *root) {
    const jval_t *vs = jget(root, "verdicts");
    printf("%-24s %-17s %-28s %-8s %-8s %s\n", "PEER", "CERT(SHA-256)", "DOMAIN", "VERDICT",
           "PROOF", "LEFT(s)");
    for (size_t i = 0; vs != NULL && i < vs->num; i++) {
        const jval_t *v = vs->items[i];
        char fp[20];
        snprintf(fp, sizeof(fp), "%.16s", jtext(v, "fp")); // short: the first 8 bytes
        printf("%-24s %-17s %-28s %-8s %-8s %s\n", jtext(v, "peer"), fp, jtext(v, "domain"),
               jtrue(v, "positive") ? "positive" : "negative", jtext(v, "prooftype"),
               jtext(v, "expires_in_s"));
    }
    if (jtrue(root, "truncated")) {
        printf("(%s matched; only the first %zu are listed)\n", jtext(root, "total"),
               vs != NULL ? vs->num : 0);
    }
}

static void print_peer_op(const jval_t *root) {
    const char *cmd = jtext(root, "command");
    const jval_t *aff = jget(root, "affected");
    if (strcmp(cmd, "flush-peer") == 0) {
        printf("flushed %s verdicts\n", jtext(root, "flushed"));
    }
    if (aff == NULL || aff->num == 0) {
        printf("no stream to end: no such peer on any worker\n");
    }
    for (size_t i = 0; aff != NULL && i < aff->num; i++) {
        const jval_t *p = aff->items[i];
        const char *st = jtext(p, "streams");
        printf("w%s %s: ", jtext(p, "worker"), jtext(p, "addr"));
        if (strcmp(cmd, "flush-peer") == 0) {
            printf("ending %s streams (queued stanzas take a new one)\n", st);
        } else if (strcmp(cmd, "drain-peer") == 0) {
            printf("draining: no new pairs; %s streams end once their queues are out\n", st);
        } else {
            printf("no longer draining (%s streams)\n", st);
        }
    }
}

static void print_stats(const jval_t *stats) {
    for (size_t i = 0; stats != NULL && i < stats->num; i++) {
        const jval_t *s = stats->items[i];
        const char *labels = jtext(s, "labels");
        bool has = labels[0] != '\0' && strcmp(labels, "-") != 0;
        printf("%s%s%s%s %s\n", jtext(s, "name"), has ? "{" : "", has ? labels : "", has ? "}" : "",
               jtext(s, "value"));
    }
}

static void usage(FILE *f) {
    fprintf(f, "usage: fedctl [-s SOCKET] [--json] COMMAND [ARGS]\n"
               "  -s, --socket PATH   the router's admin socket (default " FEDCTL_DEFAULT_SOCKET ")\n"
               "  -j, --json          print the router's JSON answer as is\n"
               "commands:\n"
               "  peers                    peer addresses, their streams and pairs per state\n"
               "  pairs                    domain pairs in and out (state, peer, queued stanzas)\n"
               "                           and how each was verified (EXTERNAL, dialback,\n"
               "                           dialback-optimized, piggybacked; prooftype)\n"
               "  stats                    the /metrics counters and gauges (totals)\n"
               "  verdicts [--domain D] [--peer IP[:PORT]]\n"
               "                           the verdict table (peer, certificate, domain,\n"
               "                           positive/negative, prooftype, seconds left); a peer\n"
               "                           without port matches inbound (port 0) ones too\n"
               "  verdicts-flush IP:PORT   forget every verdict for that peer address\n"
               "  flush-peer IP:PORT       forget the peer's verdicts and end its streams; queued\n"
               "                           stanzas go out on a new stream, verified afresh\n"
               "  drain-peer IP:PORT       no new pairs on the peer (they use the domain's next\n"
               "                           address, else wait and bounce at s2s.stanza_timeout);\n"
               "                           its streams end once their queues are out\n"
               "  undrain-peer IP:PORT     end a drain\n"
               "  reload                   re-read the configuration and certificates (like\n"
               "                           SIGHUP); a refused one prints why and exits 1\n");
}

int main(int argc, char **argv) {
    const char *path = FEDCTL_DEFAULT_SOCKET;
    bool json = false;
    int opt;
    static const struct option longopts[] = {
        {"socket", required_argument, NULL, 's'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    while ((opt = getopt_long(argc, argv, "+s:jh", longopts, NULL)) != -1) {
        switch (opt) {
        case 's':
            path = optarg;
            break;
        case 'j':
            json = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return 2;
    }
    // The request line: the command and its arguments, space-separated.
    size_t req_len = 0;
    char req[512];
    for (int i = optind; i < argc; i++) {
        int n = snprintf(req + req_len, sizeof(req) - req_len, "%s%s", i > optind ? " " : "", argv[i]);
        if (n < 0 || (size_t)n >= sizeof(req) - req_len - 1) {
            fprintf(stderr, "fedctl: request too long\n");
            return 2;
        }
        req_len += (size_t)n;
    }
    req[req_len++] = '\n';

    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sun.sun_path)) {
        fprintf(stderr, "fedctl: socket path too long\n");
        return 2;
    }
    strcpy(sun.sun_path, path);
    int status = 1;
    char *ans = NULL;
    jval_t *root = NULL;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (const struct sockaddr *)&sun, sizeof(sun)) != 0) {
        fprintf(stderr, "fedctl: cannot connect to %s: %s\n", path, strerror(errno));
        goto out;
    }
    if (send(fd, req, req_len, MSG_NOSIGNAL) != (ssize_t)req_len) {
        fprintf(stderr, "fedctl: cannot send the request: %s\n", strerror(errno));
        goto out;
    }
    size_t len = 0, cap = 65536;
    ans = xrealloc(NULL, cap);
    for (;;) {
        if (len == cap) {
            if (cap >= FEDCTL_MAX_ANSWER) {
                fprintf(stderr, "fedctl: answer too large\n");
                goto out;
            }
            cap *= 2;
            ans = xrealloc(ans, cap);
        }
        ssize_t n = recv(fd, ans + len, cap - len, 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            fprintf(stderr, "fedctl: read: %s\n", strerror(errno));
            goto out;
        }
        if (n == 0) {
            break;
        }
        len += (size_t)n;
    }
    jparser_t j = {ans, ans + len};
    root = jparse(&j, 0);
    if (root == NULL || root->kind != J_OBJ) {
        fprintf(stderr, "fedctl: the router's answer is not a JSON object\n");
        goto out;
    }
    bool ok = jtrue(root, "ok");
    if (json) {
        fwrite(ans, 1, len, stdout);
    } else if (!ok) {
        fprintf(stderr, "fedctl: %s\n", jtext(root, "error"));
    } else if (jget(root, "peers") != NULL) {
        print_peers(jget(root, "peers"));
    } else if (jget(root, "pairs") != NULL) {
        print_pairs(jget(root, "pairs"));
    } else if (jget(root, "stats") != NULL) {
        print_stats(jget(root, "stats"));
    } else if (jget(root, "reloaded") != NULL) {
        printf("configuration reloaded\n");
    } else if (jget(root, "affected") != NULL) {
        print_peer_op(root);
    } else if (jget(root, "verdicts") != NULL) {
        print_verdicts(root);
    } else if (jget(root, "flushed") != NULL) {
        printf("flushed %s verdicts\n", jtext(root, "flushed"));
    } else {
        fwrite(ans, 1, len, stdout);
    }
    status = ok ? 0 : 1;
out:
    jfree(root);
    free(ans);
    if (fd >= 0) {
        close(fd);
    }
    return status;
}

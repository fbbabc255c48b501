// fedctl: talks to a running fedrouter over its admin socket (config admin.socket).
//
//   fedctl [-s SOCKET] [--json] peers | pairs | stats | reload
//          | verdicts [--domain D] [--peer IP[:PORT]] | verdicts-flush IP:PORT
//          | flush-peer IP:PORT | drain-peer IP:PORT | undrain-peer IP:PORT
//
// Sends one request line, reads one JSON object (at most FEDCTL_MAX_ANSWER bytes, parsed with
// jansson); prints it as is (--json) or as a table.
// Exit status: 0 ok; 1 the router answered an error or could not be reached; 2 usage: a local one,
// or an error answer the router marks "usage":true (unknown command, bad arguments).
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>

#define FEDCTL_DEFAULT_SOCKET "/run/fedrouter/admin.sock"
#define FEDCTL_MAX_ANSWER (256u * 1024 * 1024)
#define FEDCTL_TEXT_SLOTS 16 // numbers one table line prints (at most 3 today)

static void *xrealloc(void *p, size_t n) {
    void *q = realloc(p, n);
    if (q == NULL) {
        fprintf(stderr, "fedctl: out of memory\n");
        exit(1);
    }
    return q;
}

// ---- reading the router's answer (parsed by jansson) --------------------------------------------
// fedctl_text_t holds the numbers one output line prints as text (field_text writes them here).
typedef struct fedctl_text {
    char slot[FEDCTL_TEXT_SLOTS][32];
    size_t num; // slots used
} fedctl_text_t;

// field_text returns member |key| of object |o| as text: a string as is, an integer in decimal,
// "true"/"false"; "-" when |o| is not an object or the member is absent, null, an array or an
// object. Numbers are written into |t| and stay valid as long as |t|; "?" once |t| is full.
static const char *field_text(fedctl_text_t *t, const json_t *o, const char *key) {
    const json_t *v = json_object_get(o, key);
    if (json_is_string(v)) {
        return json_string_value(v);
    }
    if (json_is_boolean(v)) {
        return json_is_true(v) ? "true" : "false";
    }
    if (!json_is_number(v)) {
        return "-";
    }
    if (t->num >= FEDCTL_TEXT_SLOTS) {
        return "?";
    }
    char *out = t->slot[t->num++];
    if (json_is_integer(v)) {
        snprintf(out, sizeof(t->slot[0]), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    } else { // the router sends integers only
        snprintf(out, sizeof(t->slot[0]), "%.15g", json_real_value(v));
    }
    return out;
}

// field_true: member |key| of object |o| is JSON true.
static bool field_true(const json_t *o, const char *key) {
    return json_is_true(json_object_get(o, key));
}

// ---- output -------------------------------------------------------------------------------------
// counts_text writes object |o|'s waiting/pending/valid counts as "w/p/v" ("-" for a missing one).
static void counts_text(const json_t *o, char *out, size_t cap) {
    fedctl_text_t t = {.num = 0};
    snprintf(out, cap, "%s/%s/%s", field_text(&t, o, "waiting"), field_text(&t, o, "pending"),
             field_text(&t, o, "valid"));
}

static void print_peers(const json_t *peers) {
    printf("%-3s %-28s %-8s %-18s %s\n", "W", "PEER", "FAILURES", "WAITING(w/p/v)", "STREAMS");
    for (size_t i = 0; i < json_array_size(peers); i++) {
        const json_t *p = json_array_get(peers, i);
        const json_t *streams = json_object_get(p, "streams");
        fedctl_text_t t = {.num = 0};
        char w[64];
        counts_text(json_object_get(p, "waiting"), w, sizeof(w));
        printf("%-3s %-28s %-8s %-18s %zu%s\n", field_text(&t, p, "worker"),
               field_text(&t, p, "addr"), field_text(&t, p, "failures"), w,
               json_array_size(streams), field_true(p, "draining") ? "  DRAINING" : "");
        for (size_t k = 0; k < json_array_size(streams); k++) {
            const json_t *s = json_array_get(streams, k);
            fedctl_text_t ts = {.num = 0};
            char pc[64];
            counts_text(json_object_get(s, "pairs"), pc, sizeof(pc));
            printf("    stream %-6s %-12s %s -> %s  pairs(w/p/v) %s%s%s%s%s\n",
                   field_text(&ts, s, "id"), field_text(&ts, s, "state"),
                   field_text(&ts, s, "local"), field_text(&ts, s, "remote"), pc,
                   field_true(s, "tls") ? " tls" : "", field_true(s, "bidi") ? " bidi" : "",
                   field_true(s, "sm") ? " sm" : "", field_true(s, "vconn") ? " vconn" : "");
        }
    }
}

static void print_pairs(const json_t *pairs) {
    printf("%-3s %-3s %-24s %-24s %-8s %-22s %-6s %-6s %s\n", "W", "DIR", "LOCAL", "REMOTE",
           "STATE", "PEER", "STREAM", "QUEUED", "VERIFIED BY");
    for (size_t i = 0; i < json_array_size(pairs); i++) {
        const json_t *p = json_array_get(pairs, i);
        fedctl_text_t t = {.num = 0};
        const char *how = field_text(&t, p, "mechanism");
        const char *proof = field_text(&t, p, "prooftype");
        bool has_proof = strcmp(proof, "-") != 0;
        // Inbound pairs read remote -> local; outbound ones local -> remote.
        printf("%-3s %-3s %-24s %-24s %-8s %-22s %-6s %-6s %s%s%s%s%s\n",
               field_text(&t, p, "worker"), field_text(&t, p, "dir"), field_text(&t, p, "local"),
               field_text(&t, p, "remote"), field_text(&t, p, "state"), field_text(&t, p, "peer"),
               field_text(&t, p, "stream"), field_text(&t, p, "queued"), how,
               has_proof ? " (" : "", has_proof ? proof : "", has_proof ? ")" : "",
               field_true(p, "piggybacked") && strcmp(how, "piggybacked") != 0 ? " piggybacked"
                                                                               : "");
    }
}

static void print_verdicts(const json_t *root) {
    const json_t *vs = json_object_get(root, "verdicts");
    printf("%-24s %-17s %-28s %-8s %-8s %s\n", "PEER", "CERT(SHA-256)", "DOMAIN", "VERDICT",
           "PROOF", "LEFT(s)");
    for (size_t i = 0; i < json_array_size(vs); i++) {
        const json_t *v = json_array_get(vs, i);
        fedctl_text_t t = {.num = 0};
        char fp[20];
        snprintf(fp, sizeof(fp), "%.16s", field_text(&t, v, "fp")); // short: the first 8 bytes
        printf("%-24s %-17s %-28s %-8s %-8s %s\n", field_text(&t, v, "peer"), fp,
               field_text(&t, v, "domain"), field_true(v, "positive") ? "positive" : "negative",
               field_text(&t, v, "prooftype"), field_text(&t, v, "expires_in_s"));
    }
    if (field_true(root, "truncated")) {
        fedctl_text_t t = {.num = 0};
        printf("(%s matched; only the first %zu are listed)\n", field_text(&t, root, "total"),
               json_array_size(vs));
    }
}

static void print_peer_op(const json_t *root) {
    fedctl_text_t t = {.num = 0};
    const char *cmd = field_text(&t, root, "command");
    const json_t *aff = json_object_get(root, "affected");
    if (strcmp(cmd, "flush-peer") == 0) {
        printf("flushed %s verdicts\n", field_text(&t, root, "flushed"));
    }
    if (json_array_size(aff) == 0) {
        printf("no stream to end: no such peer on any worker\n");
    }
    for (size_t i = 0; i < json_array_size(aff); i++) {
        const json_t *p = json_array_get(aff, i);
        fedctl_text_t tp = {.num = 0};
        const char *st = field_text(&tp, p, "streams");
        printf("w%s %s: ", field_text(&tp, p, "worker"), field_text(&tp, p, "addr"));
        if (strcmp(cmd, "flush-peer") == 0) {
            printf("ending %s stream(s) (queued stanzas take a new one)\n", st);
        } else if (strcmp(cmd, "drain-peer") == 0) {
            printf("draining: no new pairs; %s streams end once their queues are out\n", st);
        } else {
            printf("no longer draining (%s streams)\n", st);
        }
    }
}

static void print_stats(const json_t *stats) {
    for (size_t i = 0; i < json_array_size(stats); i++) {
        const json_t *s = json_array_get(stats, i);
        fedctl_text_t t = {.num = 0};
        const char *labels = field_text(&t, s, "labels");
        bool has = labels[0] != '\0' && strcmp(labels, "-") != 0;
        printf("%s%s%s%s %s\n", field_text(&t, s, "name"), has ? "{" : "", has ? labels : "",
               has ? "}" : "", field_text(&t, s, "value"));
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
    json_t *root = NULL;
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
    json_error_t jerr;
    root = json_loadb(ans, len, 0, &jerr); // |len| is capped at FEDCTL_MAX_ANSWER above
    if (!json_is_object(root)) {
        fprintf(stderr, "fedctl: the router's answer is not a JSON object (%s)\n",
                root == NULL ? jerr.text : "another JSON value");
        goto out;
    }
    fedctl_text_t t = {.num = 0};
    bool ok = field_true(root, "ok");
    if (json) {
        fwrite(ans, 1, len, stdout);
    } else if (!ok) {
        fprintf(stderr, "fedctl: %s\n", field_text(&t, root, "error"));
    } else if (json_object_get(root, "peers") != NULL) {
        print_peers(json_object_get(root, "peers"));
    } else if (json_object_get(root, "pairs") != NULL) {
        print_pairs(json_object_get(root, "pairs"));
    } else if (json_object_get(root, "stats") != NULL) {
        print_stats(json_object_get(root, "stats"));
    } else if (json_object_get(root, "reloaded") != NULL) {
        printf("configuration reloaded\n");
    } else if (json_object_get(root, "affected") != NULL) {
        print_peer_op(root);
    } else if (json_object_get(root, "verdicts") != NULL) {
        print_verdicts(root);
    } else if (json_object_get(root, "flushed") != NULL) {
        printf("flushed %s verdicts\n", field_text(&t, root, "flushed"));
    } else {
        fwrite(ans, 1, len, stdout);
    }
    // The router marks an error answer caused by the request itself (unknown command, bad
    // arguments) with "usage":true: a usage error, like a local one.
    status = ok ? 0 : field_true(root, "usage") ? 2 : 1;
out:
    json_decref(root);
    free(ans);
    if (fd >= 0) {
        close(fd);
    }
    return status;
}

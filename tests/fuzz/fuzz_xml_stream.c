// fuzz_xml_stream.c: the XMPP stream parser (router/xml_stream.c) on arbitrary bytes.
//
// Input: byte 0 = mode flags, bytes 1..4 = chunk sizes (cycled; 0 means "the rest"), then the
// stream bytes. The stream is parsed twice, in one piece and in those chunks, and both runs must
// give the same events (hashed) and the same result. Invariants checked on every element: raw
// starts with '<' and ends with '>', raw_len <= the limit, the tree indices are in range, text
// lengths match, and re-serialisation gives XML that parses again to one element of the same name.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "router/xml_stream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MODE_SMALL_LIMITS 1 // tiny limits so that they are hit often
#define MODE_STOP 2         // on_elem returns false for elements whose name starts with 'p'
#define MODE_RESET 4        // ... and calls rt_xs_reset for "proceed" and "success"
#define MODE_STOP_OPEN 8    // on_open returns false
#define MODE_RESER 16       // re-serialise every element and parse the result again

typedef struct fz {
    uint64_t h; // FNV-1a over the events
    rt_xs_t *xs;
    rt_xs_limits_t lim;
    uint8_t mode;
    bool stopped;
} fz_t;

static void mix(fz_t *f, const void *p, size_t n) {
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) {
        f->h = (f->h ^ b[i]) * 1099511628211ULL;
    }
    f->h = (f->h ^ 0xff) * 1099511628211ULL; // field separator
}

static void mix_str(fz_t *f, const char *s) {
    if (s == NULL) {
        mix(f, "\x01N", 2);
    } else {
        mix(f, s, strlen(s));
    }
}

static bool on_open(void *ctx, const rt_xs_header_t *h) {
    fz_t *f = ctx;
    mix(f, "open", 4);
    mix_str(f, h->ns_default);
    mix_str(f, h->to);
    mix_str(f, h->from);
    mix_str(f, h->id);
    mix_str(f, h->version);
    mix_str(f, h->lang);
    mix(f, &h->has_dialback, 1);
    if (f->mode & MODE_STOP_OPEN) {
        f->stopped = true;
        return false;
    }
    return true;
}

typedef struct verify {
    const char *name;
    int elems;
} verify_t;

static bool verify_elem(void *ctx, const rt_xs_elem_t *el) {
    verify_t *v = ctx;
    RT_CHECK(strcmp(el->name, v->name) == 0);
    v->elems++;
    return true;
}

// check_reserialize writes |el| into jabber:server and parses it back under a plain header.
static void check_reserialize(fz_t *f, const rt_xs_elem_t *el) {
    core_bld_t out;
    core_bld_init(&out, 8 * el->raw_len + 65536);
    rc_t rc = rt_xs_reserialize(f->xs, el, RT_XS_NS_SERVER, &out);
    RT_CHECK(rc == RC_OK);
    verify_t v = {el->name, 0};
    rt_xs_cbs_t cbs = {NULL, verify_elem, NULL};
    rt_xs_limits_t lim = {out.len + 1, 4096, f->lim.max_depth + 1, 4 * f->lim.max_attrs + 4};
    rt_xs_t *xs = rt_xs_new(&lim, &cbs, &v);
    static const char hdr[] = "<stream:stream xmlns='jabber:server' "
                              "xmlns:stream='http://etherx.jabber.org/streams'>";
    size_t used;
    RT_CHECK(rt_xs_feed(xs, (const uint8_t *)hdr, sizeof(hdr) - 1, &used) == RC_OK);
    rc = rt_xs_feed(xs, out.data, out.len, &used);
    if (rc != RC_OK) {
        fprintf(stderr, "re-serialised element does not parse (%s):\n%.*s\n", rc_str(rc),
                (int)out.len, (const char *)out.data);
        abort();
    }
    RT_CHECK(v.elems == 1);
    rt_xs_free(xs);
    core_bld_cleanup(&out);
}

static bool on_elem(void *ctx, const rt_xs_elem_t *el) {
    fz_t *f = ctx;
    RT_CHECK(el->raw_len >= 3 && el->raw[0] == '<' && el->raw[el->raw_len - 1] == '>');
    RT_CHECK(el->raw_len <= f->lim.max_stanza_bytes);
    RT_CHECK(el->num_nodes >= 1 && el->nodes[0].parent == RT_XS_NONE);
    RT_CHECK(!el->is_stanza || el->num_nodes == 1);
    for (size_t i = 0; i < el->num_nodes; i++) {
        const rt_xs_node_t *n = &el->nodes[i];
        RT_CHECK(i == 0 || n->parent < i);
        RT_CHECK(n->first_child == RT_XS_NONE || (n->first_child > i && n->first_child < el->num_nodes));
        RT_CHECK(n->next_sibling == RT_XS_NONE ||
                 (n->next_sibling > i && n->next_sibling < el->num_nodes));
        RT_CHECK(n->first_attr <= el->num_attrs && n->num_attrs <= el->num_attrs - n->first_attr);
        RT_CHECK(strlen(n->text) == n->text_len);
        mix_str(f, n->ns);
        mix_str(f, n->name);
        mix(f, n->text, n->text_len);
        mix(f, &n->parent, sizeof(n->parent));
        mix(f, &n->first_child, sizeof(n->first_child));
        mix(f, &n->next_sibling, sizeof(n->next_sibling));
        for (uint32_t a = 0; a < n->num_attrs; a++) {
            mix_str(f, el->attrs[n->first_attr + a].ns);
            mix_str(f, el->attrs[n->first_attr + a].name);
            mix_str(f, el->attrs[n->first_attr + a].value);
        }
    }
    mix(f, "elem", 4);
    mix(f, el->raw, el->raw_len);
    mix(f, &el->is_stanza, 1);
    mix(f, &el->raw_unsafe, 1);
    mix_str(f, el->to);
    mix_str(f, el->from);
    mix_str(f, el->type);
    mix_str(f, el->id);
    if (f->mode & MODE_RESER) {
        check_reserialize(f, el);
    }
    if ((f->mode & MODE_STOP) && el->name[0] == 'p') {
        if ((f->mode & MODE_RESET) &&
            (strcmp(el->name, "proceed") == 0 || strcmp(el->name, "success") == 0)) {
            rt_xs_reset(f->xs);
        }
        f->stopped = true;
        return false;
    }
    return true;
}

static bool on_close(void *ctx) {
    fz_t *f = ctx;
    mix(f, "close", 5);
    return true;
}

// run parses |data| fed in pieces of |sizes| (NULL: one piece); returns the event hash and rc.
static uint64_t run(uint8_t mode, const uint8_t *sizes, const uint8_t *data, size_t size,
                    rc_t *out_rc) {
    fz_t f;
    memset(&f, 0, sizeof(f));
    f.h = 14695981039346656037ULL;
    f.mode = mode;
    rt_xs_limits_default(&f.lim);
    if (mode & MODE_SMALL_LIMITS) {
        f.lim.max_stanza_bytes = 300;
        f.lim.max_header_bytes = 400;
        f.lim.max_depth = 4;
        f.lim.max_attrs = 5;
    }
    rt_xs_cbs_t cbs = {on_open, on_elem, on_close};
    f.xs = rt_xs_new(&f.lim, &cbs, &f);
    RT_CHECK(f.xs != NULL);
    size_t pos = 0;
    size_t k = 0;
    rc_t rc = RC_OK;
    while (pos < size && rc == RC_OK) {
        size_t n = size - pos;
        if (sizes != NULL && sizes[k % 4] != 0 && sizes[k % 4] < n) {
            n = sizes[k % 4];
        }
        k++;
        // Exact-size copy: ASan catches reads past the piece.
        uint8_t *piece = malloc(n);
        RT_CHECK(piece != NULL);
        memcpy(piece, data + pos, n);
        size_t off = 0;
        while (off < n && rc == RC_OK) {
            size_t used = 0;
            rc = rt_xs_feed(f.xs, piece + off, n - off, &used);
            RT_CHECK(used <= n - off);
            if (rc == RC_OK) {
                if (f.stopped) {
                    uint64_t at = pos + off + used;
                    mix(&f, "stop", 4);
                    mix(&f, &at, sizeof(at));
                    f.stopped = false;
                } else {
                    RT_CHECK(used == n - off);
                }
            }
            off += used;
        }
        free(piece);
        pos += n;
    }
    mix(&f, &rc, sizeof(rc));
    rt_xs_free(f.xs);
    *out_rc = rc;
    return f.h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 5) {
        return 0;
    }
    uint8_t mode = data[0];
    const uint8_t *sizes = data + 1;
    rc_t rc1, rc2;
    uint64_t h1 = run(mode, NULL, data + 5, size - 5, &rc1);
    uint64_t h2 = run(mode, sizes, data + 5, size - 5, &rc2);
    if (h1 != h2 || rc1 != rc2) {
        fprintf(stderr, "one piece and chunked differ: %s vs %s\n", rc_str(rc1), rc_str(rc2));
        abort();
    }
    return 0;
}

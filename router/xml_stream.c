// xml_stream.c: XMPP stream framing on expat (see xml_stream.h).
//
// How bytes are tracked. Offsets are "document offsets": bytes since the start of the current
// expat document (0 after rt_xs_new/rt_xs_reset). expat reports the document offset and length of
// each event (XML_GetCurrentByteIndex/ByteCount). The "pending item" is what the next bytes
// belong to: the prolog and stream header (from offset 0) before the header is complete, then the
// top-level element in progress, or the gap since the last one (|mark|). At the end of each feed
// the bytes of the pending item are copied into |acc|, so that an element split over many feeds
// can still be handed out as one contiguous |raw|; an element that lies inside one feed is handed
// out as a pointer into the caller's buffer (no copy).
//
// Limits: the pending item may never grow past its limit (max_header_bytes, max_stanza_bytes).
// rt_xs_feed gives expat the bytes in slices that end at the first byte over the limit, so an
// endless stanza fails as soon as it passes the limit, and the result does not depend on how the
// bytes were split into feeds.
//
// Stopping. When a callback returns false, the handler aborts expat (XML_StopParser) and
// rt_xs_feed reports the bytes up to the end of that element as consumed. expat has seen (and
// buffered) bytes after it, so the parser cannot go on: the next feed either starts a new document
// (after rt_xs_reset) or re-creates the state "just after the stream header" by feeding a reset
// parser the saved header bytes with callbacks muted (|hdr_raw|). At stream level, between
// top-level elements, that is all the state there is.
//
// Namespaces: the parser is namespace-aware with separator 0x01 (not allowed anywhere in XML 1.0,
// not even as a character reference, so it cannot occur in a URI, name or prefix) and returns
// triplets "uri\x01local\x01prefix" so prefixes can be checked.
#include "router/xml_stream.h"

#include <expat.h>
#include <stdlib.h>
#include <string.h>

#define XS_SEP '\x01'
#define XS_NS_XML "http://www.w3.org/XML/1998/namespace"
// Most bytes handed to expat in one XML_Parse call.
#define XS_SLICE 16384
// Buffers larger than this are freed when idle (after a big stanza).
#define XS_KEEP_CAP 65536
// Fixed slack on top of 2 * max_stanza_bytes for the tree of one element.
#define XS_TREE_SLACK 65536

enum xs_state {
    XS_ST_PROLOG, // before the stream header is complete
    XS_ST_OPEN,   // inside <stream:stream>
    XS_ST_CLOSED, // after </stream:stream>: only whitespace may follow
};

// A name from expat split into its triplet parts (pointers into expat's string).
typedef struct xs_qname {
    const char *uri;
    size_t uri_len;
    const char *local;
    size_t local_len;
    const char *prefix; // NULL when unprefixed
    size_t prefix_len;
} xs_qname_t;

// Tree being built, with offsets into |strs| (the buffer may move while it grows).
typedef struct xs_inode {
    size_t ns_off, name_off;
    size_t text_len;
    uint32_t parent, first_child, last_child, next_sibling;
    uint32_t first_attr, num_attrs;
} xs_inode_t;

typedef struct xs_iattr {
    size_t ns_off, name_off, value_off;
} xs_iattr_t;

// A run of character data of node |node| stored at |off| in |text|.
typedef struct xs_seg {
    uint32_t node;
    size_t off, len;
} xs_seg_t;

// A namespace prefix declared inside the current top-level element, at element depth |depth|.
typedef struct xs_edecl {
    size_t prefix_off;
    size_t prefix_len;
    size_t depth;
} xs_edecl_t;

// A namespace prefix declared on the stream header.
typedef struct xs_hdecl {
    size_t prefix_off; // SIZE_MAX for the default namespace
    size_t uri_off;
} xs_hdecl_t;

// A byte vector (offset 0 is the first byte). Growth is budgeted by the callers.
typedef struct xs_vec {
    uint8_t *data;
    size_t len;
    size_t cap;
} xs_vec_t;

struct rt_xs {
    XML_Parser p;
    XML_Parser rp; // for rt_xs_reserialize, created on first use
    rt_xs_limits_t lim;
    rt_xs_cbs_t cbs;
    void *ctx;
    size_t tree_budget;

    rc_t err;           // sticky error
    rc_t stop_rc;       // error found by a handler (RC_OK when a callback stopped)
    bool stopped;       // a handler stopped expat: ignore further events
    bool cb_stop;       // stopped because a callback asked to (or the stream closed)
    bool cb_said_stop;  // the callback itself returned false
    uint64_t stop_at;   // document offset just after the element the callback saw
    bool in_feed;       // inside rt_xs_feed (so callbacks may be running)
    bool reset_req;     // rt_xs_reset was called from a callback
    bool need_replay;   // parser was aborted after a callback stop: replay the header first
    bool mute;          // replaying the header: handlers do nothing
    enum xs_state st;

    // Document offsets.
    uint64_t doc_pos;         // offset of the next byte to be fed
    uint64_t feed_base;       // offset of feed_data[0]
    const uint8_t *feed_data; // the caller's buffer during rt_xs_feed
    size_t feed_len;
    uint64_t mark;     // start of the gap after the last top-level element
    xs_vec_t acc;      // kept bytes [acc_base, acc_base + acc.len)
    uint64_t acc_base;

    // Stream header.
    xs_vec_t hdr_raw; // prolog + header start tag, for replay
    xs_vec_t hstr;    // header strings (offsets)
    xs_hdecl_t *hdecl;
    size_t num_hdecl, cap_hdecl;
    size_t hdr_to, hdr_from, hdr_id, hdr_version, hdr_lang, hdr_ns; // offsets or SIZE_MAX
    rt_xs_header_t hdr;
    bool hdr_ok;

    // Current top-level element.
    size_t depth;        // open elements, the stream root included
    uint64_t elem_start; // document offset of its '<'
    bool elem_active;    // elem_start valid (the element or its namespace declarations began)
    bool cur_stanza;
    bool cur_unsafe;
    size_t pending_decls;  // namespace declarations seen for the next start tag
    bool pending_default;  // one of them declares the default namespace
    uint32_t cur_node;     // innermost open node of the tree (non-stanzas)
    xs_vec_t strs;         // NUL-terminated strings of the tree
    xs_vec_t text;         // character data runs
    xs_inode_t *in;
    size_t num_in, cap_in;
    xs_iattr_t *ia;
    size_t num_ia, cap_ia;
    xs_seg_t *seg;
    size_t num_seg, cap_seg;
    xs_edecl_t *edecl;
    size_t num_edecl, cap_edecl;
    size_t ns_cache[4]; // offsets of recent namespace strings in |strs|, to store each URI once
    size_t ns_cache_len[4];
    size_t num_ns_cache;

    // The element handed to on_elem.
    rt_xs_node_t *on;
    size_t cap_on;
    rt_xs_attr_t *oa;
    size_t cap_oa;
    xs_vec_t tcat; // concatenated text per node
};

// ---------------------------------------------------------------------------------------------
// Small helpers.

// xs_grow makes |*arr| hold at least |need| elements of |elem| bytes (aborts on OOM; callers
// budget peer-driven sizes first).
static void xs_grow(void **arr, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) {
        return;
    }
    size_t n = *cap < 16 ? 16 : *cap;
    while (n < need) {
        RT_CHECK(n <= SIZE_MAX / 2);
        n *= 2;
    }
    RT_CHECK(n <= SIZE_MAX / elem);
    *arr = core_xrealloc(*arr, n * elem);
    *cap = n;
}

static void xs_vec_add(xs_vec_t *v, const void *data, size_t len) {
    RT_CHECK(len <= SIZE_MAX - v->len);
    xs_grow((void **)&v->data, &v->cap, v->len + len, 1);
    core_memcpy(v->data + v->len, data, len);
    v->len += len;
}

// xs_vec_idle empties |v| and frees its storage when it grew big.
static void xs_vec_idle(xs_vec_t *v) {
    v->len = 0;
    if (v->cap > XS_KEEP_CAP) {
        free(v->data);
        v->data = NULL;
        v->cap = 0;
    }
}

static void xs_vec_free(xs_vec_t *v) {
    free(v->data);
    v->data = NULL;
    v->len = v->cap = 0;
}

static bool xs_eq(const char *a, size_t a_len, const char *b) {
    size_t b_len = strlen(b);
    return a_len == b_len && core_memcmp(a, b, a_len) == 0;
}

static size_t xs_strlen_sep(const char *s) {
    size_t n = 0;
    while (s[n] != '\0' && s[n] != XS_SEP) {
        n++;
    }
    return n;
}

// xs_split splits an expat name "uri SEP local [SEP prefix]" or "local".
static void xs_split(const char *name, xs_qname_t *q) {
    size_t a = xs_strlen_sep(name);
    if (name[a] == '\0') {
        q->uri = "";
        q->uri_len = 0;
        q->local = name;
        q->local_len = a;
        q->prefix = NULL;
        q->prefix_len = 0;
        return;
    }
    q->uri = name;
    q->uri_len = a;
    q->local = name + a + 1;
    q->local_len = xs_strlen_sep(q->local);
    if (q->local[q->local_len] == XS_SEP) {
        q->prefix = q->local + q->local_len + 1;
        q->prefix_len = strlen(q->prefix);
    } else {
        q->prefix = NULL;
        q->prefix_len = 0;
    }
}

static bool xs_is_ws(uint8_t c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

// ---------------------------------------------------------------------------------------------
// Failing and stopping from inside handlers.

static void xs_fail(rt_xs_t *xs, rc_t rc) {
    if (xs->stopped) {
        return;
    }
    xs->stopped = true;
    xs->stop_rc = rc;
    XML_StopParser(xs->p, XML_FALSE);
}

// xs_stop_after ends parsing after a callback: |end| is the document offset after the element.
static void xs_stop_after(rt_xs_t *xs, uint64_t end) {
    if (xs->stopped) {
        return;
    }
    xs->stopped = true;
    xs->cb_stop = true;
    xs->stop_rc = RC_OK;
    xs->stop_at = end;
    XML_StopParser(xs->p, XML_FALSE);
}

static uint64_t xs_ev_start(const rt_xs_t *xs) {
    XML_Index i = XML_GetCurrentByteIndex(xs->p);
    return i < 0 ? 0 : (uint64_t)i;
}

static uint64_t xs_ev_end(const rt_xs_t *xs) {
    int n = XML_GetCurrentByteCount(xs->p);
    return xs_ev_start(xs) + (n < 0 ? 0 : (uint64_t)n);
}

// xs_span returns the bytes at document offsets [start, end): inside the current feed, or in
// |acc| (extended from the feed as needed). |end| is within the current feed.
static const uint8_t *xs_span(rt_xs_t *xs, uint64_t start, uint64_t end) {
    if (start >= xs->feed_base) {
        return xs->feed_data + (start - xs->feed_base);
    }
    RT_CHECK(start >= xs->acc_base && xs->acc_base + xs->acc.len >= xs->feed_base);
    uint64_t have = xs->acc_base + xs->acc.len;
    if (end > have) {
        xs_vec_add(&xs->acc, xs->feed_data + (have - xs->feed_base), (size_t)(end - have));
    }
    return xs->acc.data + (start - xs->acc_base);
}

// ---------------------------------------------------------------------------------------------
// Tree building (budgeted).

static bool xs_budget_ok(const rt_xs_t *xs, size_t extra) {
    size_t used = xs->strs.len + xs->text.len + xs->num_in * sizeof(xs_inode_t) +
                  xs->num_ia * sizeof(xs_iattr_t) + xs->num_seg * sizeof(xs_seg_t) +
                  xs->num_edecl * sizeof(xs_edecl_t);
    return extra <= xs->tree_budget && used <= xs->tree_budget - extra;
}

// xs_str_add stores |s| (|len| bytes) plus a NUL in |strs|; false when over budget.
static bool xs_str_add(rt_xs_t *xs, const char *s, size_t len, size_t *out_off) {
    if (len >= SIZE_MAX - 1 || !xs_budget_ok(xs, len + 1)) {
        xs_fail(xs, RC_XML_LIMIT);
        return false;
    }
    *out_off = xs->strs.len;
    xs_vec_add(&xs->strs, s, len);
    xs_vec_add(&xs->strs, "", 1);
    return true;
}

// xs_str_ns stores a namespace URI once per element for the few URIs in recent use.
static bool xs_str_ns(rt_xs_t *xs, const char *s, size_t len, size_t *out_off) {
    for (size_t i = 0; i < xs->num_ns_cache; i++) {
        if (xs->ns_cache_len[i] == len &&
            core_memcmp(xs->strs.data + xs->ns_cache[i], s, len) == 0) {
            *out_off = xs->ns_cache[i];
            return true;
        }
    }
    if (!xs_str_add(xs, s, len, out_off)) {
        return false;
    }
    size_t slot = xs->num_ns_cache < RT_ARRAY_LEN(xs->ns_cache) ? xs->num_ns_cache++
                                                                 : (size_t)(*out_off % 4);
    xs->ns_cache[slot] = *out_off;
    xs->ns_cache_len[slot] = len;
    return true;
}

// xs_add_node appends a node for |q| with |atts| under |parent|; false on failure (already
// recorded with xs_fail).
static bool xs_add_node(rt_xs_t *xs, const xs_qname_t *q, const char **atts, uint32_t parent) {
    size_t natts = 0;
    while (atts[2 * natts] != NULL) {
        natts++;
    }
    if (xs->num_in >= UINT32_MAX - 1 || xs->num_ia > UINT32_MAX - 1 - natts ||
        !xs_budget_ok(xs, sizeof(xs_inode_t) + natts * sizeof(xs_iattr_t))) {
        xs_fail(xs, RC_XML_LIMIT);
        return false;
    }
    xs_grow((void **)&xs->in, &xs->cap_in, xs->num_in + 1, sizeof(xs_inode_t));
    xs_grow((void **)&xs->ia, &xs->cap_ia, xs->num_ia + natts, sizeof(xs_iattr_t));
    uint32_t idx = (uint32_t)xs->num_in;
    xs_inode_t *n = &xs->in[idx];
    core_memset(n, 0, sizeof(*n));
    n->parent = parent;
    n->first_child = n->last_child = n->next_sibling = RT_XS_NONE;
    n->first_attr = (uint32_t)xs->num_ia;
    n->num_attrs = (uint32_t)natts;
    xs->num_in++;
    if (!xs_str_ns(xs, q->uri, q->uri_len, &xs->in[idx].ns_off) ||
        !xs_str_add(xs, q->local, q->local_len, &xs->in[idx].name_off)) {
        return false;
    }
    for (size_t i = 0; i < natts; i++) {
        xs_qname_t aq;
        xs_split(atts[2 * i], &aq);
        xs_iattr_t *a = &xs->ia[xs->num_ia];
        xs->num_ia++;
        if (!xs_str_ns(xs, aq.uri, aq.uri_len, &a->ns_off) ||
            !xs_str_add(xs, aq.local, aq.local_len, &a->name_off) ||
            !xs_str_add(xs, atts[2 * i + 1], strlen(atts[2 * i + 1]), &a->value_off)) {
            return false;
        }
    }
    if (parent != RT_XS_NONE) {
        xs_inode_t *p = &xs->in[parent];
        if (p->last_child == RT_XS_NONE) {
            p->first_child = idx;
        } else {
            xs->in[p->last_child].next_sibling = idx;
        }
        p->last_child = idx;
    }
    xs->cur_node = idx;
    return true;
}

// xs_elem_clear forgets the current top-level element (keeps capacity).
static void xs_elem_clear(rt_xs_t *xs) {
    xs->elem_active = false;
    xs->elem_start = 0;
    xs->cur_stanza = false;
    xs->cur_unsafe = false;
    xs->pending_decls = 0;
    xs->pending_default = false;
    xs->cur_node = RT_XS_NONE;
    xs_vec_idle(&xs->strs);
    xs_vec_idle(&xs->text);
    xs_vec_idle(&xs->tcat);
    xs->num_in = xs->num_ia = xs->num_seg = xs->num_edecl = 0;
    xs->num_ns_cache = 0;
}

// xs_prefix_check marks the element raw_unsafe when |prefix| is not declared inside it (so it
// comes from the stream header).
static void xs_prefix_check(rt_xs_t *xs, const xs_qname_t *q) {
    if (xs->cur_unsafe || q->prefix == NULL || xs_eq(q->prefix, q->prefix_len, "xml")) {
        return;
    }
    for (size_t i = xs->num_edecl; i-- > 0;) {
        const xs_edecl_t *d = &xs->edecl[i];
        if (d->prefix_len == q->prefix_len &&
            core_memcmp(xs->strs.data + d->prefix_off, q->prefix, q->prefix_len) == 0) {
            return;
        }
    }
    xs->cur_unsafe = true;
}

// ---------------------------------------------------------------------------------------------
// The stream header.

static bool xs_hstr_add(rt_xs_t *xs, const char *s, size_t *out_off) {
    *out_off = xs->hstr.len;
    xs_vec_add(&xs->hstr, s, strlen(s) + 1);
    return true;
}

static const char *xs_hstr(const rt_xs_t *xs, size_t off) {
    return off == SIZE_MAX ? NULL : (const char *)xs->hstr.data + off;
}

static void xs_header_clear(rt_xs_t *xs) {
    xs->hstr.len = 0;
    xs->num_hdecl = 0;
    xs->hdr_to = xs->hdr_from = xs->hdr_id = xs->hdr_version = xs->hdr_lang = xs->hdr_ns =
        SIZE_MAX;
    core_memset(&xs->hdr, 0, sizeof(xs->hdr));
    xs->hdr.ns_default = "";
    xs->hdr_ok = false;
    xs->hdr_raw.len = 0;
}

static void xs_on_root(rt_xs_t *xs, const char *name, const char **atts, size_t natts) {
    xs_qname_t q;
    xs_split(name, &q);
    if (!xs_eq(q.uri, q.uri_len, RT_XS_NS_STREAMS) || !xs_eq(q.local, q.local_len, "stream")) {
        xs_fail(xs, RC_XML_NAMESPACE);
        return;
    }
    if (q.prefix == NULL || !xs_eq(q.prefix, q.prefix_len, "stream")) {
        xs_fail(xs, RC_XML_PREFIX);
        return;
    }
    uint64_t end = xs_ev_end(xs);
    if (end > xs->lim.max_header_bytes) {
        xs_fail(xs, RC_XML_LIMIT);
        return;
    }
    for (size_t i = 0; i < natts; i++) {
        xs_qname_t aq;
        xs_split(atts[2 * i], &aq);
        size_t *slot = NULL;
        if (aq.uri_len == 0) {
            if (xs_eq(aq.local, aq.local_len, "to")) {
                slot = &xs->hdr_to;
            } else if (xs_eq(aq.local, aq.local_len, "from")) {
                slot = &xs->hdr_from;
            } else if (xs_eq(aq.local, aq.local_len, "id")) {
                slot = &xs->hdr_id;
            } else if (xs_eq(aq.local, aq.local_len, "version")) {
                slot = &xs->hdr_version;
            }
        } else if (xs_eq(aq.uri, aq.uri_len, XS_NS_XML) && xs_eq(aq.local, aq.local_len, "lang")) {
            slot = &xs->hdr_lang;
        }
        if (slot != NULL && !xs_hstr_add(xs, atts[2 * i + 1], slot)) {
            return;
        }
    }
    // Pointers only now: |hstr| no longer grows.
    xs->hdr.to = xs_hstr(xs, xs->hdr_to);
    xs->hdr.from = xs_hstr(xs, xs->hdr_from);
    xs->hdr.id = xs_hstr(xs, xs->hdr_id);
    xs->hdr.version = xs_hstr(xs, xs->hdr_version);
    xs->hdr.lang = xs_hstr(xs, xs->hdr_lang);
    xs->hdr.ns_default = xs->hdr_ns == SIZE_MAX ? "" : xs_hstr(xs, xs->hdr_ns);
    xs->hdr.has_dialback = false;
    for (size_t i = 0; i < xs->num_hdecl; i++) {
        const char *pfx = xs_hstr(xs, xs->hdecl[i].prefix_off);
        if (pfx != NULL && strcmp(pfx, "db") == 0 &&
            strcmp(xs_hstr(xs, xs->hdecl[i].uri_off), RT_XS_NS_DIALBACK) == 0) {
            xs->hdr.has_dialback = true;
        }
    }
    xs->hdr_ok = true;
    xs->hdr_raw.len = 0;
    xs_vec_add(&xs->hdr_raw, xs_span(xs, 0, end), (size_t)end);
    xs->depth = 1;
    xs->st = XS_ST_OPEN;
    xs->mark = end;
    xs_elem_clear(xs);
    bool go = xs->cbs.on_open == NULL || xs->cbs.on_open(xs->ctx, &xs->hdr);
    if (!go || xs->reset_req) {
        xs->cb_said_stop = !go;
        xs_stop_after(xs, end);
    }
}

// ---------------------------------------------------------------------------------------------
// expat handlers.

static void XMLCALL xs_on_ns(void *ud, const XML_Char *prefix, const XML_Char *uri) {
    rt_xs_t *xs = ud;
    if (xs->mute || xs->stopped) {
        return;
    }
    if (uri == NULL) {
        uri = "";
    }
    xs->pending_decls++;
    if (xs->pending_decls > xs->lim.max_attrs) {
        xs_fail(xs, RC_XML_LIMIT);
        return;
    }
    if (xs->depth == 0) {
        if (xs->st != XS_ST_PROLOG) {
            return;
        }
        size_t poff = SIZE_MAX;
        size_t uoff;
        if (prefix != NULL) {
            xs_hstr_add(xs, prefix, &poff);
        }
        xs_hstr_add(xs, uri, &uoff);
        if (prefix == NULL) {
            xs->hdr_ns = uoff;
        }
        xs_grow((void **)&xs->hdecl, &xs->cap_hdecl, xs->num_hdecl + 1, sizeof(xs_hdecl_t));
        xs->hdecl[xs->num_hdecl].prefix_off = poff;
        xs->hdecl[xs->num_hdecl].uri_off = uoff;
        xs->num_hdecl++;
        return;
    }
    if (xs->depth == 1 && !xs->elem_active) {
        // The declarations of a top-level element come before its start event.
        xs->elem_active = true;
        xs->elem_start = xs_ev_start(xs);
    }
    if (prefix == NULL) {
        if (xs->depth == 1) {
            xs->pending_default = true;
        }
        return;
    }
    if (!xs_budget_ok(xs, sizeof(xs_edecl_t))) {
        xs_fail(xs, RC_XML_LIMIT);
        return;
    }
    size_t plen = strlen(prefix);
    size_t off;
    if (!xs_str_add(xs, prefix, plen, &off)) {
        return;
    }
    xs_grow((void **)&xs->edecl, &xs->cap_edecl, xs->num_edecl + 1, sizeof(xs_edecl_t));
    xs->edecl[xs->num_edecl].prefix_off = off;
    xs->edecl[xs->num_edecl].prefix_len = plen;
    xs->edecl[xs->num_edecl].depth = xs->depth + 1;
    xs->num_edecl++;
}

static bool xs_is_stanza(const rt_xs_t *xs, const xs_qname_t *q) {
    const char *ns = xs->hdr.ns_default;
    if (!xs_eq(q->uri, q->uri_len, ns) ||
        (strcmp(ns, RT_XS_NS_SERVER) != 0 && strcmp(ns, RT_XS_NS_COMPONENT) != 0)) {
        return false;
    }
    return xs_eq(q->local, q->local_len, "message") ||
           xs_eq(q->local, q->local_len, "presence") || xs_eq(q->local, q->local_len, "iq");
}

static void XMLCALL xs_on_start(void *ud, const XML_Char *name, const XML_Char **atts) {
    rt_xs_t *xs = ud;
    if (xs->mute || xs->stopped) {
        return;
    }
    size_t natts = 0;
    while (atts[2 * natts] != NULL) {
        natts++;
    }
    size_t decls = xs->pending_decls;
    bool dflt = xs->pending_default;
    xs->pending_decls = 0;
    xs->pending_default = false;
    if (natts > xs->lim.max_attrs || decls > xs->lim.max_attrs - natts) {
        xs_fail(xs, RC_XML_LIMIT);
        return;
    }
    if (xs->depth == 0) {
        xs_on_root(xs, name, atts, natts);
        return;
    }
    uint64_t end = xs_ev_end(xs);
    xs_qname_t q;
    xs_split(name, &q);
    if (xs->depth == 1) {
        if (!xs->elem_active) {
            xs->elem_active = true;
            xs->elem_start = xs_ev_start(xs);
        }
        if (end - xs->elem_start > xs->lim.max_stanza_bytes) {
            xs_fail(xs, RC_XML_LIMIT);
            return;
        }
        xs->cur_stanza = xs_is_stanza(xs, &q);
        xs->cur_unsafe = dflt;
    } else {
        // Element depth inside the top-level element is xs->depth (top-level element is 1).
        if (xs->depth > xs->lim.max_depth) {
            xs_fail(xs, RC_XML_LIMIT);
            return;
        }
        if (end - xs->elem_start > xs->lim.max_stanza_bytes) {
            xs_fail(xs, RC_XML_LIMIT);
            return;
        }
    }
    xs_prefix_check(xs, &q);
    // An element of the stream's own content namespace written with a prefix would land in
    // that namespace, not the target stream's default one, if its bytes were copied.
    if (q.prefix != NULL && xs_eq(q.uri, q.uri_len, xs->hdr.ns_default)) {
        xs->cur_unsafe = true;
    }
    for (size_t i = 0; i < natts && !xs->cur_unsafe; i++) {
        xs_qname_t aq;
        xs_split(atts[2 * i], &aq);
        xs_prefix_check(xs, &aq);
    }
    if (xs->depth == 1 || !xs->cur_stanza) {
        if (!xs_add_node(xs, &q, atts, xs->depth == 1 ? RT_XS_NONE : xs->cur_node)) {
            return;
        }
    }
    xs->depth++;
}

// xs_deliver builds the rt_xs_elem_t of the finished top-level element and calls on_elem.
static void xs_deliver(rt_xs_t *xs, uint64_t end) {
    rt_xs_elem_t el;
    core_memset(&el, 0, sizeof(el));
    size_t nn = xs->cur_stanza ? 1 : xs->num_in;
    size_t na = xs->cur_stanza ? xs->in[0].num_attrs : xs->num_ia;
    xs_grow((void **)&xs->on, &xs->cap_on, nn, sizeof(rt_xs_node_t));
    xs_grow((void **)&xs->oa, &xs->cap_oa, na == 0 ? 1 : na, sizeof(rt_xs_attr_t));
    // Text: one contiguous NUL-terminated string per node, in document order of the runs.
    xs->tcat.len = 0;
    size_t total = 0;
    for (size_t i = 0; i < nn; i++) {
        total += xs->in[i].text_len + 1;
    }
    xs_grow((void **)&xs->tcat.data, &xs->tcat.cap, total, 1);
    size_t pos = 0;
    for (size_t i = 0; i < nn; i++) {
        const xs_inode_t *n = &xs->in[i];
        rt_xs_node_t *o = &xs->on[i];
        o->ns = (const char *)xs->strs.data + n->ns_off;
        o->name = (const char *)xs->strs.data + n->name_off;
        o->text = (const char *)xs->tcat.data + pos;
        o->text_len = n->text_len;
        xs->tcat.data[pos + n->text_len] = '\0';
        pos += n->text_len + 1;
        xs->in[i].text_len = 0; // now the fill count of the copy below
        o->parent = n->parent;
        o->first_child = xs->cur_stanza ? RT_XS_NONE : n->first_child;
        o->next_sibling = xs->cur_stanza ? RT_XS_NONE : n->next_sibling;
        o->first_attr = n->first_attr;
        o->num_attrs = n->num_attrs;
    }
    // Second pass: copy each run after the runs of the same node before it.
    for (size_t i = 0; i < xs->num_seg; i++) {
        const xs_seg_t *s = &xs->seg[i];
        char *dst = (char *)xs->on[s->node].text + xs->in[s->node].text_len;
        core_memcpy(dst, xs->text.data + s->off, s->len);
        xs->in[s->node].text_len += s->len;
    }
    for (size_t i = 0; i < na; i++) {
        const xs_iattr_t *a = &xs->ia[i];
        xs->oa[i].ns = (const char *)xs->strs.data + a->ns_off;
        xs->oa[i].name = (const char *)xs->strs.data + a->name_off;
        xs->oa[i].value = (const char *)xs->strs.data + a->value_off;
    }
    el.nodes = xs->on;
    el.num_nodes = nn;
    el.attrs = xs->oa;
    el.num_attrs = na;
    el.ns = el.nodes[0].ns;
    el.name = el.nodes[0].name;
    el.to = rt_xs_attr_get(&el, 0, "to");
    el.from = rt_xs_attr_get(&el, 0, "from");
    el.type = rt_xs_attr_get(&el, 0, "type");
    el.id = rt_xs_attr_get(&el, 0, "id");
    el.is_stanza = xs->cur_stanza;
    el.raw_unsafe = xs->cur_unsafe;
    el.raw = xs_span(xs, xs->elem_start, end);
    el.raw_len = (size_t)(end - xs->elem_start);
    bool go = xs->cbs.on_elem == NULL || xs->cbs.on_elem(xs->ctx, &el);
    xs_elem_clear(xs);
    xs->mark = end;
    if (!go || xs->reset_req) {
        xs->cb_said_stop = !go;
        xs_stop_after(xs, end);
    }
}

static void XMLCALL xs_on_end(void *ud, const XML_Char *name) {
    rt_xs_t *xs = ud;
    (void)name;
    if (xs->mute || xs->stopped) {
        return;
    }
    uint64_t end = xs_ev_end(xs);
    if (xs->depth == 1) {
        // </stream:stream>: stop in any case; rt_xs_feed checks that only whitespace follows.
        xs->depth = 0;
        xs->st = XS_ST_CLOSED;
        bool go = xs->cbs.on_close == NULL || xs->cbs.on_close(xs->ctx);
        xs->cb_said_stop = !go || xs->reset_req;
        xs_stop_after(xs, end);
        return;
    }
    if (end - xs->elem_start > xs->lim.max_stanza_bytes) {
        xs_fail(xs, RC_XML_LIMIT);
        return;
    }
    xs->depth--;
    while (xs->num_edecl > 0 && xs->edecl[xs->num_edecl - 1].depth > xs->depth) {
        xs->num_edecl--;
    }
    if (xs->depth == 1) {
        xs_deliver(xs, end);
        return;
    }
    if (!xs->cur_stanza && xs->cur_node != RT_XS_NONE) {
        xs->cur_node = xs->in[xs->cur_node].parent;
    }
}

static void XMLCALL xs_on_text(void *ud, const XML_Char *s, int len) {
    rt_xs_t *xs = ud;
    if (xs->mute || xs->stopped || len <= 0) {
        return;
    }
    uint64_t end = xs_ev_end(xs);
    if (xs->depth <= 1) {
        // Between top-level elements: whitespace keepalives (other text is ignored too).
        if (xs->depth == 1 && !xs->elem_active) {
            xs->mark = end;
        }
        return;
    }
    if (end - xs->elem_start > xs->lim.max_stanza_bytes) {
        xs_fail(xs, RC_XML_LIMIT);
        return;
    }
    if (xs->cur_stanza || xs->cur_node == RT_XS_NONE) {
        return;
    }
    size_t n = (size_t)len;
    if (!xs_budget_ok(xs, n + sizeof(xs_seg_t))) {
        xs_fail(xs, RC_XML_LIMIT);
        return;
    }
    if (xs->num_seg > 0 && xs->seg[xs->num_seg - 1].node == xs->cur_node &&
        xs->seg[xs->num_seg - 1].off + xs->seg[xs->num_seg - 1].len == xs->text.len) {
        xs->seg[xs->num_seg - 1].len += n;
    } else {
        xs_grow((void **)&xs->seg, &xs->cap_seg, xs->num_seg + 1, sizeof(xs_seg_t));
        xs->seg[xs->num_seg].node = xs->cur_node;
        xs->seg[xs->num_seg].off = xs->text.len;
        xs->seg[xs->num_seg].len = n;
        xs->num_seg++;
    }
    xs_vec_add(&xs->text, s, n);
    xs->in[xs->cur_node].text_len += n;
}

static void XMLCALL xs_on_xmldecl(void *ud, const XML_Char *version, const XML_Char *encoding,
                                  int standalone) {
    rt_xs_t *xs = ud;
    (void)version;
    if (xs->mute || xs->stopped) {
        return;
    }
    // CORE-9: no standalone declaration. CORE-53: UTF-8 only.
    if (standalone != -1 ||
        (encoding != NULL && !core_ascii_lower_eq(encoding, strlen(encoding), "utf-8", 5))) {
        xs_fail(xs, RC_XML_RESTRICTED);
    }
}

static void XMLCALL xs_on_comment(void *ud, const XML_Char *data) {
    (void)data;
    xs_fail(ud, RC_XML_RESTRICTED);
}

static void XMLCALL xs_on_pi(void *ud, const XML_Char *target, const XML_Char *data) {
    (void)target;
    (void)data;
    xs_fail(ud, RC_XML_RESTRICTED);
}

static void XMLCALL xs_on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
                                  const XML_Char *pubid, int has_internal_subset) {
    (void)name;
    (void)sysid;
    (void)pubid;
    (void)has_internal_subset;
    xs_fail(ud, RC_XML_RESTRICTED);
}

static void XMLCALL xs_on_entity(void *ud, const XML_Char *name, int is_param,
                                 const XML_Char *value, int value_len, const XML_Char *base,
                                 const XML_Char *sysid, const XML_Char *pubid,
                                 const XML_Char *notation) {
    (void)name;
    (void)is_param;
    (void)value;
    (void)value_len;
    (void)base;
    (void)sysid;
    (void)pubid;
    (void)notation;
    xs_fail(ud, RC_XML_RESTRICTED);
}

// xs_setup installs the handlers on |p| (after create or XML_ParserReset).
static void xs_setup(rt_xs_t *xs, XML_Parser p) {
    XML_SetUserData(p, xs);
    XML_SetReturnNSTriplet(p, XML_TRUE);
    XML_SetElementHandler(p, xs_on_start, xs_on_end);
    XML_SetCharacterDataHandler(p, xs_on_text);
    XML_SetStartNamespaceDeclHandler(p, xs_on_ns);
    XML_SetXmlDeclHandler(p, xs_on_xmldecl);
    XML_SetCommentHandler(p, xs_on_comment);
    XML_SetProcessingInstructionHandler(p, xs_on_pi);
    XML_SetStartDoctypeDeclHandler(p, xs_on_doctype);
    XML_SetEntityDeclHandler(p, xs_on_entity);
    XML_SetParamEntityParsing(p, XML_PARAM_ENTITY_PARSING_NEVER);
#ifdef RT_FUZZING
    XML_SetHashSalt(p, 1); // deterministic hashing while fuzzing
#endif
#if XML_MAJOR_VERSION > 2 || (XML_MAJOR_VERSION == 2 && XML_MINOR_VERSION >= 6)
    // Hand over each complete tag at once: XMPP is interactive.
    XML_SetReparseDeferralEnabled(p, XML_FALSE);
#endif
}

// xs_map_expat maps an expat error to an rc.
static rc_t xs_map_expat(enum XML_Error e) {
    switch (e) {
    case XML_ERROR_NO_MEMORY:
        return RC_ENOMEM;
    case XML_ERROR_UNDEFINED_ENTITY:
    case XML_ERROR_RECURSIVE_ENTITY_REF:
    case XML_ERROR_BINARY_ENTITY_REF:
    case XML_ERROR_ATTRIBUTE_EXTERNAL_ENTITY_REF:
    case XML_ERROR_EXTERNAL_ENTITY_HANDLING:
        return RC_XML_RESTRICTED;
    default:
        return RC_XML_NOT_WELL_FORMED;
    }
}

// ---------------------------------------------------------------------------------------------
// Lifecycle.

void rt_xs_limits_default(rt_xs_limits_t *out) {
    out->max_stanza_bytes = 262144;
    out->max_header_bytes = 4096;
    out->max_depth = 32;
    out->max_attrs = 64;
}

// xs_doc_restart starts a new document on |xs->p| (fresh stream, no header yet).
static void xs_doc_restart(rt_xs_t *xs) {
    RT_CHECK(XML_ParserReset(xs->p, "UTF-8") == XML_TRUE);
    xs_setup(xs, xs->p);
    xs->st = XS_ST_PROLOG;
    xs->depth = 0;
    xs->doc_pos = 0;
    xs->mark = 0;
    xs->acc.len = 0;
    xs->acc_base = 0;
    xs->need_replay = false;
    xs->reset_req = false;
    xs_header_clear(xs);
    xs_elem_clear(xs);
    xs_vec_idle(&xs->acc);
}

rt_xs_t *rt_xs_new(const rt_xs_limits_t *lim, const rt_xs_cbs_t *cbs, void *ctx) {
    rt_xs_t *xs = core_xcalloc(1, sizeof(*xs));
    rt_xs_limits_default(&xs->lim);
    if (lim != NULL) {
        // A zero field keeps its default (no limit is ever "unlimited").
        if (lim->max_stanza_bytes != 0) {
            xs->lim.max_stanza_bytes = lim->max_stanza_bytes;
        }
        if (lim->max_header_bytes != 0) {
            xs->lim.max_header_bytes = lim->max_header_bytes;
        }
        if (lim->max_depth != 0) {
            xs->lim.max_depth = lim->max_depth;
        }
        if (lim->max_attrs != 0) {
            xs->lim.max_attrs = lim->max_attrs;
        }
    }
    size_t s = xs->lim.max_stanza_bytes;
    xs->tree_budget = s > (SIZE_MAX - XS_TREE_SLACK) / 2 ? SIZE_MAX : 2 * s + XS_TREE_SLACK;
    if (cbs != NULL) {
        xs->cbs = *cbs;
    }
    xs->ctx = ctx;
    xs->p = XML_ParserCreateNS("UTF-8", XS_SEP);
    if (xs->p == NULL) {
        free(xs);
        return NULL;
    }
    xs_setup(xs, xs->p);
    xs_header_clear(xs);
    xs_elem_clear(xs);
    return xs;
}

void rt_xs_free(rt_xs_t *xs) {
    if (xs == NULL) {
        return;
    }
    if (xs->p != NULL) {
        XML_ParserFree(xs->p);
    }
    if (xs->rp != NULL) {
        XML_ParserFree(xs->rp);
    }
    xs_vec_free(&xs->acc);
    xs_vec_free(&xs->hdr_raw);
    xs_vec_free(&xs->hstr);
    xs_vec_free(&xs->strs);
    xs_vec_free(&xs->text);
    xs_vec_free(&xs->tcat);
    free(xs->hdecl);
    free(xs->in);
    free(xs->ia);
    free(xs->seg);
    free(xs->edecl);
    free(xs->on);
    free(xs->oa);
    free(xs);
}

void rt_xs_reset(rt_xs_t *xs) {
    if (xs->in_feed) {
        xs->reset_req = true; // done by rt_xs_feed once the callback has returned
        return;
    }
    xs_doc_restart(xs);
}

// xs_replay puts a reset parser in the state just after the stream header.
static rc_t xs_replay(rt_xs_t *xs) {
    RT_CHECK(XML_ParserReset(xs->p, "UTF-8") == XML_TRUE);
    xs_setup(xs, xs->p);
    xs->mute = true;
    enum XML_Status s = XML_Parse(xs->p, (const char *)xs->hdr_raw.data, (int)xs->hdr_raw.len,
                                  XML_FALSE);
    xs->mute = false;
    if (s != XML_STATUS_OK) {
        return RC_XML_NOT_WELL_FORMED; // cannot happen: these bytes parsed before
    }
    xs->need_replay = false;
    xs->st = XS_ST_OPEN;
    xs->depth = 1;
    xs->doc_pos = xs->hdr_raw.len;
    xs->mark = xs->doc_pos;
    xs->acc.len = 0;
    xs->acc_base = xs->doc_pos;
    xs_elem_clear(xs);
    return RC_OK;
}

// xs_utf8_prefix returns the length of the prefix of |data| without 0x00, 0xFE or 0xFF.
static size_t xs_utf8_prefix(const uint8_t *data, size_t len) {
    for (size_t i = 0; i < len; i++) {
        if (data[i] == 0x00 || data[i] >= 0xfe) {
            return i;
        }
    }
    return len;
}

// xs_keep_from returns the document offset where the pending item starts.
static uint64_t xs_keep_from(const rt_xs_t *xs) {
    if (xs->st == XS_ST_PROLOG) {
        return 0;
    }
    return xs->elem_active ? xs->elem_start : xs->mark;
}

static size_t xs_item_limit(const rt_xs_t *xs) {
    return xs->st == XS_ST_PROLOG ? xs->lim.max_header_bytes : xs->lim.max_stanza_bytes;
}

// xs_keep_tail copies the bytes of the pending item at the end of a feed into |acc|.
static void xs_keep_tail(rt_xs_t *xs) {
    uint64_t end = xs->feed_base + xs->feed_len;
    uint64_t from = xs_keep_from(xs);
    if (xs->st == XS_ST_CLOSED || from >= end) {
        xs->acc.len = 0;
        xs->acc_base = end;
    } else if (from >= xs->feed_base) {
        xs->acc.len = 0;
        xs->acc_base = from;
        xs_vec_add(&xs->acc, xs->feed_data + (from - xs->feed_base), (size_t)(end - from));
    } else {
        RT_CHECK(from >= xs->acc_base && xs->acc_base + xs->acc.len >= xs->feed_base);
        size_t drop = (size_t)(from - xs->acc_base);
        core_memmove(xs->acc.data, xs->acc.data + drop, (size_t)(xs->feed_base - from));
        xs->acc.len = (size_t)(xs->feed_base - from);
        xs->acc_base = from;
        xs_vec_add(&xs->acc, xs->feed_data, xs->feed_len);
    }
    if (xs->acc.len == 0) {
        xs_vec_idle(&xs->acc);
    }
}

rc_t rt_xs_feed(rt_xs_t *xs, const uint8_t *data, size_t len, size_t *out_consumed) {
    rc_t rc = RC_OK;
    size_t off = 0;
    *out_consumed = 0;
    if (xs->in_feed) {
        return RC_EINVAL; // not from a callback
    }
    if (xs->err != RC_OK) {
        *out_consumed = len;
        return xs->err;
    }
    if (xs->need_replay) {
        rc = xs_replay(xs);
        if (rc != RC_OK) {
            goto out;
        }
    }
    xs->in_feed = true;
    xs->feed_base = xs->doc_pos;
    xs->feed_data = data;
    xs->feed_len = len;
    // WARNING: expat switches to UTF-16 on a byte order mark or a NUL second byte even when told
    // "UTF-8". No UTF-8 XML contains 0x00, 0xFE or 0xFF: parse up to the first one, then fail.
    size_t good = xs_utf8_prefix(data, len);
    while (off < good && xs->st != XS_ST_CLOSED) {
        // End the slice at the first byte over the pending item's limit.
        uint64_t pending = xs->feed_base + off - xs_keep_from(xs);
        size_t lim = xs_item_limit(xs);
        size_t n = good - off;
        if (n > XS_SLICE) {
            n = XS_SLICE;
        }
        if (pending <= lim && n > lim - pending + 1) {
            n = (size_t)(lim - pending + 1);
        }
        xs->stopped = false;
        xs->cb_stop = false;
        xs->cb_said_stop = false;
        enum XML_Status s = XML_Parse(xs->p, (const char *)data + off, (int)n, XML_FALSE);
        if (!xs->stopped && s != XML_STATUS_OK) {
            rc = xs_map_expat(XML_GetErrorCode(xs->p));
            goto out;
        }
        if (xs->stopped) {
            if (!xs->cb_stop) {
                rc = xs->stop_rc;
                goto out;
            }
            // A callback stopped, or the stream closed.
            off = (size_t)(xs->stop_at - xs->feed_base);
            if (xs->st == XS_ST_CLOSED && !xs->cb_said_stop) {
                break; // check the rest for whitespace below
            }
            xs->in_feed = false;
            *out_consumed = off;
            if (xs->reset_req) {
                xs_doc_restart(xs);
            } else if (xs->st != XS_ST_CLOSED) {
                xs->need_replay = true;
                xs_elem_clear(xs);
                xs->acc.len = 0;
            }
            return RC_OK;
        }
        off += n;
        if (xs->feed_base + off - xs_keep_from(xs) > xs_item_limit(xs)) {
            rc = RC_XML_LIMIT;
            goto out;
        }
    }
    if (good < len && xs->st != XS_ST_CLOSED) {
        rc = RC_XML_NOT_WELL_FORMED;
        goto out;
    }
    if (xs->st == XS_ST_CLOSED) {
        for (; off < len; off++) {
            if (!xs_is_ws(data[off])) {
                rc = RC_XML_NOT_WELL_FORMED;
                goto out;
            }
        }
        *out_consumed = len;
        xs->in_feed = false;
        return RC_OK;
    }
    xs_keep_tail(xs);
    xs->doc_pos += len;
    *out_consumed = len;

out:
    xs->in_feed = false;
    xs->feed_data = NULL;
    if (rc != RC_OK) {
        xs->err = rc;
        *out_consumed = len;
    }
    return rc;
}

const char *rt_xs_error_condition(rc_t rc) {
    switch (rc) {
    case RC_XML_NOT_WELL_FORMED:
        return "not-well-formed";
    case RC_XML_RESTRICTED:
        return "restricted-xml";
    case RC_XML_LIMIT:
        return "policy-violation";
    case RC_XML_NAMESPACE:
        return "invalid-namespace";
    case RC_XML_PREFIX:
        return "bad-namespace-prefix";
    default:
        return "internal-server-error";
    }
}

// ---------------------------------------------------------------------------------------------
// Tree helpers.

uint32_t rt_xs_child(const rt_xs_elem_t *el, uint32_t parent, const char *ns, const char *name) {
    if (parent >= el->num_nodes) {
        return RT_XS_NONE;
    }
    for (uint32_t c = el->nodes[parent].first_child; c != RT_XS_NONE && c < el->num_nodes;
         c = el->nodes[c].next_sibling) {
        if (strcmp(el->nodes[c].name, name) == 0 && (ns == NULL || strcmp(el->nodes[c].ns, ns) == 0)) {
            return c;
        }
    }
    return RT_XS_NONE;
}

const char *rt_xs_attr_get(const rt_xs_elem_t *el, uint32_t idx, const char *name) {
    if (idx >= el->num_nodes) {
        return NULL;
    }
    const rt_xs_node_t *n = &el->nodes[idx];
    for (uint32_t i = 0; i < n->num_attrs; i++) {
        const rt_xs_attr_t *a = &el->attrs[n->first_attr + i];
        if (a->ns[0] == '\0' && strcmp(a->name, name) == 0) {
            return a->value;
        }
    }
    return NULL;
}

// ---------------------------------------------------------------------------------------------
// Re-serialisation: parse |raw| again inside a wrapper that carries the stream header's namespace
// declarations, and write every event out with the namespaces it needs declared in place.

typedef struct xs_rs_bind {
    size_t prefix_off; // SIZE_MAX: the default namespace
    size_t uri_off;
    size_t depth;
} xs_rs_bind_t;

typedef struct xs_rs {
    core_bld_t *out;
    const char *src_ns; // the stream's content namespace
    const char *target_ns;
    size_t depth; // 1 = wrapper
    bool tag_open;
    rc_t err;
    xs_vec_t strs;
    xs_rs_bind_t *bind;
    size_t num_bind, cap_bind;
} xs_rs_t;

static const char *xs_rs_str(const xs_rs_t *rs, size_t off) {
    return (const char *)rs->strs.data + off;
}

static size_t xs_rs_add(xs_rs_t *rs, const char *s, size_t len) {
    size_t off = rs->strs.len;
    xs_vec_add(&rs->strs, s, len);
    xs_vec_add(&rs->strs, "", 1);
    return off;
}

// xs_rs_map maps the stream's content namespace to the target one.
static void xs_rs_map(const xs_rs_t *rs, const xs_qname_t *q, const char **out, size_t *out_len) {
    if (xs_eq(q->uri, q->uri_len, rs->src_ns)) {
        *out = rs->target_ns;
        *out_len = strlen(rs->target_ns);
    } else {
        *out = q->uri;
        *out_len = q->uri_len;
    }
}

// xs_rs_bound tells whether |prefix| (NULL: default) is bound to |uri| in the output so far.
static bool xs_rs_bound(const xs_rs_t *rs, const char *prefix, size_t prefix_len, const char *uri,
                        size_t uri_len) {
    for (size_t i = rs->num_bind; i-- > 0;) {
        const xs_rs_bind_t *b = &rs->bind[i];
        bool same_prefix = prefix == NULL
                               ? b->prefix_off == SIZE_MAX
                               : (b->prefix_off != SIZE_MAX &&
                                  xs_eq(prefix, prefix_len, xs_rs_str(rs, b->prefix_off)));
        if (same_prefix) {
            return xs_eq(uri, uri_len, xs_rs_str(rs, b->uri_off));
        }
    }
    // Nothing bound: the default namespace is "none"; a prefix is unbound.
    return prefix == NULL && uri_len == 0;
}

// xs_rs_qname writes |q|'s name as "prefix:local", or "local" when unprefixed.
static void xs_rs_qname(xs_rs_t *rs, const xs_qname_t *q) {
    if (q->prefix != NULL) {
        core_bld_add(rs->out, q->prefix, q->prefix_len);
        core_bld_add_u8(rs->out, ':');
    }
    core_bld_add(rs->out, q->local, q->local_len);
}

static void xs_rs_declare(xs_rs_t *rs, const char *prefix, size_t prefix_len, const char *uri,
                          size_t uri_len) {
    core_bld_add_str(rs->out, " xmlns");
    if (prefix != NULL) {
        core_bld_add_u8(rs->out, ':');
        core_bld_add(rs->out, prefix, prefix_len);
    }
    core_bld_add_str(rs->out, "='");
    core_bld_add_xml_attr(rs->out, uri, uri_len);
    core_bld_add_u8(rs->out, '\'');
    xs_grow((void **)&rs->bind, &rs->cap_bind, rs->num_bind + 1, sizeof(xs_rs_bind_t));
    xs_rs_bind_t *b = &rs->bind[rs->num_bind++];
    b->prefix_off = prefix == NULL ? SIZE_MAX : xs_rs_add(rs, prefix, prefix_len);
    b->uri_off = xs_rs_add(rs, uri, uri_len);
    b->depth = rs->depth;
}

static void xs_rs_close_tag(xs_rs_t *rs) {
    if (rs->tag_open) {
        core_bld_add_u8(rs->out, '>');
        rs->tag_open = false;
    }
}

static void XMLCALL xs_rs_start(void *ud, const XML_Char *name, const XML_Char **atts) {
    xs_rs_t *rs = ud;
    rs->depth++;
    if (rs->depth == 1) {
        return; // the wrapper
    }
    xs_rs_close_tag(rs);
    xs_qname_t q;
    xs_split(name, &q);
    if (xs_eq(q.uri, q.uri_len, rs->src_ns)) {
        q.prefix = NULL; // content-namespace elements are written unprefixed (RFC 6120 §4.8.5)
    }
    const char *uri;
    size_t uri_len;
    xs_rs_map(rs, &q, &uri, &uri_len);
    core_bld_add_u8(rs->out, '<');
    xs_rs_qname(rs, &q);
    if (rs->depth == 2) {
        // The top element: the target namespace becomes the default.
        if (q.prefix == NULL) {
            xs_rs_declare(rs, NULL, 0, uri, uri_len);
        } else {
            xs_rs_declare(rs, NULL, 0, rs->target_ns, strlen(rs->target_ns));
        }
    } else if (q.prefix == NULL && !xs_rs_bound(rs, NULL, 0, uri, uri_len)) {
        xs_rs_declare(rs, NULL, 0, uri, uri_len);
    }
    if (q.prefix != NULL && !xs_rs_bound(rs, q.prefix, q.prefix_len, uri, uri_len)) {
        xs_rs_declare(rs, q.prefix, q.prefix_len, uri, uri_len);
    }
    for (size_t i = 0; atts[i] != NULL; i += 2) {
        xs_qname_t aq;
        xs_split(atts[i], &aq);
        if (aq.prefix != NULL && !xs_eq(aq.prefix, aq.prefix_len, "xml")) {
            const char *auri;
            size_t auri_len;
            xs_rs_map(rs, &aq, &auri, &auri_len);
            if (!xs_rs_bound(rs, aq.prefix, aq.prefix_len, auri, auri_len)) {
                xs_rs_declare(rs, aq.prefix, aq.prefix_len, auri, auri_len);
            }
        }
        core_bld_add_u8(rs->out, ' ');
        xs_rs_qname(rs, &aq);
        core_bld_add_str(rs->out, "='");
        core_bld_add_xml_attr(rs->out, atts[i + 1], strlen(atts[i + 1]));
        core_bld_add_u8(rs->out, '\'');
    }
    rs->tag_open = true;
}

static void XMLCALL xs_rs_end(void *ud, const XML_Char *name) {
    xs_rs_t *rs = ud;
    if (rs->depth >= 2) {
        if (rs->tag_open) {
            core_bld_add_str(rs->out, "/>");
            rs->tag_open = false;
        } else {
            xs_qname_t q;
            xs_split(name, &q);
            if (xs_eq(q.uri, q.uri_len, rs->src_ns)) {
                q.prefix = NULL;
            }
            core_bld_add_str(rs->out, "</");
            xs_rs_qname(rs, &q);
            core_bld_add_u8(rs->out, '>');
        }
    }
    while (rs->num_bind > 0 && rs->bind[rs->num_bind - 1].depth >= rs->depth) {
        rs->num_bind--;
    }
    rs->depth--;
}

static void XMLCALL xs_rs_text(void *ud, const XML_Char *s, int len) {
    xs_rs_t *rs = ud;
    if (rs->depth < 2 || len <= 0) {
        return;
    }
    xs_rs_close_tag(rs);
    core_bld_add_xml_text(rs->out, s, (size_t)len);
}

static void XMLCALL xs_rs_bad(void *ud, const XML_Char *data) {
    (void)data;
    xs_rs_t *rs = ud;
    rs->err = RC_XML_RESTRICTED;
}

rc_t rt_xs_reserialize(rt_xs_t *xs, const rt_xs_elem_t *el, const char *target_ns,
                       core_bld_t *out) {
    rc_t rc = RC_OK;
    xs_rs_t rs;
    core_bld_t wrap;
    core_memset(&rs, 0, sizeof(rs));
    core_bld_init(&wrap, xs->lim.max_header_bytes * 6 + 64);
    rs.out = out;
    rs.src_ns = xs->hdr.ns_default;
    rs.target_ns = target_ns;

    if (xs->rp == NULL) {
        xs->rp = XML_ParserCreateNS("UTF-8", XS_SEP);
        if (xs->rp == NULL) {
            rc = RC_ENOMEM;
            goto out;
        }
    } else if (!XML_ParserReset(xs->rp, "UTF-8")) {
        rc = RC_ENOMEM;
        goto out;
    }
    XML_SetUserData(xs->rp, &rs);
    XML_SetReturnNSTriplet(xs->rp, XML_TRUE);
    XML_SetElementHandler(xs->rp, xs_rs_start, xs_rs_end);
    XML_SetCharacterDataHandler(xs->rp, xs_rs_text);
    XML_SetCommentHandler(xs->rp, xs_rs_bad);
    XML_SetParamEntityParsing(xs->rp, XML_PARAM_ENTITY_PARSING_NEVER);

    // <w xmlns='default' xmlns:p='uri' ...> with the stream header's declarations.
    core_bld_add_str(&wrap, "<w");
    for (size_t i = 0; i < xs->num_hdecl; i++) {
        const char *pfx = xs_hstr(xs, xs->hdecl[i].prefix_off);
        const char *uri = xs_hstr(xs, xs->hdecl[i].uri_off);
        core_bld_add_str(&wrap, " xmlns");
        if (pfx != NULL) {
            core_bld_add_u8(&wrap, ':');
            core_bld_add_str(&wrap, pfx);
        }
        core_bld_add_str(&wrap, "='");
        core_bld_add_xml_attr(&wrap, uri, strlen(uri));
        core_bld_add_u8(&wrap, '\'');
    }
    core_bld_add_u8(&wrap, '>');
    rc = core_bld_finish(&wrap);
    if (rc != RC_OK) {
        goto out;
    }
    if (el->raw_len > (size_t)INT32_MAX ||
        XML_Parse(xs->rp, (const char *)wrap.data, (int)wrap.len, XML_FALSE) != XML_STATUS_OK ||
        XML_Parse(xs->rp, (const char *)el->raw, (int)el->raw_len, XML_FALSE) != XML_STATUS_OK ||
        XML_Parse(xs->rp, "</w>", 4, XML_TRUE) != XML_STATUS_OK) {
        rc = RC_XML_NOT_WELL_FORMED;
        goto out;
    }
    if (rs.err != RC_OK) {
        rc = rs.err;
        goto out;
    }
    rc = core_bld_finish(out);

out:
    core_bld_cleanup(&wrap);
    xs_vec_free(&rs.strs);
    free(rs.bind);
    return rc;
}

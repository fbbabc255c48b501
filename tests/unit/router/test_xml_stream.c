// test_xml_stream.c: unit tests of router/xml_stream.c.
//
// Each script is fed three ways (one piece, split at every offset into two feeds, one byte at a
// time) and must give the same event log. The log records every callback with its data, every
// stop (with its absolute offset) and the final result.
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "router/xml_stream.h"
#include "tests/support/t.h"

#define HDR_SERVER                                                                                 \
    "<?xml version='1.0'?><stream:stream xmlns='jabber:server' "                                   \
    "xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' "           \
    "from='a.example' to='b.example' id='s1d' version='1.0' xml:lang='en'>"

#define HDR_COMPONENT                                                                              \
    "<stream:stream xmlns='jabber:component:accept' "                                              \
    "xmlns:stream='http://etherx.jabber.org/streams' xmlns:foo='urn:foo' to='c.example'>"

typedef struct rec {
    core_bld_t log;
    rt_xs_t *xs;
    const char *stop_name; // on_elem returns false for elements with this local name
    bool reset_on_stop;    // and calls rt_xs_reset
    bool stop_open;        // on_open returns false
    bool tls;              // after a stop with reset: remaining bytes are "TLS", not fed
    bool stopped;          // a callback returned false during the last feed
    size_t tls_bytes;      // bytes not fed after the TLS switch
    size_t tls_at;
    const char *reser_target; // reserialize every raw_unsafe element into this namespace
    size_t num_elems;
    rt_xs_header_t hdr; // last header (strings copied into hdr_buf)
    char hdr_buf[1024];
} rec_t;

static void logf_(rec_t *r, const char *fmt, ...) RT_PRINTF(2, 3);
static void logf_(rec_t *r, const char *fmt, ...) {
    char tmp[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    T_ASSERT(n >= 0 && (size_t)n < sizeof(tmp));
    core_bld_add(&r->log, tmp, (size_t)n);
}

static const char *nz(const char *s) {
    return s ? s : "(null)";
}

static const char *copy_hdr(rec_t *r, size_t *pos, const char *s) {
    if (s == NULL) {
        return NULL;
    }
    size_t n = strlen(s) + 1;
    T_ASSERT(*pos + n <= sizeof(r->hdr_buf));
    memcpy(r->hdr_buf + *pos, s, n);
    const char *p = r->hdr_buf + *pos;
    *pos += n;
    return p;
}

static bool cb_open(void *ctx, const rt_xs_header_t *h) {
    rec_t *r = ctx;
    logf_(r, "OPEN ns=%s to=%s from=%s id=%s version=%s lang=%s db=%d\n", h->ns_default, nz(h->to),
          nz(h->from), nz(h->id), nz(h->version), nz(h->lang), h->has_dialback);
    size_t pos = 0;
    r->hdr.ns_default = copy_hdr(r, &pos, h->ns_default);
    r->hdr.to = copy_hdr(r, &pos, h->to);
    r->hdr.from = copy_hdr(r, &pos, h->from);
    r->hdr.id = copy_hdr(r, &pos, h->id);
    r->hdr.version = copy_hdr(r, &pos, h->version);
    r->hdr.lang = copy_hdr(r, &pos, h->lang);
    r->hdr.has_dialback = h->has_dialback;
    if (r->stop_open) {
        r->stopped = true;
        return false;
    }
    return true;
}

static void log_node(rec_t *r, const rt_xs_elem_t *el, uint32_t i) {
    const rt_xs_node_t *n = &el->nodes[i];
    T_ASSERT(strlen(n->text) == n->text_len);
    logf_(r, "  node %u parent=%d child=%d next=%d {%s}%s text=[%s]", i, (int)n->parent,
          (int)n->first_child, (int)n->next_sibling, n->ns, n->name, n->text);
    for (uint32_t a = 0; a < n->num_attrs; a++) {
        const rt_xs_attr_t *at = &el->attrs[n->first_attr + a];
        logf_(r, " {%s}%s=[%s]", at->ns, at->name, at->value);
    }
    logf_(r, "\n");
}

static bool cb_elem(void *ctx, const rt_xs_elem_t *el) {
    rec_t *r = ctx;
    r->num_elems++;
    T_ASSERT(el->raw_len >= 3 && el->raw[0] == '<' && el->raw[el->raw_len - 1] == '>');
    logf_(r, "ELEM {%s}%s stanza=%d unsafe=%d to=%s from=%s type=%s id=%s raw=[%.*s]\n", el->ns,
          el->name, el->is_stanza, el->raw_unsafe, nz(el->to), nz(el->from), nz(el->type),
          nz(el->id), (int)el->raw_len, (const char *)el->raw);
    T_ASSERT(el->num_nodes >= 1);
    if (el->is_stanza) {
        T_ASSERT_EQ(el->num_nodes, 1);
        T_ASSERT_EQ(el->nodes[0].first_child, RT_XS_NONE);
    }
    for (uint32_t i = 0; i < el->num_nodes; i++) {
        log_node(r, el, i);
    }
    if (r->reser_target != NULL && el->raw_unsafe) {
        core_bld_t out;
        core_bld_init(&out, 1 << 20);
        T_ASSERT_EQ(rt_xs_reserialize(r->xs, el, r->reser_target, &out), RC_OK);
        logf_(r, "  RESER [%.*s]\n", (int)out.len, (const char *)out.data);
        core_bld_cleanup(&out);
    }
    if (r->stop_name != NULL && strcmp(el->name, r->stop_name) == 0) {
        if (r->reset_on_stop) {
            rt_xs_reset(r->xs);
            r->tls = true;
        }
        r->stopped = true;
        return false;
    }
    return true;
}

static bool cb_close(void *ctx) {
    rec_t *r = ctx;
    logf_(r, "CLOSE\n");
    return true;
}

static const rt_xs_cbs_t cbs = {cb_open, cb_elem, cb_close};

static void rec_init(rec_t *r) {
    memset(r, 0, sizeof(*r));
    core_bld_init(&r->log, 1 << 22);
}

// feed_chunk feeds one chunk (absolute offset |base|), re-feeding after stops like a session
// that pauses. Returns the rc of the first failing feed.
static rc_t feed_chunk(rec_t *r, const uint8_t *data, size_t base, size_t len) {
    size_t off = 0;
    while (off < len) {
        if (r->tls) {
            if (r->tls_bytes == 0) {
                r->tls_at = base + off;
            }
            r->tls_bytes += len - off;
            return RC_OK;
        }
        size_t used = 0;
        rc_t rc = rt_xs_feed(r->xs, data + off, len - off, &used);
        if (rc != RC_OK) {
            logf_(r, "ERROR %s (%s)\n", rc_str(rc), rt_xs_error_condition(rc));
            return rc;
        }
        T_ASSERT(used <= len - off);
        if (r->stopped) {
            logf_(r, "STOP at %zu\n", base + off + used);
            r->stopped = false;
        } else {
            T_ASSERT_EQ(used, len - off);
        }
        off += used;
    }
    return RC_OK;
}

// run feeds |script| in pieces given by |cuts| (sorted offsets) and returns the log (owned).
static char *run(const char *script, size_t len, const size_t *cuts, size_t num_cuts,
                 const rt_xs_limits_t *lim, const rec_t *proto, rc_t *out_rc) {
    rec_t r;
    rec_init(&r);
    r.stop_name = proto->stop_name;
    r.reset_on_stop = proto->reset_on_stop;
    r.stop_open = proto->stop_open;
    r.reser_target = proto->reser_target;
    r.xs = rt_xs_new(lim, &cbs, &r);
    T_ASSERT(r.xs != NULL);
    size_t prev = 0;
    rc_t rc = RC_OK;
    for (size_t i = 0; i <= num_cuts && rc == RC_OK; i++) {
        size_t end = i < num_cuts ? cuts[i] : len;
        // Copy each piece into its own buffer so ASan catches reads outside it.
        uint8_t *piece = malloc(end - prev + 1);
        T_ASSERT(piece != NULL);
        memcpy(piece, script + prev, end - prev);
        rc = feed_chunk(&r, piece, prev, end - prev);
        free(piece);
        prev = end;
    }
    if (r.tls_bytes != 0) {
        logf_(&r, "TLS %zu bytes at %zu\n", r.tls_bytes, r.tls_at);
    }
    logf_(&r, "END %s\n", rc_str(rc));
    core_bld_add_u8(&r.log, 0);
    T_ASSERT_EQ(core_bld_finish(&r.log), RC_OK);
    rt_xs_free(r.xs);
    *out_rc = rc;
    return (char *)r.log.data;
}

// check3 runs |script| three ways, asserts the logs are equal, and returns the one-piece log.
static char *check3(const char *script, const rt_xs_limits_t *lim, const rec_t *proto,
                    rc_t *out_rc) {
    size_t len = strlen(script);
    rc_t rc1;
    char *one = run(script, len, NULL, 0, lim, proto, &rc1);
    for (size_t cut = 1; cut < len; cut++) {
        rc_t rc2;
        char *two = run(script, len, &cut, 1, lim, proto, &rc2);
        if (strcmp(one, two) != 0) {
            fprintf(stderr, "split at %zu differs:\n--- one piece\n%s--- split\n%s", cut, one, two);
            exit(1);
        }
        T_ASSERT_EQ(rc1, rc2);
        free(two);
    }
    size_t *cuts = malloc(len * sizeof(size_t));
    T_ASSERT(cuts != NULL);
    for (size_t i = 0; i + 1 < len; i++) {
        cuts[i] = i + 1;
    }
    rc_t rc3;
    char *bytes = run(script, len, cuts, len ? len - 1 : 0, lim, proto, &rc3);
    if (strcmp(one, bytes) != 0) {
        fprintf(stderr, "byte-at-a-time differs:\n--- one piece\n%s--- bytes\n%s", one, bytes);
        exit(1);
    }
    T_ASSERT_EQ(rc1, rc3);
    free(bytes);
    free(cuts);
    *out_rc = rc1;
    return one;
}

static const rec_t plain = {0};

// expect3 runs |script| three ways and asserts the log equals |want|.
static void expect3(const char *script, const rt_xs_limits_t *lim, const rec_t *proto,
                    const char *want) {
    rc_t rc;
    char *got = check3(script, lim, proto, &rc);
    if (strcmp(got, want) != 0) {
        fprintf(stderr, "log differs:\n--- want\n%s--- got\n%s", want, got);
        exit(1);
    }
    free(got);
}

// expect_err runs |script| three ways and asserts it fails with |want|.
static void expect_err(const char *script, const rt_xs_limits_t *lim, rc_t want) {
    rc_t rc;
    char *got = check3(script, lim, &plain, &rc);
    if (rc != want) {
        fprintf(stderr, "want %s, got:\n%s", rc_str(want), got);
        exit(1);
    }
    free(got);
}

static void test_header(void) {
    expect3(HDR_SERVER, NULL, &plain,
            "OPEN ns=jabber:server to=b.example from=a.example id=s1d version=1.0 lang=en db=1\n"
            "END ok\n");
    // No XML declaration, no dialback, double quotes, attributes absent.
    expect3("<stream:stream xmlns=\"jabber:server\" "
            "xmlns:stream=\"http://etherx.jabber.org/streams\">",
            NULL, &plain,
            "OPEN ns=jabber:server to=(null) from=(null) id=(null) version=(null) lang=(null) "
            "db=0\nEND ok\n");
    // db bound to something else is not dialback.
    expect3("<stream:stream xmlns='jabber:server' xmlns:db='urn:other' "
            "xmlns:stream='http://etherx.jabber.org/streams'>",
            NULL, &plain,
            "OPEN ns=jabber:server to=(null) from=(null) id=(null) version=(null) lang=(null) "
            "db=0\nEND ok\n");
    // The header fields are usable from the callback.
    rec_t r;
    rec_init(&r);
    r.xs = rt_xs_new(NULL, &cbs, &r);
    size_t used = 0;
    T_ASSERT_EQ(rt_xs_feed(r.xs, (const uint8_t *)HDR_SERVER, strlen(HDR_SERVER), &used), RC_OK);
    T_ASSERT_EQ(used, strlen(HDR_SERVER));
    T_ASSERT_STREQ(r.hdr.ns_default, "jabber:server");
    T_ASSERT_STREQ(r.hdr.to, "b.example");
    T_ASSERT_STREQ(r.hdr.from, "a.example");
    T_ASSERT_STREQ(r.hdr.id, "s1d");
    T_ASSERT_STREQ(r.hdr.version, "1.0");
    T_ASSERT_STREQ(r.hdr.lang, "en");
    T_ASSERT(r.hdr.has_dialback);
    rt_xs_free(r.xs);
    core_bld_cleanup(&r.log);
}

// Check the features tree with the helpers (not only the log).
static bool cb_features(void *ctx, const rt_xs_elem_t *el) {
    int *seen = ctx;
    T_ASSERT_STREQ(el->ns, RT_XS_NS_STREAMS);
    T_ASSERT_STREQ(el->name, "features");
    T_ASSERT(!el->is_stanza);
    uint32_t tls = rt_xs_child(el, 0, RT_XS_NS_TLS, "starttls");
    T_ASSERT(tls != RT_XS_NONE);
    T_ASSERT(rt_xs_child(el, tls, RT_XS_NS_TLS, "required") != RT_XS_NONE);
    T_ASSERT(rt_xs_child(el, tls, RT_XS_NS_SASL, "required") == RT_XS_NONE);
    uint32_t mechs = rt_xs_child(el, 0, RT_XS_NS_SASL, "mechanisms");
    T_ASSERT(mechs != RT_XS_NONE);
    uint32_t m1 = rt_xs_child(el, mechs, RT_XS_NS_SASL, "mechanism");
    T_ASSERT(m1 != RT_XS_NONE);
    T_ASSERT_STREQ(el->nodes[m1].text, "EXTERNAL");
    uint32_t m2 = el->nodes[m1].next_sibling;
    T_ASSERT(m2 != RT_XS_NONE);
    T_ASSERT_STREQ(el->nodes[m2].text, "SCRAM-SHA-1");
    T_ASSERT_EQ(el->nodes[m2].text_len, 11);
    T_ASSERT_EQ(el->nodes[m2].next_sibling, RT_XS_NONE);
    uint32_t db = rt_xs_child(el, 0, NULL, "dialback");
    T_ASSERT(db != RT_XS_NONE);
    T_ASSERT_STREQ(el->nodes[db].ns, RT_XS_NS_DIALBACK_FEATURE);
    T_ASSERT(rt_xs_child(el, db, RT_XS_NS_DIALBACK_FEATURE, "errors") != RT_XS_NONE);
    T_ASSERT(rt_xs_child(el, 0, NULL, "bind") == RT_XS_NONE);
    T_ASSERT(rt_xs_child(el, 99, NULL, "bind") == RT_XS_NONE);
    (*seen)++;
    return true;
}

#define FEATURES                                                                                   \
    "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls>"   \
    "<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>\n  <mechanism>EXTERNAL</mechanism>"      \
    "<mechanism>SCRAM-SHA-1</mechanism></mechanisms>"                                              \
    "<dialback xmlns='urn:xmpp:features:dialback'><errors/></dialback></stream:features>"

static void test_features(void) {
    int seen = 0;
    rt_xs_cbs_t c = {NULL, cb_features, NULL};
    rt_xs_t *xs = rt_xs_new(NULL, &c, &seen);
    const char *s = HDR_SERVER FEATURES;
    size_t used;
    T_ASSERT_EQ(rt_xs_feed(xs, (const uint8_t *)s, strlen(s), &used), RC_OK);
    T_ASSERT_EQ(seen, 1);
    rt_xs_free(xs);

    expect3(HDR_SERVER FEATURES, NULL, &plain,
            "OPEN ns=jabber:server to=b.example from=a.example id=s1d version=1.0 lang=en db=1\n"
            "ELEM {http://etherx.jabber.org/streams}features stanza=0 unsafe=1 to=(null) "
            "from=(null) type=(null) id=(null) raw=[" FEATURES "]\n"
            "  node 0 parent=-1 child=1 next=-1 {http://etherx.jabber.org/streams}features "
            "text=[]\n"
            "  node 1 parent=0 child=2 next=3 {urn:ietf:params:xml:ns:xmpp-tls}starttls text=[]\n"
            "  node 2 parent=1 child=-1 next=-1 {urn:ietf:params:xml:ns:xmpp-tls}required "
            "text=[]\n"
            "  node 3 parent=0 child=4 next=6 {urn:ietf:params:xml:ns:xmpp-sasl}mechanisms "
            "text=[\n  ]\n"
            "  node 4 parent=3 child=-1 next=5 {urn:ietf:params:xml:ns:xmpp-sasl}mechanism "
            "text=[EXTERNAL]\n"
            "  node 5 parent=3 child=-1 next=-1 {urn:ietf:params:xml:ns:xmpp-sasl}mechanism "
            "text=[SCRAM-SHA-1]\n"
            "  node 6 parent=0 child=7 next=-1 {urn:xmpp:features:dialback}dialback text=[]\n"
            "  node 7 parent=6 child=-1 next=-1 {urn:xmpp:features:dialback}errors text=[]\n"
            "END ok\n");
}

static void test_dialback(void) {
    expect3(HDR_SERVER "<db:result from='a.example' to='b.example'>0a1b&amp;2c</db:result>"
                       "<db:verify from='b.example' to='a.example' id='s1d' type='valid'/>",
            NULL, &plain,
            "OPEN ns=jabber:server to=b.example from=a.example id=s1d version=1.0 lang=en db=1\n"
            "ELEM {jabber:server:dialback}result stanza=0 unsafe=1 to=b.example from=a.example "
            "type=(null) id=(null) raw=[<db:result from='a.example' "
            "to='b.example'>0a1b&amp;2c</db:result>]\n"
            "  node 0 parent=-1 child=-1 next=-1 {jabber:server:dialback}result text=[0a1b&2c] "
            "{}from=[a.example] {}to=[b.example]\n"
            "ELEM {jabber:server:dialback}verify stanza=0 unsafe=1 to=a.example from=b.example "
            "type=valid id=s1d raw=[<db:verify from='b.example' to='a.example' id='s1d' "
            "type='valid'/>]\n"
            "  node 0 parent=-1 child=-1 next=-1 {jabber:server:dialback}verify text=[] "
            "{}from=[b.example] {}to=[a.example] {}id=[s1d] {}type=[valid]\n"
            "END ok\n");
}

#define MSG1                                                                                       \
    "<message from='a@a.example/r' to='b@b.example' type='chat' id='m&amp;1&#x41;'>"              \
    "<body>hi &lt;there&gt; \xc3\xa9\xe2\x82\xac <![CDATA[<raw & ]] stuff>]]></body>"             \
    "<x xmlns='jabber:x:oob'><url>http://e/?a=1&amp;b=2</url><p:q xmlns:p='urn:p' p:a='1'/></x>" \
    "</message>"
#define PRES "<presence from='a@a.example'/>"
#define IQ "<iq type=\"get\" id='i1'><query xmlns='jabber:iq:version'/></iq>"

static void test_stanzas(void) {
    expect3(HDR_SERVER " \n" MSG1 " " PRES "\t\r\n" IQ "  ", NULL, &plain,
            "OPEN ns=jabber:server to=b.example from=a.example id=s1d version=1.0 lang=en db=1\n"
            "ELEM {jabber:server}message stanza=1 unsafe=0 to=b@b.example from=a@a.example/r "
            "type=chat id=m&1A raw=[" MSG1 "]\n"
            "  node 0 parent=-1 child=-1 next=-1 {jabber:server}message text=[] "
            "{}from=[a@a.example/r] {}to=[b@b.example] {}type=[chat] {}id=[m&1A]\n"
            "ELEM {jabber:server}presence stanza=1 unsafe=0 to=(null) from=a@a.example "
            "type=(null) id=(null) raw=[" PRES "]\n"
            "  node 0 parent=-1 child=-1 next=-1 {jabber:server}presence text=[] "
            "{}from=[a@a.example]\n"
            "ELEM {jabber:server}iq stanza=1 unsafe=0 to=(null) from=(null) type=get id=i1 "
            "raw=[" IQ "]\n"
            "  node 0 parent=-1 child=-1 next=-1 {jabber:server}iq text=[] {}type=[get] "
            "{}id=[i1]\n"
            "END ok\n");
    // A message in another namespace is not a stanza; it gets a tree.
    expect3(HDR_SERVER "<message xmlns='jabber:client'><body>x</body></message>", NULL, &plain,
            "OPEN ns=jabber:server to=b.example from=a.example id=s1d version=1.0 lang=en db=1\n"
            "ELEM {jabber:client}message stanza=0 unsafe=1 to=(null) from=(null) type=(null) "
            "id=(null) raw=[<message xmlns='jabber:client'><body>x</body></message>]\n"
            "  node 0 parent=-1 child=1 next=-1 {jabber:client}message text=[]\n"
            "  node 1 parent=0 child=-1 next=-1 {jabber:client}body text=[x]\n"
            "END ok\n");
}

static void test_close(void) {
    expect3(HDR_SERVER PRES "</stream:stream>\n ", NULL, &plain,
            "OPEN ns=jabber:server to=b.example from=a.example id=s1d version=1.0 lang=en db=1\n"
            "ELEM {jabber:server}presence stanza=1 unsafe=0 to=(null) from=a@a.example "
            "type=(null) id=(null) raw=[" PRES "]\n"
            "  node 0 parent=-1 child=-1 next=-1 {jabber:server}presence text=[] "
            "{}from=[a@a.example]\n"
            "CLOSE\n"
            "END ok\n");
    expect_err(HDR_SERVER "</stream:stream> <x/>", NULL, RC_XML_NOT_WELL_FORMED);
}

static void test_errors(void) {
    rt_xs_limits_t lim;
    // Restricted XML.
    expect_err(HDR_SERVER PRES "<!-- hi -->", NULL, RC_XML_RESTRICTED);
    expect_err("<?xml version='1.0'?><!-- hi --><stream:stream>", NULL, RC_XML_RESTRICTED);
    expect_err(HDR_SERVER "<?php echo 1 ?>", NULL, RC_XML_RESTRICTED);
    expect_err("<?xml version='1.0'?><?xml-stylesheet href='a'?><stream:stream>", NULL,
               RC_XML_RESTRICTED);
    expect_err("<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol 'lol'>"
               "<!ENTITY lol2 '&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;'>"
               "<!ENTITY lol3 '&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;'>]>"
               "<stream:stream xmlns:stream='http://etherx.jabber.org/streams'>&lol3;",
               NULL, RC_XML_RESTRICTED);
    expect_err("<!DOCTYPE stream SYSTEM 'http://x/y.dtd'>", NULL, RC_XML_RESTRICTED);
    expect_err(HDR_SERVER "<message><body>&ent;</body></message>", NULL, RC_XML_RESTRICTED);
    expect_err("<?xml version='1.0' standalone='no'?><stream:stream>", NULL, RC_XML_RESTRICTED);
    expect_err("<?xml version='1.0' encoding='ISO-8859-1'?><stream:stream>", NULL,
               RC_XML_RESTRICTED);
    expect3("<?xml version='1.0' encoding='utf-8'?><stream:stream "
            "xmlns:stream='http://etherx.jabber.org/streams'>",
            NULL, &plain,
            "OPEN ns= to=(null) from=(null) id=(null) version=(null) lang=(null) db=0\nEND ok\n");
    // Namespaces.
    expect_err("<stream:stream xmlns:stream='urn:wrong'>", NULL, RC_XML_NAMESPACE);
    expect_err("<stream xmlns='jabber:server'>", NULL, RC_XML_NAMESPACE);
    expect_err("<stream:strea xmlns:stream='http://etherx.jabber.org/streams'>", NULL,
               RC_XML_NAMESPACE);
    expect_err("<s:stream xmlns:s='http://etherx.jabber.org/streams'>", NULL, RC_XML_PREFIX);
    expect_err("<stream xmlns='http://etherx.jabber.org/streams'>", NULL, RC_XML_PREFIX);
    // Not well-formed.
    expect_err(HDR_SERVER "<message><body></message>", NULL, RC_XML_NOT_WELL_FORMED);
    expect_err(HDR_SERVER "<message><q:x/></message>", NULL, RC_XML_NOT_WELL_FORMED);
    expect_err(HDR_SERVER "<message a='1' a='2'/>", NULL, RC_XML_NOT_WELL_FORMED);
    expect_err(HDR_SERVER "<message>\xff</message>", NULL, RC_XML_NOT_WELL_FORMED);
    expect_err("  <?xml version='1.0'?><stream:stream>", NULL, RC_XML_NOT_WELL_FORMED);
    // UTF-16 (expat would switch on a BOM or a NUL byte) and stray 0xFE/0xFF bytes.
    static const struct {
        const char *s;
        size_t len;
    } bin[] = {
        {"\xd5\x00\n", 3},
        {"<\x00s\x00t\x00", 6},
        {"\xff\xfe<\x00", 4},
        {"\xfe\xff\x00<", 4},
        {HDR_SERVER "<presence/>\x00", sizeof(HDR_SERVER "<presence/>")},
    };
    for (size_t i = 0; i < RT_ARRAY_LEN(bin); i++) {
        for (size_t cut = 0; cut <= bin[i].len; cut++) {
            rec_t r;
            rec_init(&r);
            r.xs = rt_xs_new(NULL, &cbs, &r);
            size_t used;
            rc_t rc1 = rt_xs_feed(r.xs, (const uint8_t *)bin[i].s, cut, &used);
            rc_t rc2 = rt_xs_feed(r.xs, (const uint8_t *)bin[i].s + cut, bin[i].len - cut, &used);
            T_ASSERT(rc1 == RC_XML_NOT_WELL_FORMED || rc2 == RC_XML_NOT_WELL_FORMED);
            // The presence before the NUL is delivered in every split.
            T_ASSERT_EQ(r.num_elems, i == 4 ? 1 : 0);
            rt_xs_free(r.xs);
            core_bld_cleanup(&r.log);
        }
    }
    // Limits: depth.
    rt_xs_limits_default(&lim);
    lim.max_depth = 4;
    expect3(HDR_COMPONENT "<iq><a><b><c/></b></a></iq>", &lim, &plain,
            "OPEN ns=jabber:component:accept to=c.example from=(null) id=(null) version=(null) "
            "lang=(null) db=0\n"
            "ELEM {jabber:component:accept}iq stanza=1 unsafe=0 to=(null) from=(null) "
            "type=(null) id=(null) raw=[<iq><a><b><c/></b></a></iq>]\n"
            "  node 0 parent=-1 child=-1 next=-1 {jabber:component:accept}iq text=[]\n"
            "END ok\n");
    expect_err(HDR_COMPONENT "<iq><a><b><c><d/></c></b></a></iq>", &lim, RC_XML_LIMIT);
    expect_err(HDR_COMPONENT "<x><a><b><c><d/></c></b></a></x>", &lim, RC_XML_LIMIT);
    // Attributes (namespace declarations count too).
    rt_xs_limits_default(&lim);
    lim.max_attrs = 3;
    expect_err(HDR_COMPONENT "<iq a='1' b='2' c='3' d='4'/>", &lim, RC_XML_LIMIT);
    expect_err(HDR_COMPONENT "<iq a='1' b='2' xmlns:x='u1' xmlns:y='u2'/>", &lim, RC_XML_LIMIT);
    expect_err(HDR_COMPONENT "<iq><q a='1' b='2' c='3' d='4'/></iq>", &lim, RC_XML_LIMIT);
    expect_err("<stream:stream xmlns:stream='http://etherx.jabber.org/streams' a='1' b='2' "
               "c='3'>",
               &lim, RC_XML_LIMIT);
    // Header bytes.
    rt_xs_limits_default(&lim);
    lim.max_header_bytes = 120;
    expect_err(HDR_SERVER, &lim, RC_XML_LIMIT);
    char big[400];
    snprintf(big, sizeof(big), "<stream:stream xmlns:stream='http://etherx.jabber.org/streams' "
                               "to='%0200d'",
             0);
    expect_err(big, &lim, RC_XML_LIMIT);
}

// An oversize stanza fails as soon as it passes the limit, long before its end.
static void test_oversize(void) {
    rt_xs_limits_t lim;
    rt_xs_limits_default(&lim);
    lim.max_stanza_bytes = 200;
    const char *pre = HDR_SERVER "  <message><body>";
    size_t elem_start = strlen(HDR_SERVER) + 2;
    // Exactly at the limit passes; one more byte fails.
    char ok[512], bad[512];
    size_t fill = 200 - strlen("<message><body></body></message>");
    snprintf(ok, sizeof(ok), "%s%0*d</body></message>", pre, (int)fill, 0);
    snprintf(bad, sizeof(bad), "%s%0*d</body></message>", pre, (int)fill + 1, 0);
    rc_t rc;
    char *log = check3(ok, &lim, &plain, &rc);
    T_ASSERT_EQ(rc, RC_OK);
    T_ASSERT(strstr(log, "ELEM {jabber:server}message") != NULL);
    free(log);
    expect_err(bad, &lim, RC_XML_LIMIT);

    // An endless stanza, fed one byte at a time: fails at the 201st byte of the element.
    rec_t r;
    rec_init(&r);
    r.xs = rt_xs_new(&lim, &cbs, &r);
    size_t used;
    T_ASSERT_EQ(rt_xs_feed(r.xs, (const uint8_t *)pre, strlen(pre), &used), RC_OK);
    size_t pos = strlen(pre);
    rc = RC_OK;
    while (rc == RC_OK && pos < 100000) {
        rc = rt_xs_feed(r.xs, (const uint8_t *)"a", 1, &used);
        pos++;
    }
    T_ASSERT_EQ(rc, RC_XML_LIMIT);
    T_ASSERT_EQ(pos - elem_start, 201);
    // After an error nothing more is accepted.
    T_ASSERT_EQ(rt_xs_feed(r.xs, (const uint8_t *)" ", 1, &used), RC_XML_LIMIT);
    rt_xs_free(r.xs);
    core_bld_cleanup(&r.log);

    // An endless start tag (one huge attribute) in one big feed, and endless junk before the
    // element starts, and an endless header.
    size_t n = 1 << 20;
    char *huge = malloc(n + 1);
    T_ASSERT(huge != NULL);
    const char *tails[] = {"<message to='", "<message><body>", "<message ",
                           "<stream:stream to='"};
    for (size_t i = 0; i < RT_ARRAY_LEN(tails); i++) {
        size_t hl = i == 3 ? 0 : strlen(HDR_SERVER);
        memcpy(huge, HDR_SERVER, hl);
        memcpy(huge + hl, tails[i], strlen(tails[i]));
        memset(huge + hl + strlen(tails[i]), i == 2 ? ' ' : 'a', n - hl - strlen(tails[i]));
        rec_init(&r);
        r.xs = rt_xs_new(&lim, &cbs, &r);
        T_ASSERT_EQ(rt_xs_feed(r.xs, (const uint8_t *)huge, n, &used), RC_XML_LIMIT);
        T_ASSERT_EQ(r.num_elems, 0);
        rt_xs_free(r.xs);
        core_bld_cleanup(&r.log);
    }
    free(huge);
}

// STARTTLS: <proceed/> then TLS bytes in the same buffer; consumed stops right after '>'.
static void test_starttls(void) {
    const char *proceed = "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>";
    const char junk[] = "\x16\x03\x01\x02\x05\x01\x07\xff<<&</stream:stream>";
    char script[1024];
    snprintf(script, sizeof(script), "%s%s%s", HDR_SERVER, proceed, junk);
    size_t end = strlen(HDR_SERVER) + strlen(proceed);

    rec_t r;
    rec_init(&r);
    r.stop_name = "proceed";
    r.reset_on_stop = true;
    r.xs = rt_xs_new(NULL, &cbs, &r);
    size_t used = 0;
    T_ASSERT_EQ(rt_xs_feed(r.xs, (const uint8_t *)script, strlen(script), &used), RC_OK);
    T_ASSERT_EQ(used, end);
    T_ASSERT_EQ(r.num_elems, 1);
    // After the reset the next bytes are a new document: XML declaration and header again.
    const char *again = "<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
                        "xmlns:stream='http://etherx.jabber.org/streams' id='s2'>" PRES;
    T_ASSERT_EQ(rt_xs_feed(r.xs, (const uint8_t *)again, strlen(again), &used), RC_OK);
    T_ASSERT_EQ(used, strlen(again));
    T_ASSERT_STREQ(r.hdr.id, "s2");
    T_ASSERT_EQ(r.num_elems, 2);
    rt_xs_free(r.xs);
    core_bld_cleanup(&r.log);

    // Same three ways: the stop offset and the TLS bytes are identical.
    rec_t proto = {0};
    proto.stop_name = "proceed";
    proto.reset_on_stop = true;
    char want[2048];
    snprintf(want, sizeof(want),
             "OPEN ns=jabber:server to=b.example from=a.example id=s1d version=1.0 lang=en db=1\n"
             "ELEM {urn:ietf:params:xml:ns:xmpp-tls}proceed stanza=0 unsafe=1 to=(null) "
             "from=(null) type=(null) id=(null) raw=[%s]\n"
             "  node 0 parent=-1 child=-1 next=-1 {urn:ietf:params:xml:ns:xmpp-tls}proceed "
             "text=[]\n"
             "STOP at %zu\n"
             "TLS %zu bytes at %zu\n"
             "END ok\n",
             proceed, end, strlen(junk), end);
    rc_t rc;
    char *got = check3(script, NULL, &proto, &rc);
    if (strcmp(got, want) != 0) {
        fprintf(stderr, "want:\n%sgot:\n%s", want, got);
        exit(1);
    }
    free(got);
}

// A callback that returns false without a reset: the caller feeds the rest again and parsing goes
// on from the byte after the element (the parser replays the header internally).
static void test_pause(void) {
    rec_t proto = {0};
    proto.stop_name = "presence";
    proto.reser_target = RT_XS_NS_SERVER;
    rc_t rc;
    char *got = check3(HDR_SERVER PRES "<presence/> <db:result to='x'>k</db:result>" IQ
                                       "</stream:stream>",
                       NULL, &proto, &rc);
    T_ASSERT_EQ(rc, RC_OK);
    size_t p1 = strlen(HDR_SERVER PRES);
    size_t p2 = p1 + strlen("<presence/>");
    char stops[128];
    snprintf(stops, sizeof(stops), "STOP at %zu\n", p1);
    T_ASSERT(strstr(got, stops) != NULL);
    snprintf(stops, sizeof(stops), "STOP at %zu\n", p2);
    T_ASSERT(strstr(got, stops) != NULL);
    T_ASSERT(strstr(got, "ELEM {jabber:server:dialback}result stanza=0 unsafe=1") != NULL);
    T_ASSERT(strstr(got, "RESER [<db:result xmlns='jabber:server' "
                         "xmlns:db='jabber:server:dialback' to='x'>k</db:result>]") != NULL);
    T_ASSERT(strstr(got, "ELEM {jabber:server}iq stanza=1") != NULL);
    T_ASSERT(strstr(got, "CLOSE\nEND ok\n") != NULL);
    free(got);

    // on_open returning false: consumed ends at the header's '>'.
    rec_t r;
    rec_init(&r);
    r.stop_open = true;
    r.xs = rt_xs_new(NULL, &cbs, &r);
    const char *s = HDR_SERVER PRES;
    size_t used;
    T_ASSERT_EQ(rt_xs_feed(r.xs, (const uint8_t *)s, strlen(s), &used), RC_OK);
    T_ASSERT_EQ(used, strlen(HDR_SERVER));
    T_ASSERT_EQ(r.num_elems, 0);
    T_ASSERT_EQ(rt_xs_feed(r.xs, (const uint8_t *)s + used, strlen(s) - used, &used), RC_OK);
    T_ASSERT_EQ(used, strlen(PRES));
    T_ASSERT_EQ(r.num_elems, 1);
    rt_xs_free(r.xs);
    core_bld_cleanup(&r.log);
}

// rt_xs_reset between feeds (after SASL success): a new document follows.
static void test_restart(void) {
    rec_t r;
    rec_init(&r);
    r.xs = rt_xs_new(NULL, &cbs, &r);
    const char *s1 = HDR_SERVER "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>";
    size_t used;
    T_ASSERT_EQ(rt_xs_feed(r.xs, (const uint8_t *)s1, strlen(s1), &used), RC_OK);
    T_ASSERT_EQ(r.num_elems, 1);
    rt_xs_reset(r.xs);
    const char *s2 = "<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' "
                     "xmlns:stream='http://etherx.jabber.org/streams' id='s3'>" PRES;
    T_ASSERT_EQ(rt_xs_feed(r.xs, (const uint8_t *)s2, strlen(s2), &used), RC_OK);
    T_ASSERT_STREQ(r.hdr.id, "s3");
    T_ASSERT_STREQ(r.hdr.ns_default, "jabber:component:accept");
    T_ASSERT(!r.hdr.has_dialback);
    T_ASSERT_EQ(r.num_elems, 2);
    // Without a reset a second header is an error.
    T_ASSERT_EQ(rt_xs_feed(r.xs, (const uint8_t *)"<?xml version='1.0'?>", 21, &used),
                RC_XML_NOT_WELL_FORMED);
    rt_xs_free(r.xs);
    core_bld_cleanup(&r.log);
}

// Parses |xml| (one element) under a plain |ns| stream and returns whether it is a stanza there.
static bool parses_as_stanza(const char *ns, const uint8_t *xml, size_t len) {
    rec_t r;
    rec_init(&r);
    r.xs = rt_xs_new(NULL, &cbs, &r);
    char hdr[256];
    snprintf(hdr, sizeof(hdr),
             "<stream:stream xmlns='%s' xmlns:stream='http://etherx.jabber.org/streams'>", ns);
    size_t used;
    bool ok = rt_xs_feed(r.xs, (const uint8_t *)hdr, strlen(hdr), &used) == RC_OK &&
              rt_xs_feed(r.xs, xml, len, &used) == RC_OK && r.num_elems == 1;
    core_bld_add_u8(&r.log, 0);
    ok = ok && strstr((char *)r.log.data, "stanza=1") != NULL;
    rt_xs_free(r.xs);
    core_bld_cleanup(&r.log);
    return ok;
}

static rt_xs_t *g_xs;
static core_bld_t g_out;
static int g_unsafe;

static bool cb_reser(void *ctx, const rt_xs_elem_t *el) {
    (void)ctx;
    g_unsafe = el->raw_unsafe;
    core_bld_reset(&g_out);
    T_ASSERT_EQ(rt_xs_reserialize(g_xs, el, RT_XS_NS_SERVER, &g_out), RC_OK);
    return true;
}

static void reser(const char *hdr, const char *elem, int want_unsafe, const char *want) {
    rt_xs_cbs_t c = {NULL, cb_reser, NULL};
    g_xs = rt_xs_new(NULL, &c, NULL);
    core_bld_init(&g_out, 1 << 16);
    g_unsafe = -1;
    size_t used;
    T_ASSERT_EQ(rt_xs_feed(g_xs, (const uint8_t *)hdr, strlen(hdr), &used), RC_OK);
    T_ASSERT_EQ(rt_xs_feed(g_xs, (const uint8_t *)elem, strlen(elem), &used), RC_OK);
    T_ASSERT_EQ(g_unsafe, want_unsafe);
    if (g_out.len != strlen(want) || memcmp(g_out.data, want, g_out.len) != 0) {
        fprintf(stderr, "reserialize: want\n%s\ngot\n%.*s\n", want, (int)g_out.len,
                (const char *)g_out.data);
        exit(1);
    }
    T_ASSERT(parses_as_stanza(RT_XS_NS_SERVER, g_out.data, g_out.len));
    core_bld_cleanup(&g_out);
    rt_xs_free(g_xs);
}

static bool cb_reser_small(void *ctx, const rt_xs_elem_t *el) {
    (void)ctx;
    core_bld_t small;
    core_bld_init(&small, 10);
    T_ASSERT_EQ(rt_xs_reserialize(g_xs, el, RT_XS_NS_SERVER, &small), RC_ENOBUFS);
    core_bld_cleanup(&small);
    g_unsafe = 2;
    return true;
}

static void test_reserialize(void) {
    // A prefix declared on the stream header, used inside a stanza.
    reser(HDR_COMPONENT, "<message to='x@y' from='c.example'><foo:data a='1'>t&amp;u</foo:data>"
                         "<body>hi</body></message>",
          1,
          "<message xmlns='jabber:server' to='x@y' from='c.example'><foo:data xmlns:foo='urn:foo' "
          "a='1'>t&amp;u</foo:data><body>hi</body></message>");
    // ... in an attribute only.
    reser(HDR_COMPONENT, "<presence foo:x='1'/>", 1,
          "<presence xmlns='jabber:server' xmlns:foo='urn:foo' foo:x='1'/>");
    // An explicit xmlns='jabber:component:accept' routed to jabber:server.
    reser(HDR_COMPONENT,
          "<message xmlns='jabber:component:accept' to='x@y'><body>a&#10;b</body>"
          "<x xmlns='jabber:x:data' type='form'><field var='f&apos;&#9;'/></x></message>",
          1,
          "<message xmlns='jabber:server' to='x@y'><body>a\nb</body><x xmlns='jabber:x:data' "
          "type='form'><field var='f&apos;&#9;'/></x></message>");
    // Unprefixed children of a foreign namespace, then back to no namespace; xml:lang kept.
    reser(HDR_COMPONENT,
          "<iq xmlns='jabber:component:accept' type='get' xml:lang='de'><q xmlns='urn:q'>"
          "<r xmlns=''/><s/></q></iq>",
          1,
          "<iq xmlns='jabber:server' type='get' xml:lang='de'><q xmlns='urn:q'><r xmlns=''/><s/>"
          "</q></iq>");
    // The stream's own namespace under a prefix declared on the stanza itself: copied raw it would
    // stay {jabber:component:accept}message inside a jabber:server stream.
    reser(HDR_COMPONENT,
          "<c:message xmlns:c='jabber:component:accept' to='x@y'><c:body>hi</c:body></c:message>", 1,
          "<message xmlns='jabber:server' to='x@y'><body>hi</body></message>");
    // Safe elements: prefixes declared inside, no explicit default namespace.
    reser(HDR_COMPONENT, "<message><p:x xmlns:p='urn:p' p:y='2'/></message>", 0,
          "<message xmlns='jabber:server'><p:x xmlns:p='urn:p' p:y='2'/></message>");

    // RC_ENOBUFS when the output is too small.
    rt_xs_cbs_t c = {NULL, cb_reser_small, NULL};
    g_xs = rt_xs_new(NULL, &c, NULL);
    const char *s = HDR_COMPONENT "<message><foo:x/></message>";
    size_t used;
    g_unsafe = 0;
    T_ASSERT_EQ(rt_xs_feed(g_xs, (const uint8_t *)s, strlen(s), &used), RC_OK);
    T_ASSERT_EQ(g_unsafe, 2);
    rt_xs_free(g_xs);

    // The unsafe flag three ways, including reserialisation output.
    rec_t proto = {0};
    proto.reser_target = RT_XS_NS_SERVER;
    expect3(HDR_COMPONENT "<message xmlns='jabber:component:accept'/><iq><foo:q/></iq>", NULL,
            &proto,
            "OPEN ns=jabber:component:accept to=c.example from=(null) id=(null) version=(null) "
            "lang=(null) db=0\n"
            "ELEM {jabber:component:accept}message stanza=1 unsafe=1 to=(null) from=(null) "
            "type=(null) id=(null) raw=[<message xmlns='jabber:component:accept'/>]\n"
            "  node 0 parent=-1 child=-1 next=-1 {jabber:component:accept}message text=[]\n"
            "  RESER [<message xmlns='jabber:server'/>]\n"
            "ELEM {jabber:component:accept}iq stanza=1 unsafe=1 to=(null) from=(null) "
            "type=(null) id=(null) raw=[<iq><foo:q/></iq>]\n"
            "  node 0 parent=-1 child=-1 next=-1 {jabber:component:accept}iq text=[]\n"
            "  RESER [<iq xmlns='jabber:server'><foo:q xmlns:foo='urn:foo'/></iq>]\n"
            "END ok\n");
}

static void test_error_condition(void) {
    T_ASSERT_STREQ(rt_xs_error_condition(RC_XML_NOT_WELL_FORMED), "not-well-formed");
    T_ASSERT_STREQ(rt_xs_error_condition(RC_XML_RESTRICTED), "restricted-xml");
    T_ASSERT_STREQ(rt_xs_error_condition(RC_XML_LIMIT), "policy-violation");
    T_ASSERT_STREQ(rt_xs_error_condition(RC_XML_NAMESPACE), "invalid-namespace");
    T_ASSERT_STREQ(rt_xs_error_condition(RC_XML_PREFIX), "bad-namespace-prefix");
    T_ASSERT_STREQ(rt_xs_error_condition(RC_ENOMEM), "internal-server-error");
}

// Many stanzas through one parser: buffers are reused (and a big one shrinks back).
static void test_many(void) {
    rec_t r;
    rec_init(&r);
    r.xs = rt_xs_new(NULL, &cbs, &r);
    size_t used;
    T_ASSERT_EQ(rt_xs_feed(r.xs, (const uint8_t *)HDR_SERVER, strlen(HDR_SERVER), &used), RC_OK);
    for (int i = 0; i < 2000; i++) {
        const char *s = i % 2 ? MSG1 : FEATURES;
        // Split each element in two feeds at a varying point.
        size_t len = strlen(s);
        size_t cut = (size_t)i % len;
        T_ASSERT_EQ(rt_xs_feed(r.xs, (const uint8_t *)s, cut, &used), RC_OK);
        T_ASSERT_EQ(rt_xs_feed(r.xs, (const uint8_t *)s + cut, len - cut, &used), RC_OK);
        core_bld_reset(&r.log);
    }
    T_ASSERT_EQ(r.num_elems, 2000);
    rt_xs_free(r.xs);
    core_bld_cleanup(&r.log);
}

int main(void) {
    test_header();
    test_features();
    test_dialback();
    test_stanzas();
    test_close();
    test_errors();
    test_oversize();
    test_starttls();
    test_pause();
    test_restart();
    test_reserialize();
    test_error_condition();
    test_many();
    return 0;
}

// xml_stream.h: XMPP stream framing on expat (RFC 6120 §4, §11).
//
// An rt_xs_t parses one direction of one XMPP stream. It reports the stream header, then each
// top-level element, then the stream close. A stanza is reported with the exact bytes that arrived
// (|raw|), so the router forwards them without rebuilding; only the top-level start tag is parsed
// into fields. Other top-level elements (features, starttls, dialback, SASL, handshake, stream
// errors) are also given as a small flat tree with text, for negotiation code to read.
//
// Restricted XML: a DOCTYPE, comment, processing instruction (other than the XML declaration) or
// entity declaration ends the stream with RC_XML_RESTRICTED. Limits: stanza bytes, depth and
// attributes per element; over a limit ends with RC_XML_LIMIT. Limits have finite defaults.
// Input is UTF-8 only: an XML declaration with standalone or another encoding is
// RC_XML_RESTRICTED; a 0x00, 0xFE or 0xFF byte is RC_XML_NOT_WELL_FORMED. The root must be
// {http://etherx.jabber.org/streams}stream (else RC_XML_NAMESPACE) with the prefix "stream" (else
// RC_XML_PREFIX). Text between top-level elements (whitespace keepalives) is skipped. After
// </stream:stream> only whitespace is accepted.
//
// Thread: an rt_xs_t belongs to one worker. Callbacks run synchronously inside rt_xs_feed.
#ifndef RT_ROUTER_XML_STREAM_H
#define RT_ROUTER_XML_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "router/core/bytes.h"
#include "router/core/rc.h"

#define RT_XS_NS_STREAMS "http://etherx.jabber.org/streams"
#define RT_XS_NS_SERVER "jabber:server"
#define RT_XS_NS_COMPONENT "jabber:component:accept"
#define RT_XS_NS_DIALBACK "jabber:server:dialback"
#define RT_XS_NS_TLS "urn:ietf:params:xml:ns:xmpp-tls"
#define RT_XS_NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"
#define RT_XS_NS_STREAM_ERRORS "urn:ietf:params:xml:ns:xmpp-streams"
#define RT_XS_NS_STANZA_ERRORS "urn:ietf:params:xml:ns:xmpp-stanzas"
#define RT_XS_NS_DIALBACK_FEATURE "urn:xmpp:features:dialback"
#define RT_XS_NS_BIDI_FEATURE "urn:xmpp:features:bidi"
#define RT_XS_NS_BIDI "urn:xmpp:bidi"
#define RT_XS_NS_SM "urn:xmpp:sm:3"

#define RT_XS_NONE UINT32_MAX

typedef struct rt_xs rt_xs_t;

// Limits of one stream; a zero field means its default (none is ever unlimited).
typedef struct rt_xs_limits {
    size_t max_stanza_bytes; // bytes of one top-level element, '<' to final '>' (default 262144)
    size_t max_header_bytes; // bytes of a stream header (default 4096)
    size_t max_depth;        // element nesting inside one top-level element (default 32)
    size_t max_attrs;        // attributes per element, namespace declarations included (default 64)
} rt_xs_limits_t;

// rt_xs_limits_default fills |out| with the defaults above.
void rt_xs_limits_default(rt_xs_limits_t *out);

typedef struct rt_xs_attr {
    const char *ns;   // namespace URI, "" when unqualified
    const char *name; // local name
    const char *value;
} rt_xs_attr_t;

// One element of a parsed tree. Indices point into the elem's |nodes| / |attrs| arrays.
typedef struct rt_xs_node {
    const char *ns;   // namespace URI ("" if none)
    const char *name; // local name
    const char *text; // character data directly inside this element, concatenated ("" if none)
    size_t text_len;
    uint32_t parent;       // RT_XS_NONE for the top element
    uint32_t first_child;  // RT_XS_NONE if none
    uint32_t next_sibling; // RT_XS_NONE if none
    uint32_t first_attr;
    uint32_t num_attrs;
} rt_xs_node_t;

// A top-level element. Everything is borrowed and valid only until the callback returns.
typedef struct rt_xs_elem {
    const char *ns;   // namespace URI of the element
    const char *name; // local name
    // Unqualified attributes of the top-level start tag; NULL when absent.
    const char *to;
    const char *from;
    const char *type;
    const char *id;
    // The element exactly as received.
    const uint8_t *raw;
    size_t raw_len;
    // True for message/presence/iq in the stream's default namespace.
    bool is_stanza;
    // True when forwarding |raw| into another stream would change its meaning: it uses a namespace
    // prefix declared on the stream header, or declares the default namespace explicitly (any
    // xmlns='...' on the top-level element). Use rt_xs_reserialize then.
    bool raw_unsafe;
    // The tree: nodes[0] is the top-level element. Filled for non-stanzas; for stanzas only
    // nodes[0] (with its attributes) is filled.
    const rt_xs_node_t *nodes;
    size_t num_nodes;
    const rt_xs_attr_t *attrs;
    size_t num_attrs;
} rt_xs_elem_t;

// The stream header (<stream:stream ...>).
typedef struct rt_xs_header {
    const char *ns_default; // default namespace (e.g. jabber:server), "" if none
    const char *to;         // NULL when absent
    const char *from;
    const char *id;
    const char *version;
    const char *lang;
    bool has_dialback; // xmlns:db='jabber:server:dialback' declared
} rt_xs_header_t;

typedef struct rt_xs_cbs {
    // Each returns true to go on parsing, false to stop: rt_xs_feed then returns at once with
    // |*out_consumed| set just after the element (used around STARTTLS and on close).
    bool (*on_open)(void *ctx, const rt_xs_header_t *hdr);
    bool (*on_elem)(void *ctx, const rt_xs_elem_t *el);
    bool (*on_close)(void *ctx); // </stream:stream>
} rt_xs_cbs_t;

// rt_xs_new returns an owned parser, freed with rt_xs_free. |lim| may be NULL for defaults.
rt_xs_t *rt_xs_new(const rt_xs_limits_t *lim, const rt_xs_cbs_t *cbs, void *ctx);
void rt_xs_free(rt_xs_t *xs);

// rt_xs_feed parses |len| bytes. Returns RC_OK when all bytes were consumed or a callback stopped
// parsing (|*out_consumed| tells how many bytes were used), or an error: RC_XML_NOT_WELL_FORMED,
// RC_XML_RESTRICTED, RC_XML_LIMIT, RC_XML_NAMESPACE, RC_XML_PREFIX. After an error the parser
// accepts nothing more (|*out_consumed| is then |len|). Bytes of an unfinished element are kept
// inside the parser (at most the limit). Not from a callback (RC_EINVAL).
RT_MUSTCHECK rc_t rt_xs_feed(rt_xs_t *xs, const uint8_t *data, size_t len, size_t *out_consumed);

// rt_xs_reset prepares for a stream restart (after STARTTLS or SASL success): the next bytes are
// a new XML declaration and stream header. Call it from a callback that returns false, or
// between feeds; from a callback it also stops parsing after that element. Errors stay sticky.
void rt_xs_reset(rt_xs_t *xs);

// rt_xs_error_condition maps an RC_XML_* code to the RFC 6120 stream error condition name
// (e.g. "not-well-formed", "restricted-xml", "policy-violation", "invalid-namespace").
const char *rt_xs_error_condition(rc_t rc);

// rt_xs_reserialize writes |el| as well-formed XML whose default namespace is |target_ns|, with
// every namespace it uses declared on the element itself, into |out|. Returns RC_OK or an error
// (RC_ENOBUFS when |out| hits its limit).
RT_MUSTCHECK rc_t rt_xs_reserialize(rt_xs_t *xs, const rt_xs_elem_t *el, const char *target_ns,
                                    core_bld_t *out);

// Tree helpers. rt_xs_child finds the first child of node |parent| with |ns| and |name| (ns NULL
// matches any); returns its index or RT_XS_NONE. rt_xs_attr_get returns an unqualified attribute's
// value of node |idx| or NULL.
uint32_t rt_xs_child(const rt_xs_elem_t *el, uint32_t parent, const char *ns, const char *name);
const char *rt_xs_attr_get(const rt_xs_elem_t *el, uint32_t idx, const char *name);

#endif

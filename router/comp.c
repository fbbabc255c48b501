// comp.c: XEP-0114 component sessions (jabber:component:accept). A component serves one hosted
// domain; stanzas it sends are routed (other hosted domains locally, remote domains over s2s);
// stanzas for its domain are written to it.
#include <stdlib.h>
#include <string.h>

#include "dna/dbkey.h"
#include "router/internal.h"

typedef enum rt_comp_state {
    RT_COMP_WAIT_HEADER = 0,
    RT_COMP_WAIT_HANDSHAKE,
    RT_COMP_BOUND,
} rt_comp_state_t;

#define LOGC(lvl, c, fmt, ...)                                                                     \
    CORE_LOG(lvl, CORE_LOG_SRC_COMP, "w%u c%lu %s: " fmt, (c)->w->idx, (unsigned long)(c)->id,    \
             (c)->peer_text, __VA_ARGS__)

void rt_comp_accepted(rt_conn_t *c) {
    c->state = RT_COMP_WAIT_HEADER;
    c->deadline_ms = c->w->now_ms + (uint64_t)c->w->conf->comp_auth_timeout_s * 1000u;
}

void rt_comp_timeout(rt_conn_t *c) {
    LOGC(CORE_LOG_INFO, c, "component did not authenticate within %us",
         c->w->conf->comp_auth_timeout_s);
    rt_conn_stream_error(c, "connection-timeout", NULL);
}

static bool on_open(void *ctx, const rt_xs_header_t *hdr) {
    rt_conn_t *c = ctx;
    const rt_conf_t *conf = c->w->conf;
    rt_conn_new_stream_id(c);
    char dom[DNA_DOMAIN_MAX];
    if (c->state != RT_COMP_WAIT_HEADER) {
        rt_conn_stream_error(c, "not-authorized", "unexpected stream restart");
        return false;
    }
    if (strcmp(hdr->ns_default, RT_XS_NS_COMPONENT) != 0) {
        rt_conn_write_header(c, "", NULL, true);
        rt_conn_stream_error(c, "invalid-namespace", "expected jabber:component:accept");
        return false;
    }
    const rt_conf_domain_t *d = NULL;
    if (hdr->to != NULL && dna_domain_normalize(dom, sizeof(dom), hdr->to, strlen(hdr->to)) == RC_OK) {
        d = rt_conf_domain(conf, dom);
    }
    if (d == NULL) {
        rt_conn_write_header(c, "", NULL, true);
        rt_conn_stream_error(c, "host-unknown", "no component is configured for this domain");
        return false;
    }
    c->dom_idx = (size_t)(d - conf->domains);
    rt_conn_write_header(c, d->name, NULL, true);
    c->state = RT_COMP_WAIT_HANDSHAKE;
    return true;
}

static void bind_domain(rt_conn_t *c) {
    rt_router_t *rt = c->w->rt;
    const char *name = c->w->conf->domains[c->dom_idx].name;
    int32_t expected = -1;
    if (!atomic_compare_exchange_strong(&rt->comp_worker[c->dom_idx], &expected,
                                        (int32_t)c->w->idx)) {
        LOGC(CORE_LOG_WARN, c, "refusing second component for %s", name);
        rt_conn_stream_error(c, "conflict", "a component is already connected for this domain");
        return;
    }
    c->w->comp_by_domain[c->dom_idx] = c;
    c->state = RT_COMP_BOUND;
    c->deadline_ms = 0;
    rt_conn_write_str(c, "<handshake/>");
    LOGC(CORE_LOG_INFO, c, "component for %s connected", name);
}

static bool handle_stanza(rt_conn_t *c, const rt_xs_elem_t *el) {
    const char *mydom = c->w->conf->domains[c->dom_idx].name;
    char fdom[DNA_DOMAIN_MAX], tdom[DNA_DOMAIN_MAX];
    if (el->from == NULL || el->to == NULL ||
        rt_route_jid_domain(el->from, fdom, sizeof(fdom)) != RC_OK ||
        rt_route_jid_domain(el->to, tdom, sizeof(tdom)) != RC_OK) {
        rt_conn_stream_error(c, "improper-addressing", "stanza needs valid from and to");
        return false;
    }
    if (strcmp(fdom, mydom) != 0) {
        rt_conn_stream_error(c, "invalid-from", "from is not the component's domain");
        return false;
    }
    return rt_route_from_stream(c, el, fdom, tdom);
}

static bool on_elem(void *ctx, const rt_xs_elem_t *el) {
    rt_conn_t *c = ctx;
    if (c->dom_idx == SIZE_MAX) {
        return false; // its domain was removed by a reload: the stream is ending
    }
    if (c->state == RT_COMP_WAIT_HANDSHAKE) {
        const rt_conf_domain_t *d = &c->w->conf->domains[c->dom_idx];
        if (strcmp(el->name, "handshake") != 0) {
            rt_conn_stream_error(c, "not-authorized", "handshake expected");
            return false;
        }
        if (!dna_handshake_verify(el->nodes[0].text, el->nodes[0].text_len, c->stream_id,
                                  d->secret)) {
            rt_stat_inc(&c->w->stats, RT_STAT_COMPONENTS_AUTH_FAILED);
            LOGC(CORE_LOG_WARN, c, "component handshake for %s failed (wrong secret)", d->name);
            rt_conn_stream_error(c, "not-authorized", NULL);
            return false;
        }
        bind_domain(c);
        return !c->close_after_flush;
    }
    if (!el->is_stanza) {
        rt_conn_stream_error(c, "unsupported-stanza-type", NULL);
        return false;
    }
    return handle_stanza(c, el);
}

static bool on_close(void *ctx) {
    rt_conn_t *c = ctx;
    rt_conn_end_stream(c);
    return false;
}

const rt_xs_cbs_t rt_comp_cbs = {on_open, on_elem, on_close};

void rt_comp_deliver(rt_worker_t *w, size_t dom_idx, rt_msg_t *m) {
    rt_conn_t *c = w->comp_by_domain[dom_idx];
    if (c == NULL || c->closing || c->close_after_flush) {
        rt_route_bounce(w, m, "service-unavailable", "cancel");
        return;
    }
    if (rt_conn_congested(c)) {
        // The component does not read fast enough: bounded buffering, then bounce.
        rt_route_bounce(w, m, "resource-constraint", "wait");
        return;
    }
    rt_conn_write(c, m->raw, m->raw_len);
    rt_stat_inc(&w->stats, RT_STAT_STANZAS_ROUTED);
    rt_hist_observe_since(&w->stats, RT_HIST_STANZA_ROUTING, &m->enq_us);
    rt_msg_free(m);
}

void rt_comp_closed(rt_conn_t *c) {
    if (c->state == RT_COMP_BOUND && c->dom_idx != SIZE_MAX) {
        rt_router_t *rt = c->w->rt;
        c->w->comp_by_domain[c->dom_idx] = NULL;
        atomic_store(&rt->comp_worker[c->dom_idx], -1);
        LOGC(CORE_LOG_INFO, c, "component for %s disconnected", c->w->conf->domains[c->dom_idx].name);
        c->state = RT_COMP_WAIT_HEADER;
    }
}

void rt_comp_remap(rt_worker_t *w, const rt_conf_t *next) {
    rt_conn_t **by = core_xcalloc(next->num_domains ? next->num_domains : 1, sizeof(rt_conn_t *));
    for (rt_conn_t *c = w->conns; c != NULL; c = c->next) {
        if (c->kind != RT_CONN_COMP || c->state == RT_COMP_WAIT_HEADER || c->dom_idx == SIZE_MAX) {
            continue;
        }
        const char *name = w->conf->domains[c->dom_idx].name;
        const rt_conf_domain_t *d = rt_conf_domain(next, name);
        if (d == NULL) {
            if (!c->closing) {
                LOGC(CORE_LOG_INFO, c, "hosted domain %s removed by the reload: closing its component",
                     name);
            }
            c->dom_idx = SIZE_MAX;
            continue;
        }
        size_t ni = (size_t)(d - next->domains);
        if (c->state == RT_COMP_BOUND && w->comp_by_domain[c->dom_idx] == c) {
            by[ni] = c;
        }
        c->dom_idx = ni;
    }
    free(w->comp_by_domain);
    w->comp_by_domain = by;
}

void rt_comp_close_removed(rt_worker_t *w) {
    for (rt_conn_t *c = w->conns; c != NULL; c = c->next) {
        if (c->kind == RT_CONN_COMP && c->state != RT_COMP_WAIT_HEADER &&
            c->dom_idx == SIZE_MAX && !c->closing && !c->close_after_flush) {
            // What was written to it goes out first; then the stream error and the close.
            rt_conn_stream_error(c, "system-shutdown", "domain removed from the configuration");
        }
    }
}

// route.c: where a stanza goes (a hosted domain's component or a remote domain's outbound stream),
// cross-worker messages, and bounces (RFC 6120 §8.3, §10.4.3).
#include <stdlib.h>
#include <string.h>

#include "dna/domain.h"
#include "router/admin.h"
#include "router/internal.h"

typedef struct msg_fields {
    const char *s[9];
} msg_fields_t;

// msg_alloc lays out |m| and copies |n| optional strings after it, then |raw|.
static rt_msg_t *msg_alloc(const char *const *strs, const char ***dsts, size_t n,
                           const uint8_t *raw, size_t raw_len) {
    size_t total = sizeof(rt_msg_t) + raw_len;
    for (size_t i = 0; i < n; i++) {
        if (strs[i] != NULL) {
            total += strlen(strs[i]) + 1;
        }
    }
    rt_msg_t *m = core_xcalloc(1, total);
    char *p = (char *)(m + 1);
    m->size = total;
    if (raw_len > 0) {
        core_memcpy(p, raw, raw_len);
        m->raw = (const uint8_t *)p;
        m->raw_len = raw_len;
        p += raw_len;
    }
    for (size_t i = 0; i < n; i++) {
        if (strs[i] == NULL) {
            *dsts[i] = NULL;
            continue;
        }
        size_t l = strlen(strs[i]);
        core_memcpy(p, strs[i], l + 1);
        *dsts[i] = p;
        p += l + 1;
    }
    return m;
}

rt_msg_t *rt_msg_stanza_new(const char *name, const char *from, const char *to, const char *id,
                            const char *type, const char *fdom, const char *tdom,
                            const uint8_t *raw, size_t raw_len) {
    const char *strs[] = {name, from, to, id, type, fdom, tdom};
    rt_msg_t tmp;
    const char **dsts[] = {&tmp.name, &tmp.from, &tmp.to, &tmp.id, &tmp.type, &tmp.fdom, &tmp.tdom};
    rt_msg_t *m = msg_alloc(strs, dsts, RT_ARRAY_LEN(strs), raw, raw_len);
    m->kind = RT_MSG_STANZA;
    m->enq_us = rt_stats_now_us();
    m->name = tmp.name;
    m->from = tmp.from;
    m->to = tmp.to;
    m->id = tmp.id;
    m->type = tmp.type;
    m->fdom = tmp.fdom;
    m->tdom = tmp.tdom;
    return m;
}

rt_msg_t *rt_msg_verify_new(rt_msg_kind_t kind, const char *local, const char *remote,
                            const char *stream_id, const char *key, uint32_t reply_worker,
                            uint64_t reply_conn, rt_verdict_t verdict, const char *error_cond) {
    const char *strs[] = {local, remote, stream_id, key, error_cond};
    rt_msg_t tmp;
    const char **dsts[] = {&tmp.fdom, &tmp.tdom, &tmp.stream_id, &tmp.key, &tmp.error_cond};
    rt_msg_t *m = msg_alloc(strs, dsts, RT_ARRAY_LEN(strs), NULL, 0);
    m->kind = kind;
    m->fdom = tmp.fdom;
    m->tdom = tmp.tdom;
    m->stream_id = tmp.stream_id;
    m->key = tmp.key;
    m->error_cond = tmp.error_cond;
    m->reply_worker = reply_worker;
    m->reply_conn = reply_conn;
    m->verdict = verdict;
    return m;
}

void rt_msg_free(rt_msg_t *m) {
    free(m);
}

void rt_msg_append(rt_msg_t **head, rt_msg_t **tail, rt_msg_t *m) {
    m->next = NULL;
    if (*tail == NULL) {
        *head = m;
    } else {
        (*tail)->next = m;
    }
    *tail = m;
}

rt_msg_t *rt_msg_pop(rt_msg_t **head, rt_msg_t **tail) {
    rt_msg_t *m = *head;
    *head = m->next;
    if (*head == NULL) {
        *tail = NULL;
    }
    m->next = NULL;
    return m;
}

void rt_msg_list_free(rt_msg_t *head) {
    while (head != NULL) {
        rt_msg_t *next = head->next;
        free(head);
        head = next;
    }
}

// A domain that is already lower-case LDH ASCII is its own A-label: skip libidn2 on the hot path.
static bool plain_ascii_domain(const char *d, size_t len) {
    if (len == 0 || len > 253) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        char ch = d[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
              (ch == '.' && i > 0 && i + 1 < len && d[i - 1] != '.'))) {
            return false;
        }
    }
    return true;
}

rc_t rt_route_jid_domain(const char *jid, char *out, size_t out_cap) {
    const char *dom;
    size_t dom_len;
    if (jid == NULL || !dna_jid_domain(jid, strlen(jid), &dom, &dom_len)) {
        return RC_DNA_BAD_NAME;
    }
    if (plain_ascii_domain(dom, dom_len) && dom_len < out_cap) {
        core_memcpy(out, dom, dom_len);
        out[dom_len] = '\0';
        return RC_OK;
    }
    return dna_domain_normalize(out, out_cap, dom, dom_len);
}

static void count_bounce(rt_worker_t *w, const char *cond) {
    static const struct {
        const char *cond;
        rt_stat_id_t id;
    } map[] = {
        {"remote-server-not-found", RT_STAT_BOUNCE_NOT_FOUND},
        {"remote-server-timeout", RT_STAT_BOUNCE_TIMEOUT},
        {"internal-server-error", RT_STAT_BOUNCE_INTERNAL},
        {"service-unavailable", RT_STAT_BOUNCE_SERVICE_UNAVAILABLE},
        {"resource-constraint", RT_STAT_BOUNCE_RESOURCE},
        {"policy-violation", RT_STAT_BOUNCE_POLICY},
    };
    for (size_t i = 0; i < RT_ARRAY_LEN(map); i++) {
        if (strcmp(map[i].cond, cond) == 0) {
            rt_stat_inc(&w->stats, map[i].id);
            return;
        }
    }
}

void rt_route_bounce(rt_worker_t *w, rt_msg_t *m, const char *cond, const char *etype) {
    // Never answer an error with an error; do not bounce IQ results either (RFC 6120 §8.3.1).
    bool is_error = m->type != NULL && strcmp(m->type, "error") == 0;
    bool is_iq_result =
        m->name != NULL && strcmp(m->name, "iq") == 0 && m->type && strcmp(m->type, "result") == 0;
    if (m->kind != RT_MSG_STANZA || is_error || is_iq_result || m->from == NULL || m->to == NULL) {
        if (m->kind == RT_MSG_STANZA) {
            rt_stat_inc(&w->stats, RT_STAT_STANZAS_DROPPED); // counted, so nothing vanishes unseen
        }
        rt_msg_free(m);
        return;
    }
    count_bounce(w, cond);
    CORE_LOG(CORE_LOG_DEBUG, CORE_LOG_SRC_S2S, "w%u: bouncing %s %s -> %s with %s", w->idx,
             m->name, m->fdom, m->tdom, cond);
    core_bld_t b;
    core_bld_init(&b, 8192);
    core_bld_add_str(&b, "<");
    core_bld_add_str(&b, m->name);
    core_bld_add_str(&b, " from='");
    core_bld_add_xml_attr(&b, m->to, strlen(m->to));
    core_bld_add_str(&b, "' to='");
    core_bld_add_xml_attr(&b, m->from, strlen(m->from));
    core_bld_add_str(&b, "' type='error'");
    if (m->id != NULL) {
        core_bld_add_str(&b, " id='");
        core_bld_add_xml_attr(&b, m->id, strlen(m->id));
        core_bld_add_str(&b, "'");
    }
    core_bld_printf(&b, "><error type='%s'><%s xmlns='" RT_XS_NS_STANZA_ERRORS "'/></error></%s>",
                    etype, cond, m->name);
    if (core_bld_finish(&b) == RC_OK) {
        rt_msg_t *e = rt_msg_stanza_new(m->name, m->to, m->from, m->id, "error", m->tdom, m->fdom,
                                        b.data, b.len);
        rt_route_stanza(w, e);
    }
    core_bld_cleanup(&b);
    rt_msg_free(m);
}

// deliver_local hands |m| for hosted domain |idx| to the worker of that domain's component.
static void deliver_local(rt_worker_t *w, size_t idx, rt_msg_t *m) {
    int32_t owner = atomic_load_explicit(&w->rt->comp_worker[idx], memory_order_acquire);
    if (owner < 0) {
        rt_route_bounce(w, m, "service-unavailable", "cancel");
    } else if ((uint32_t)owner == w->idx) {
        rt_comp_deliver(w, idx, m);
    } else {
        m->for_comp = true;
        rt_worker_post(w, (uint32_t)owner, m);
    }
}

// not_hosted handles |m| for a domain this router does not host. A stanza that came over s2s was
// for a domain we hosted when its pair was authenticated and a reload has removed since: we are
// not a relay, so it bounces at once, as for a domain that does not exist. Anything else goes to
// the domain's server (a removed domain may have moved elsewhere).
static void not_hosted(rt_worker_t *w, rt_msg_t *m) {
    if (m->kind == RT_MSG_STANZA && m->from_s2s) {
        rt_route_bounce(w, m, "remote-server-not-found", "cancel");
        return;
    }
    if (m->kind == RT_MSG_STANZA && w->close_step >= 2) {
        rt_route_bounce(w, m, "remote-server-timeout", "wait"); // shutting down: s2s is closed
        return;
    }
    rt_pool_route(w, m);
}

void rt_route_stanza(rt_worker_t *w, rt_msg_t *m) {
    const rt_conf_t *conf = w->conf;
    const rt_conf_domain_t *d = rt_conf_domain(conf, m->tdom);
    if (d != NULL) {
        deliver_local(w, (size_t)(d - conf->domains), m);
    } else {
        not_hosted(w, m);
    }
}

bool rt_route_from_stream(rt_conn_t *c, const rt_xs_elem_t *el, const char *fdom,
                          const char *tdom) {
    const uint8_t *raw = el->raw;
    size_t raw_len = el->raw_len;
    core_bld_t b = {0};
    if (el->raw_unsafe) {
        const char *target_ns = rt_conf_domain(c->w->conf, tdom) != NULL ? RT_XS_NS_COMPONENT
                                                                             : RT_XS_NS_SERVER;
        core_bld_init(&b, c->w->conf->max_stanza_size * 2);
        if (rt_xs_reserialize(c->xs, el, target_ns, &b) != RC_OK) {
            core_bld_cleanup(&b);
            rt_conn_stream_error(c, "policy-violation", "stanza cannot be re-serialised");
            return false;
        }
        raw = b.data;
        raw_len = b.len;
    }
    rt_msg_t *m = rt_msg_stanza_new(el->name, el->from, el->to, el->id, el->type, fdom, tdom, raw,
                                    raw_len);
    core_bld_cleanup(&b);
    m->enq_ms = c->w->now_ms;
    m->from_s2s = c->kind != RT_CONN_COMP;
    rt_route_stanza(c->w, m);
    return true;
}

void rt_route_msg(rt_worker_t *w, rt_msg_t *m) {
    switch (m->kind) {
    case RT_MSG_STANZA: {
        // A stanza for a remote domain reaches the worker that owns the domain's pairs; one for
        // a hosted domain the component's worker (for_comp). A reload may have removed that
        // domain since the stanza was posted: it is then routed (or bounced) afresh, through
        // the owner of the domain's pairs, which may be another worker.
        const rt_conf_t *conf = w->conf;
        const rt_conf_domain_t *d = rt_conf_domain(conf, m->tdom);
        if (d != NULL) {
            deliver_local(w, (size_t)(d - conf->domains), m);
        } else if (m->from_s2s || m->for_comp || w->close_step >= 2) {
            m->for_comp = false; // a reload removed the domain meanwhile: route it afresh
            not_hosted(w, m);
        } else {
            rt_pool_submit(w, m);
        }
        break;
    }
    case RT_MSG_VERIFY_REQ:
        rt_pool_submit(w, m);
        break;
    case RT_MSG_VERIFY_RES:
        rt_sin_verify_result(w, m);
        break;
    case RT_MSG_ADMIN:
        rt_admin_worker_answer(w, m);
        break;
    }
}

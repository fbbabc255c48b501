// s2s_out.c: outbound s2s streams for one domain pair (local L -> remote R); we are the
// initiating server, and we carry db:verify requests to R's authoritative server for our inbound
// streams.
//
// RESOLVING -> CONNECTING (each address in turn) -> [direct TLS] -> WAIT_HEADER -> WAIT_FEATURES
// -> STARTTLS -> WAIT_PROCEED -> TLS -> WAIT_HEADER -> WAIT_FEATURES -> SASL EXTERNAL (when
// offered and we hold a certificate for L) -> WAIT_SASL -> restart -> ESTABLISHED; or dialback:
// WAIT_DB_RESULT -> ESTABLISHED. Stanzas wait in a bounded queue until ESTABLISHED and are bounced
// when the stream cannot be made (RFC 6120 §10.4.3, SPEC.md §14.4).
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dna/dbkey.h"
#include "router/internal.h"

typedef enum rt_sout_state {
    RT_SOUT_RESOLVING = 0,
    RT_SOUT_CONNECTING,
    RT_SOUT_TLS_HANDSHAKE,
    RT_SOUT_WAIT_HEADER,
    RT_SOUT_WAIT_FEATURES,
    RT_SOUT_WAIT_PROCEED,
    RT_SOUT_WAIT_SASL,
    RT_SOUT_WAIT_DB_RESULT,
    RT_SOUT_ESTABLISHED,
    RT_SOUT_FAILED,
} rt_sout_state_t;

static const char *const state_names[] = {
    "resolving",    "connecting",   "tls-handshake",  "wait-header", "wait-features",
    "wait-proceed", "wait-sasl",    "wait-db-result", "established", "failed",
};

#define LOGO(lvl, c, fmt, ...)                                                                     \
    CORE_LOG(lvl, CORE_LOG_SRC_S2S, "w%u c%lu %s out %s->%s: " fmt, (c)->w->idx,                   \
             (unsigned long)(c)->id, (c)->peer_text, (c)->local, (c)->remote, __VA_ARGS__)

static uint32_t pair_bucket(const char *l, const char *r) {
    uint32_t h = 2166136261u;
    for (const char *p = l; *p; p++) {
        h = (h ^ (uint8_t)*p) * 16777619u;
    }
    h = (h ^ ' ') * 16777619u;
    for (const char *p = r; *p; p++) {
        h = (h ^ (uint8_t)*p) * 16777619u;
    }
    return h % RT_OUT_BUCKETS;
}

static rt_conn_t *table_find(rt_worker_t *w, const char *l, const char *r) {
    for (rt_conn_t *c = w->out_table[pair_bucket(l, r)]; c != NULL; c = c->hash_next) {
        if (strcmp(c->local, l) == 0 && strcmp(c->remote, r) == 0) {
            return c;
        }
    }
    return NULL;
}

static void table_remove(rt_conn_t *c) {
    rt_conn_t **pp = &c->w->out_table[pair_bucket(c->local, c->remote)];
    while (*pp != NULL) {
        if (*pp == c) {
            *pp = c->hash_next;
            c->hash_next = NULL;
            return;
        }
        pp = &(*pp)->hash_next;
    }
}

static void set_state(rt_conn_t *c, rt_sout_state_t st) {
    LOGO(CORE_LOG_DEBUG, c, "%s -> %s", state_names[c->state], state_names[st]);
    c->state = (int)st;
}

static void reply_verify(rt_worker_t *w, rt_out_verify_t *v, const char *local,
                         const char *remote, rt_verdict_t verdict, const char *cond) {
    rt_msg_t *m = rt_msg_verify_new(RT_MSG_VERIFY_RES, local, remote, v->stream_id, NULL,
                                    v->reply_worker, v->reply_conn, verdict, cond);
    if (v->reply_worker == w->idx) {
        rt_sin_verify_result(w, m);
    } else {
        rt_worker_post(w, v->reply_worker, m);
    }
}

// fail ends the pair: queued stanzas bounce with |cond|, pending verifications fail.
static void fail(rt_conn_t *c, const char *cond, const char *etype) {
    table_remove(c);
    if (c->state != RT_SOUT_FAILED) {
        LOGO(CORE_LOG_INFO, c, "failed in state %s: bouncing with %s", state_names[c->state], cond);
    }
    c->state = RT_SOUT_FAILED;
    while (c->q_head != NULL) {
        rt_msg_t *m = c->q_head;
        c->q_head = m->next;
        m->next = NULL;
        rt_route_bounce(c->w, m, cond, etype);
    }
    c->q_tail = NULL;
    c->q_bytes = 0;
    while (c->verifies != NULL) {
        rt_out_verify_t *v = c->verifies;
        c->verifies = v->next;
        reply_verify(c->w, v, c->local, c->remote, RT_VERDICT_ERROR,
                     strcmp(cond, "remote-server-not-found") == 0 ? cond : "remote-server-timeout");
        free(v);
    }
}

static void send_header(rt_conn_t *c) {
    core_bld_t b;
    core_bld_init(&b, 2048);
    core_bld_add_str(&b, "<?xml version='1.0'?><stream:stream xmlns='" RT_XS_NS_SERVER
                         "' xmlns:stream='" RT_XS_NS_STREAMS "' xmlns:db='" RT_XS_NS_DIALBACK
                         "' from='");
    core_bld_add_xml_attr(&b, c->local, strlen(c->local));
    core_bld_add_str(&b, "' to='");
    core_bld_add_xml_attr(&b, c->remote, strlen(c->remote));
    core_bld_add_str(&b, "' version='1.0' xml:lang='en'>");
    if (core_bld_finish(&b) == RC_OK) {
        rt_conn_write_bld(c, &b);
    }
    core_bld_cleanup(&b);
    c->header_sent = true;
    set_state(c, RT_SOUT_WAIT_HEADER);
}

static void connect_next(rt_conn_t *c);

static void dns_done(void *ctx, rc_t rc, const rt_dns_addr_t *addrs, size_t num) {
    rt_conn_t *c = ctx;
    if (rc != RC_OK || num == 0) {
        LOGO(CORE_LOG_INFO, c, "cannot resolve %s: %s", c->remote, rc_str(rc));
        fail(c, "remote-server-not-found", "cancel");
        rt_conn_close(c);
        return;
    }
    c->addrs = core_xcalloc(num, sizeof(rt_dns_addr_t));
    core_memcpy(c->addrs, addrs, num * sizeof(rt_dns_addr_t));
    c->num_addrs = num;
    c->addr_idx = 0;
    connect_next(c);
}

static void connect_next(rt_conn_t *c) {
    const rt_conf_t *conf = c->w->rt->conf;
    while (c->addr_idx < c->num_addrs) {
        const rt_dns_addr_t *a = &c->addrs[c->addr_idx];
        int fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            c->addr_idx++;
            continue;
        }
        c->fd = fd;
        c->direct_tls = a->direct_tls;
        char ip[INET6_ADDRSTRLEN] = "?";
        uint16_t port = 0;
        if (a->sa.ss_family == AF_INET) {
            const struct sockaddr_in *s4 = (const struct sockaddr_in *)&a->sa;
            inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
            port = ntohs(s4->sin_port);
        } else {
            const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&a->sa;
            inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
            port = ntohs(s6->sin6_port);
        }
        snprintf(c->peer_text, sizeof(c->peer_text), "%s:%u", ip, port);
        set_state(c, RT_SOUT_CONNECTING);
        uint64_t dl = c->w->now_ms + (uint64_t)conf->connect_timeout_s * 1000u;
        c->deadline_ms = dl < c->establish_deadline_ms ? dl : c->establish_deadline_ms;
        rt_conn_start_connect(c);
        return;
    }
    fail(c, c->ever_connected ? "remote-server-timeout" : "remote-server-not-found",
         c->ever_connected ? "wait" : "cancel");
    rt_conn_close(c);
}

void rt_sout_connected(rt_conn_t *c, int res) {
    if (res < 0) {
        LOGO(CORE_LOG_INFO, c, "connect failed: %s", strerror(-res));
        close(c->fd);
        c->fd = -1;
        c->addr_idx++;
        connect_next(c);
        return;
    }
    rt_stat_inc(&c->w->stats, RT_STAT_TCP_CONNECTS_OUT);
    c->ever_connected = true;
    c->deadline_ms = c->establish_deadline_ms;
    c->last_rx_ms = c->w->now_ms;
    if (c->direct_tls) {
        set_state(c, RT_SOUT_TLS_HANDSHAKE);
        if (rt_conn_start_tls(c, false, NULL) != RC_OK) {
            fail(c, "remote-server-timeout", "wait");
            rt_conn_close(c);
        }
        return;
    }
    send_header(c);
}

void rt_sout_tls_ready(rt_conn_t *c) {
    if (!rt_conn_peer_proves(c, c->remote)) {
        // Dialback authenticates us to the peer; the peer's identity rests on DNS here.
        LOGO(CORE_LOG_INFO, c, "peer certificate does not prove %s (%s); continuing with dialback",
             c->remote, c->tls.peer_chain_ok ? "name mismatch" : c->tls.verify_err);
    }
    send_header(c);
}

static void write_db_verify(rt_conn_t *c, rt_out_verify_t *v) {
    core_bld_t b;
    core_bld_init(&b, 1024);
    core_bld_add_str(&b, "<db:verify from='");
    core_bld_add_xml_attr(&b, c->local, strlen(c->local));
    core_bld_add_str(&b, "' to='");
    core_bld_add_xml_attr(&b, c->remote, strlen(c->remote));
    core_bld_add_str(&b, "' id='");
    core_bld_add_xml_attr(&b, v->stream_id, strlen(v->stream_id));
    core_bld_add_str(&b, "'>");
    core_bld_add_xml_text(&b, v->key, strlen(v->key));
    core_bld_add_str(&b, "</db:verify>");
    if (core_bld_finish(&b) == RC_OK) {
        rt_conn_write_bld(c, &b);
    }
    core_bld_cleanup(&b);
    v->sent = true;
}

static bool can_verify(const rt_conn_t *c) {
    return c->state == RT_SOUT_WAIT_DB_RESULT || c->state == RT_SOUT_ESTABLISHED;
}

static void send_verifies(rt_conn_t *c) {
    for (rt_out_verify_t *v = c->verifies; v != NULL; v = v->next) {
        if (!v->sent) {
            write_db_verify(c, v);
        }
    }
}

static void establish(rt_conn_t *c, bool external) {
    set_state(c, RT_SOUT_ESTABLISHED);
    c->deadline_ms = 0;
    rt_stat_inc(&c->w->stats, external ? RT_STAT_AUTH_EXTERNAL_OUT : RT_STAT_AUTH_DIALBACK_OUT);
    LOGO(CORE_LOG_INFO, c, "established (%s), %zu stanzas queued", external ? "EXTERNAL" : "dialback",
         c->q_bytes ? (size_t)1 : (size_t)0);
    while (c->q_head != NULL) {
        rt_msg_t *m = c->q_head;
        c->q_head = m->next;
        rt_conn_write(c, m->raw, m->raw_len);
        rt_stat_inc(&c->w->stats, RT_STAT_STANZAS_ROUTED);
        rt_msg_free(m);
    }
    c->q_tail = NULL;
    c->q_bytes = 0;
    send_verifies(c);
}

static void start_dialback(rt_conn_t *c) {
    char key[DNA_DBKEY_HEX_LEN + 1];
    if (c->stream_id[0] == '\0' ||
        dna_dbkey_compute(&c->w->rt->db_secret, key, c->remote, c->local, c->stream_id) != RC_OK) {
        fail(c, "remote-server-timeout", "wait");
        rt_conn_end_stream(c);
        return;
    }
    core_bld_t b;
    core_bld_init(&b, 1024);
    core_bld_add_str(&b, "<db:result from='");
    core_bld_add_xml_attr(&b, c->local, strlen(c->local));
    core_bld_add_str(&b, "' to='");
    core_bld_add_xml_attr(&b, c->remote, strlen(c->remote));
    core_bld_add_str(&b, "'>");
    core_bld_add_str(&b, key);
    core_bld_add_str(&b, "</db:result>");
    if (core_bld_finish(&b) == RC_OK) {
        rt_conn_write_bld(c, &b);
    }
    core_bld_cleanup(&b);
    set_state(c, RT_SOUT_WAIT_DB_RESULT);
    send_verifies(c);
}

static bool on_open(void *ctx, const rt_xs_header_t *hdr) {
    rt_conn_t *c = ctx;
    if (strcmp(hdr->ns_default, RT_XS_NS_SERVER) != 0) {
        rt_conn_stream_error(c, "invalid-namespace", "expected jabber:server");
        return false;
    }
    c->stream_id[0] = '\0';
    if (hdr->id != NULL) {
        size_t n = strlen(hdr->id);
        if (n == 0 || n > RT_STREAM_ID_LEN) {
            LOGO(CORE_LOG_INFO, c, "peer stream id length %zu not usable for dialback", n);
        } else {
            core_memcpy(c->stream_id, hdr->id, n + 1);
        }
    }
    c->feat_starttls = c->feat_external = c->feat_dialback = c->feat_db_errors = false;
    set_state(c, RT_SOUT_WAIT_FEATURES);
    if (hdr->version == NULL) {
        // Pre-1.0 peer: no stream features, dialback only (RFC 6120 §4.7.5) - and no TLS.
        if (c->w->rt->conf->require_tls && !c->tls_on) {
            rt_conn_stream_error(c, "policy-violation", "TLS is required");
            fail(c, "remote-server-timeout", "cancel");
            return false;
        }
        start_dialback(c);
    }
    return true;
}

static void on_features(rt_conn_t *c, const rt_xs_elem_t *el) {
    for (uint32_t k = el->nodes[0].first_child; k != RT_XS_NONE; k = el->nodes[k].next_sibling) {
        const rt_xs_node_t *n = &el->nodes[k];
        if (strcmp(n->ns, RT_XS_NS_TLS) == 0 && strcmp(n->name, "starttls") == 0) {
            c->feat_starttls = true;
        } else if (strcmp(n->ns, RT_XS_NS_SASL) == 0 && strcmp(n->name, "mechanisms") == 0) {
            for (uint32_t m = n->first_child; m != RT_XS_NONE; m = el->nodes[m].next_sibling) {
                if (strcmp(el->nodes[m].name, "mechanism") == 0 &&
                    strcmp(el->nodes[m].text, "EXTERNAL") == 0) {
                    c->feat_external = true;
                }
            }
        } else if (strcmp(n->ns, RT_XS_NS_DIALBACK_FEATURE) == 0 && strcmp(n->name, "dialback") == 0) {
            c->feat_dialback = true;
            c->feat_db_errors = rt_xs_child(el, k, RT_XS_NS_DIALBACK_FEATURE, "errors") != RT_XS_NONE;
        }
    }
    if (!c->tls_on) {
        // Ask for TLS even when it is not offered: a stripped <starttls/> must not downgrade us.
        rt_conn_write_str(c, "<starttls xmlns='" RT_XS_NS_TLS "'/>");
        set_state(c, RT_SOUT_WAIT_PROCEED);
        return;
    }
    if (c->sasl_done) {
        establish(c, true);
        return;
    }
    if (c->feat_external && !c->tried_external && rt_tls_has_cert(c->w->rt->tls, c->local)) {
        char b64[4 * ((DNA_DOMAIN_MAX + 2) / 3) + 1];
        core_b64_encode(b64, (const uint8_t *)c->local, strlen(c->local));
        core_bld_t b;
        core_bld_init(&b, 1024);
        core_bld_add_str(&b, "<auth xmlns='" RT_XS_NS_SASL "' mechanism='EXTERNAL'>");
        core_bld_add_str(&b, b64);
        core_bld_add_str(&b, "</auth>");
        if (core_bld_finish(&b) == RC_OK) {
            rt_conn_write_bld(c, &b);
        }
        core_bld_cleanup(&b);
        c->tried_external = true;
        set_state(c, RT_SOUT_WAIT_SASL);
        return;
    }
    start_dialback(c);
}

static void on_db_verify_answer(rt_conn_t *c, const rt_xs_elem_t *el) {
    char from[DNA_DOMAIN_MAX], to[DNA_DOMAIN_MAX];
    if (el->from == NULL || el->to == NULL || el->id == NULL ||
        dna_domain_normalize(from, sizeof(from), el->from, strlen(el->from)) != RC_OK ||
        dna_domain_normalize(to, sizeof(to), el->to, strlen(el->to)) != RC_OK) {
        return;
    }
    // DB-25: accept only an answer to a request sent on this stream, matched on all three.
    rt_out_verify_t **pp = &c->verifies;
    while (*pp != NULL) {
        rt_out_verify_t *v = *pp;
        if (v->sent && strcmp(from, c->remote) == 0 && strcmp(to, c->local) == 0 &&
            strcmp(el->id, v->stream_id) == 0) {
            *pp = v->next;
            rt_verdict_t verdict = strcmp(el->type, "valid") == 0     ? RT_VERDICT_VALID
                                   : strcmp(el->type, "invalid") == 0 ? RT_VERDICT_INVALID
                                                                      : RT_VERDICT_ERROR;
            reply_verify(c->w, v, c->local, c->remote, verdict,
                         verdict == RT_VERDICT_ERROR ? "remote-server-not-found" : NULL);
            free(v);
            return;
        }
        pp = &v->next;
    }
    LOGO(CORE_LOG_INFO, c, "ignoring unsolicited db:verify answer (id %s)", "?");
}

static bool on_elem(void *ctx, const rt_xs_elem_t *el) {
    rt_conn_t *c = ctx;
    bool db = strcmp(el->ns, RT_XS_NS_DIALBACK) == 0;
    if (strcmp(el->ns, RT_XS_NS_STREAMS) == 0 && strcmp(el->name, "error") == 0) {
        uint32_t k = el->num_nodes > 1 ? el->nodes[0].first_child : RT_XS_NONE;
        LOGO(CORE_LOG_INFO, c, "peer sent stream error <%s/>",
             k != RT_XS_NONE ? el->nodes[k].name : "?");
        fail(c, "remote-server-timeout", "wait");
        rt_conn_end_stream(c);
        return false;
    }
    if (db && strcmp(el->name, "verify") == 0 && el->type != NULL) {
        on_db_verify_answer(c, el);
        return true;
    }
    switch ((rt_sout_state_t)c->state) {
    case RT_SOUT_WAIT_FEATURES:
        if (strcmp(el->ns, RT_XS_NS_STREAMS) == 0 && strcmp(el->name, "features") == 0) {
            on_features(c, el);
            return c->state != RT_SOUT_WAIT_PROCEED || true;
        }
        break;
    case RT_SOUT_WAIT_PROCEED:
        if (strcmp(el->ns, RT_XS_NS_TLS) == 0 && strcmp(el->name, "proceed") == 0) {
            rt_xs_reset(c->xs);
            set_state(c, RT_SOUT_TLS_HANDSHAKE);
            if (rt_conn_start_tls(c, false, NULL) != RC_OK) {
                fail(c, "remote-server-timeout", "wait");
                rt_conn_close(c);
            }
            return false;
        }
        if (strcmp(el->ns, RT_XS_NS_TLS) == 0 && strcmp(el->name, "failure") == 0) {
            LOGO(CORE_LOG_INFO, c, "peer refused STARTTLS%s", "");
            fail(c, "remote-server-timeout", "wait");
            rt_conn_close(c);
            return false;
        }
        break;
    case RT_SOUT_WAIT_SASL:
        if (strcmp(el->ns, RT_XS_NS_SASL) == 0 && strcmp(el->name, "success") == 0) {
            c->sasl_done = true;
            rt_xs_reset(c->xs);
            send_header(c);
            return false;
        }
        if (strcmp(el->ns, RT_XS_NS_SASL) == 0 && strcmp(el->name, "failure") == 0) {
            LOGO(CORE_LOG_INFO, c, "SASL EXTERNAL refused; falling back to dialback%s", "");
            start_dialback(c);
            return true;
        }
        break;
    case RT_SOUT_WAIT_DB_RESULT:
        if (db && strcmp(el->name, "result") == 0 && el->type != NULL) {
            char from[DNA_DOMAIN_MAX] = "", to[DNA_DOMAIN_MAX] = "";
            if (el->from == NULL || el->to == NULL ||
                dna_domain_normalize(from, sizeof(from), el->from, strlen(el->from)) != RC_OK ||
                dna_domain_normalize(to, sizeof(to), el->to, strlen(el->to)) != RC_OK ||
                strcmp(from, c->remote) != 0 || strcmp(to, c->local) != 0) {
                LOGO(CORE_LOG_INFO, c, "ignoring db:result for another pair%s", "");
                return true; // DB-11
            }
            if (strcmp(el->type, "valid") == 0) {
                establish(c, false);
                return true;
            }
            bool invalid = strcmp(el->type, "invalid") == 0;
            LOGO(CORE_LOG_WARN, c, "peer answered dialback with %s", el->type);
            fail(c, invalid ? "internal-server-error" : "remote-server-timeout",
                 invalid ? "cancel" : "wait");
            rt_conn_end_stream(c);
            return false;
        }
        break;
    default:
        break;
    }
    if (el->is_stanza) {
        LOGO(CORE_LOG_INFO, c, "peer sent a stanza on our outbound stream; ignored%s", "");
        return true;
    }
    if (c->state == RT_SOUT_ESTABLISHED) {
        return true; // e.g. late features or acks we did not ask for
    }
    LOGO(CORE_LOG_INFO, c, "unexpected <%s/> in state %s", el->name, state_names[c->state]);
    rt_conn_stream_error(c, "unsupported-stanza-type", NULL);
    fail(c, "remote-server-timeout", "wait");
    return false;
}

static bool on_close(void *ctx) {
    rt_conn_t *c = ctx;
    fail(c, "remote-server-timeout", "wait");
    rt_conn_end_stream(c);
    return false;
}

const rt_xs_cbs_t rt_sout_cbs = {on_open, on_elem, on_close};

static rt_conn_t *new_session(rt_worker_t *w, const char *local, const char *remote) {
    rt_conn_t *c = rt_conn_new(w, RT_CONN_S2S_OUT, -1);
    snprintf(c->local, sizeof(c->local), "%s", local);
    snprintf(c->remote, sizeof(c->remote), "%s", remote);
    c->state = RT_SOUT_RESOLVING;
    c->establish_deadline_ms = w->now_ms + (uint64_t)w->rt->conf->stanza_timeout_s * 1000u;
    c->deadline_ms = c->establish_deadline_ms;
    uint32_t b = pair_bucket(local, remote);
    c->hash_next = w->out_table[b];
    w->out_table[b] = c;
    if (rt_dns_resolve_s2s(w->dns, remote, dns_done, c) != RC_OK) {
        fail(c, "remote-server-not-found", "cancel");
        rt_conn_close(c);
        return NULL;
    }
    return c;
}

void rt_sout_submit(rt_worker_t *w, rt_msg_t *m) {
    const rt_conf_t *conf = w->rt->conf;
    const char *local = m->fdom;
    const char *remote = m->tdom;
    if (w->stopping) {
        if (m->kind == RT_MSG_STANZA) {
            rt_route_bounce(w, m, "remote-server-timeout", "wait");
        } else {
            rt_msg_free(m);
        }
        return;
    }
    rt_conn_t *c = table_find(w, local, remote);
    if (c == NULL && (c = new_session(w, local, remote)) == NULL) {
        if (m->kind == RT_MSG_STANZA) {
            rt_route_bounce(w, m, "remote-server-not-found", "cancel");
        } else {
            rt_out_verify_t v = {.reply_worker = m->reply_worker, .reply_conn = m->reply_conn};
            snprintf(v.stream_id, sizeof(v.stream_id), "%s", m->stream_id);
            reply_verify(w, &v, local, remote, RT_VERDICT_ERROR, "remote-server-not-found");
            rt_msg_free(m);
        }
        return;
    }
    if (m->kind == RT_MSG_VERIFY_REQ) {
        rt_out_verify_t *v = core_xcalloc(1, sizeof(*v));
        snprintf(v->stream_id, sizeof(v->stream_id), "%s", m->stream_id);
        snprintf(v->key, sizeof(v->key), "%s", m->key);
        v->reply_worker = m->reply_worker;
        v->reply_conn = m->reply_conn;
        v->next = c->verifies;
        c->verifies = v;
        if (can_verify(c)) {
            write_db_verify(c, v);
        }
        rt_msg_free(m);
        return;
    }
    if (c->state == RT_SOUT_ESTABLISHED) {
        rt_conn_write(c, m->raw, m->raw_len);
        rt_stat_inc(&w->stats, RT_STAT_STANZAS_ROUTED);
        rt_msg_free(m);
        return;
    }
    if (c->q_bytes + m->size > conf->max_queue_bytes) {
        rt_route_bounce(w, m, "resource-constraint", "wait");
        return;
    }
    m->next = NULL;
    if (c->q_tail == NULL) {
        c->q_head = m;
    } else {
        c->q_tail->next = m;
    }
    c->q_tail = m;
    c->q_bytes += m->size;
}

void rt_sout_timeout(rt_conn_t *c) {
    if (c->state == RT_SOUT_CONNECTING && c->w->now_ms < c->establish_deadline_ms) {
        LOGO(CORE_LOG_INFO, c, "connect timed out%s", "");
        struct io_uring_sqe *sqe = io_uring_get_sqe(&c->w->ring);
        if (sqe != NULL) {
            io_uring_prep_cancel(sqe, &c->op_connect, 0);
            io_uring_sqe_set_data(sqe, NULL);
        }
        return; // the connect completes with -ECANCELED and the next address is tried
    }
    LOGO(CORE_LOG_INFO, c, "stream not established within %us", c->w->rt->conf->stanza_timeout_s);
    fail(c, c->ever_connected ? "remote-server-timeout" : "remote-server-not-found",
         c->ever_connected ? "wait" : "cancel");
    if (c->fd >= 0 && c->state != RT_SOUT_CONNECTING) {
        rt_conn_stream_error(c, "connection-timeout", NULL);
    } else {
        rt_conn_close(c);
    }
}

void rt_sout_closed(rt_conn_t *c) {
    if (c->state == RT_SOUT_RESOLVING) {
        rt_dns_cancel(c->w->dns, c);
    }
    fail(c, c->ever_connected ? "remote-server-timeout" : "remote-server-not-found",
         c->ever_connected ? "wait" : "cancel");
}

void rt_sout_fail_all(rt_worker_t *w) {
    for (size_t i = 0; i < RT_OUT_BUCKETS; i++) {
        while (w->out_table[i] != NULL) {
            rt_conn_t *c = w->out_table[i];
            fail(c, "remote-server-timeout", "wait");
        }
    }
}

// s2s_out.c: one outbound s2s stream to one peer address (we are the initiating server).
//
// CONNECTING -> [direct TLS] -> WAIT_HEADER -> WAIT_FEATURES -> STARTTLS -> WAIT_PROCEED -> TLS
// -> WAIT_HEADER -> WAIT_FEATURES -> SASL EXTERNAL for the primary pair (when offered and we hold
// a certificate for its local domain) -> WAIT_SASL -> restart -> ESTABLISHED; or dialback for it:
// WAIT_DB_RESULT -> ESTABLISHED. A verification connection stops at VREADY (post-TLS features):
// it checks the peer's certificate for a domain and/or carries db:verify, then closes.
//
// The stream knows nothing of queues: the pairs on it, their stanzas and the verify requests it
// carries belong to the pool (peer.c), which this machine tells about every step.
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>


#include "dna/dbkey.h"
#include "router/internal.h"
#include "router/proof.h"

typedef enum rt_sout_state {
    RT_SOUT_CONNECTING = 0,
    RT_SOUT_TLS_HANDSHAKE,
    RT_SOUT_WAIT_HEADER,
    RT_SOUT_WAIT_FEATURES,
    RT_SOUT_WAIT_PROCEED,
    RT_SOUT_WAIT_SASL,
    RT_SOUT_WAIT_DB_RESULT,
    RT_SOUT_ESTABLISHED,
    RT_SOUT_VREADY,
    RT_SOUT_FAILED,
} rt_sout_state_t;

static const char *const state_names[] = {
    "connecting",  "tls-handshake",  "wait-header", "wait-features", "wait-proceed",
    "wait-sasl",   "wait-db-result", "established", "verify-ready",  "failed",
};

#define LOGO(lvl, c, fmt, ...)                                                                     \
    CORE_LOG(lvl, CORE_LOG_SRC_S2S, "w%u c%lu %s out%s %s->%s: " fmt, (c)->w->idx,                 \
             (unsigned long)(c)->id, (c)->peer_text, (c)->vconn ? "(verify)" : "", (c)->local,     \
             (c)->remote, __VA_ARGS__)

static void set_state(rt_conn_t *c, rt_sout_state_t st) {
    LOGO(CORE_LOG_DEBUG, c, "%s -> %s", state_names[c->state], state_names[st]);
    c->state = (int)st;
}

bool rt_sout_established(const rt_conn_t *c) {
    return c->state == RT_SOUT_ESTABLISHED && !c->closing && !c->close_after_flush;
}

bool rt_sout_can_verify(const rt_conn_t *c) {
    return (c->state == RT_SOUT_WAIT_DB_RESULT || c->state == RT_SOUT_ESTABLISHED ||
            c->state == RT_SOUT_VREADY) &&
           !c->closing && !c->close_after_flush;
}

// give_up: a stream that ends before it was up is a failed attempt for the pool (once).
static void give_up(rt_conn_t *c) {
    if (c->state != RT_SOUT_FAILED && c->state != RT_SOUT_ESTABLISHED &&
        c->state != RT_SOUT_VREADY) {
        LOGO(CORE_LOG_INFO, c, "failed in state %s", state_names[c->state]);
        c->state = RT_SOUT_FAILED;
        rt_pool_stream_failed(c);
    }
}

// fail tells the pool once that this stream will not carry its pairs, then closes.
static void fail(rt_conn_t *c, bool graceful) {
    give_up(c);
    c->state = RT_SOUT_FAILED;
    if (graceful && c->fd >= 0) {
        rt_conn_end_stream(c);
    } else {
        rt_conn_close(c);
    }
}

static void send_header(rt_conn_t *c) {
    rt_conn_write_header(c, c->local, c->remote, false); // the initiator sends no id
    set_state(c, RT_SOUT_WAIT_HEADER);
}

rt_conn_t *rt_sout_open(rt_worker_t *w, rt_peer_t *peer, const char *local, const char *remote,
                        bool vconn) {
    const rt_conf_t *conf = w->conf;
    int fd = socket(peer->addr.sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return NULL;
    }
    rt_conn_t *c = rt_conn_new(w, RT_CONN_S2S_OUT, fd);
    snprintf(c->local, sizeof(c->local), "%s", local);
    snprintf(c->remote, sizeof(c->remote), "%s", remote);
    snprintf(c->peer_text, sizeof(c->peer_text), "%s", peer->text);
    c->peer = peer;
    c->peer_sa = peer->addr.sa;
    c->vconn = vconn;
    c->direct_tls = peer->addr.direct_tls;
    c->peer_next = peer->streams;
    peer->streams = c;
    c->state = RT_SOUT_CONNECTING;
    c->deadline_ms = w->now_ms + (uint64_t)conf->connect_timeout_s * 1000u;
    c->establish_deadline_ms =
        w->now_ms + (uint64_t)(conf->connect_timeout_s + conf->auth_timeout_s) * 1000u;
    rt_stat_inc(&w->stats, vconn ? RT_STAT_VERIFICATION_CONNECTIONS : RT_STAT_POOL_STREAMS);
    rt_stat_inc(&w->stats, RT_STAT_TCP_CONNECT_ATTEMPTS);
    LOGO(CORE_LOG_DEBUG, c, "connecting%s", "");
    rt_conn_start_connect(c);
    return c;
}

void rt_sout_connected(rt_conn_t *c, int res) {
    if (res < 0) {
        LOGO(CORE_LOG_INFO, c, "connect failed: %s", strerror(-res));
        fail(c, false);
        return;
    }
    rt_stats_tcp_connect(&c->w->stats, false, (const struct sockaddr *)&c->peer->addr.sa);
    c->peer->ever_connected = true;
    c->connected_ms = c->w->now_ms;
    c->deadline_ms = c->establish_deadline_ms;
    c->last_rx_ms = c->w->now_ms;
    if (c->direct_tls) {
        set_state(c, RT_SOUT_TLS_HANDSHAKE);
        if (rt_conn_start_tls(c, false, NULL) != RC_OK) {
            fail(c, false);
        }
        return;
    }
    send_header(c);
}

void rt_sout_tls_ready(rt_conn_t *c) {
    // The peer must be the server of the remote domain as the policy wants it proven (PKIX, DANE
    // at the SRV target we connected to, POSH); the stream goes on once that is decided.
    dna_verdict_t v;
    if (rt_proof_start(c, RT_PROOF_OUTBOUND, c->remote, c->local, NULL, &v)) {
        rt_sout_proof(c, &v);
    }
}

void rt_sout_proof(rt_conn_t *c, const dna_verdict_t *v) {
    if (c->closing || c->state == RT_SOUT_FAILED) {
        return;
    }
    c->proof_kind = v->kind;
    c->proof_type = v->prooftype;
    switch (v->kind) {
    case DNA_VERDICT_PROVEN:
        LOGO(CORE_LOG_DEBUG, c, "peer proven for %s by %s", c->remote,
             dna_prooftype_name(v->prooftype));
        send_header(c);
        return;
    case DNA_VERDICT_DIALBACK:
        // Dialback authenticates us to the peer; the peer's identity rests on DNS here.
        LOGO(CORE_LOG_INFO, c, "peer certificate does not prove %s (%s); continuing", c->remote,
             c->tls.peer_chain_ok ? "name mismatch" : c->tls.verify_err);
        send_header(c);
        return;
    case DNA_VERDICT_REFUSED:
    case DNA_VERDICT_TEMPFAIL:
        LOGO(CORE_LOG_WARN, c, "refusing the peer for %s: %s", c->remote, v->reason);
        c->refused_domain = true; // the address works; the domain's proof failed
        rt_pool_stream_unproven(c, v);
        fail(c, false);
        return;
    }
}

void rt_sout_send_verify(rt_conn_t *c, rt_out_verify_t *v) {
    core_bld_t b;
    core_bld_init(&b, 1024);
    core_bld_add_str(&b, "<db:verify from='");
    core_bld_add_xml_attr(&b, v->local, strlen(v->local));
    core_bld_add_str(&b, "' to='");
    core_bld_add_xml_attr(&b, v->remote, strlen(v->remote));
    core_bld_add_str(&b, "' id='");
    core_bld_add_xml_attr(&b, v->stream_id, strlen(v->stream_id));
    core_bld_add_str(&b, "'>");
    core_bld_add_xml_text(&b, v->key, strlen(v->key));
    core_bld_add_str(&b, "</db:verify>");
    if (core_bld_finish(&b) == RC_OK) {
        rt_conn_write_bld(c, &b);
    }
    core_bld_cleanup(&b);
    v->next = c->verifies;
    c->verifies = v;
}

void rt_sout_send_db_result(rt_conn_t *c, const char *local, const char *remote) {
    char key[DNA_DBKEY_HEX_LEN + 1];
    if (dna_dbkey_compute(&c->w->rt->db_secret, key, remote, local, c->stream_id) != RC_OK) {
        return;
    }
    core_bld_t b;
    core_bld_init(&b, 1024);
    core_bld_add_str(&b, "<db:result from='");
    core_bld_add_xml_attr(&b, local, strlen(local));
    core_bld_add_str(&b, "' to='");
    core_bld_add_xml_attr(&b, remote, strlen(remote));
    core_bld_add_str(&b, "'>");
    core_bld_add_str(&b, key);
    core_bld_add_str(&b, "</db:result>");
    if (core_bld_finish(&b) == RC_OK) {
        rt_conn_write_bld(c, &b);
    }
    core_bld_cleanup(&b);
}

static void sm_request_ack(rt_conn_t *c) {
    if (c->sm_on && !c->sm_r_pending && c->sm_count > 0) {
        c->sm_r_pending = true;
        rt_conn_write_str(c, "<r xmlns='" RT_XS_NS_SM "'/>");
    }
}

void rt_sout_send_stanza(rt_conn_t *c, rt_msg_t *m) {
    rt_conn_write(c, m->raw, m->raw_len);
    rt_stat_inc(&c->w->stats, RT_STAT_STANZAS_ROUTED);
    rt_hist_observe_since(&c->w->stats, RT_HIST_STANZA_ROUTING, &m->enq_us);
    if (!c->sm_on) {
        // Kept until the kernel has its bytes (it bounces if the connection goes first).
        m->wire_end = c->out_plain;
        rt_msg_append(&c->unsent_head, &c->unsent_tail, m);
        return;
    }
    rt_msg_append(&c->sm_head, &c->sm_tail, m);
    c->sm_count++;
    c->sm_bytes += m->size;
    c->sm_sent++;
    sm_request_ack(c);
}

static void sm_drop_head(rt_conn_t *c, bool bounce) {
    rt_msg_t *m = rt_msg_pop(&c->sm_head, &c->sm_tail);
    c->sm_count--;
    c->sm_bytes -= m->size;
    if (bounce) {
        rt_route_bounce(c->w, m, "remote-server-timeout", "wait");
    } else {
        rt_msg_free(m);
    }
}

void rt_sout_unsent_release(rt_conn_t *c) {
    uint64_t plain_sent = 0;
    if (!c->tls_on) {
        plain_sent = c->out_sent; // plaintext on the wire
    } else {
        while (c->ckpt_head < c->ckpt_len && c->ckpt[c->ckpt_head].wire <= c->out_sent) {
            plain_sent = c->ckpt[c->ckpt_head++].plain;
        }
        if (c->ckpt_head == c->ckpt_len) {
            c->ckpt_head = c->ckpt_len = 0;
        } else if (c->ckpt_head > c->ckpt_len / 2) {
            // Under steady load one is always pending: drop the consumed half.
            c->ckpt_len -= c->ckpt_head;
            memmove(c->ckpt, c->ckpt + c->ckpt_head, c->ckpt_len * sizeof(*c->ckpt));
            c->ckpt_head = 0;
        }
    }
    while (c->unsent_head != NULL && c->unsent_head->wire_end <= plain_sent) {
        rt_msg_free(rt_msg_pop(&c->unsent_head, &c->unsent_tail));
    }
}

void rt_sout_unsent_bounce(rt_conn_t *c) {
    size_t n = 0;
    while (c->unsent_head != NULL) {
        rt_route_bounce(c->w, rt_msg_pop(&c->unsent_head, &c->unsent_tail),
                        "remote-server-timeout", "wait");
        n++;
    }
    if (n > 0) {
        LOGO(CORE_LOG_INFO, c, "bounced %zu stanzas never handed to the connection (the peer did "
             "not read them)", n);
    }
    c->ckpt_head = c->ckpt_len = 0;
}

void rt_sout_sm_bounce(rt_conn_t *c) {
    if (c->sm_count > 0) {
        LOGO(CORE_LOG_INFO, c, "bouncing %zu stanzas the peer never acknowledged", c->sm_count);
    }
    while (c->sm_head != NULL) {
        sm_drop_head(c, true);
    }
    c->sm_on = false;
}

// on_sm_ack handles <a h='N'/>: the peer handled every stanza up to N (mod 2^32).
static bool on_sm_ack(rt_conn_t *c, const rt_xs_elem_t *el) {
    const char *h = rt_xs_attr_get(el, 0, "h");
    uint64_t v = 0;
    core_cur_t cur;
    core_cur_init(&cur, h ? h : "", h ? strlen(h) : 0);
    if (h == NULL || !core_cur_get_decimal(&cur, UINT32_MAX, &v) || !core_cur_empty(&cur)) {
        rt_conn_stream_error(c, "bad-format", "<a/> needs a numeric h");
        return false;
    }
    uint32_t newly = (uint32_t)v - c->sm_acked;
    if (newly > c->sm_count) {
        rt_conn_stream_error(c, "undefined-condition", "handled-count-too-high"); // SM-5
        return false;
    }
    for (uint32_t i = 0; i < newly; i++) {
        sm_drop_head(c, false);
    }
    c->sm_acked = (uint32_t)v;
    if (newly > 0) {
        c->sm_r_pending = false; // an <a/> that acks nothing new does not earn another <r/>
        sm_request_ack(c);
    }
    if (newly > 0 && !rt_conn_congested(c)) {
        rt_pool_stream_drained(c); // room again for stanzas that waited
    }
    return true;
}

static void establish(rt_conn_t *c, bool external) {
    set_state(c, RT_SOUT_ESTABLISHED);
    c->deadline_ms = 0;
    if (c->sm_offered && !c->sm_on) {
        // Acks only (no resumption): stanzas the peer never handled bounce when the stream ends.
        rt_conn_write_str(c, "<enable xmlns='" RT_XS_NS_SM "'/>");
        c->sm_on = true;
        c->sm_sent = c->sm_acked = 0;
    }
    rt_stat_inc(&c->w->stats, external ? RT_STAT_AUTH_EXTERNAL_OUT : RT_STAT_AUTH_DIALBACK_OUT);
    LOGO(CORE_LOG_INFO, c, "established (%s)%s", external ? "SASL EXTERNAL" : "dialback",
         c->feat_db_errors ? ", peer handles dialback errors" : "");
    rt_pool_stream_established(c);
}

static void start_dialback(rt_conn_t *c) {
    if (c->stream_id[0] == '\0') {
        LOGO(CORE_LOG_INFO, c, "peer gave no stream id; dialback impossible%s", "");
        fail(c, true);
        return;
    }
    rt_sout_send_db_result(c, c->local, c->remote);
    set_state(c, RT_SOUT_WAIT_DB_RESULT);
    rt_pool_stream_ready(c);
}

static bool on_open(void *ctx, const rt_xs_header_t *hdr) {
    rt_conn_t *c = ctx;
    if (strcmp(hdr->ns_default, RT_XS_NS_SERVER) != 0) {
        rt_conn_stream_error(c, "invalid-namespace", "expected jabber:server");
        fail(c, false);
        return false;
    }
    c->stream_id[0] = '\0';
    if (hdr->id != NULL) {
        size_t n = strlen(hdr->id);
        if (n > 0 && n <= RT_PEER_ID_MAX) {
            core_memcpy(c->stream_id, hdr->id, n + 1);
        } else {
            LOGO(CORE_LOG_INFO, c, "peer stream id length %zu not usable for dialback", n);
        }
    }
    c->feat_starttls = c->feat_external = c->feat_dialback = c->feat_db_errors = false;
    c->sm_offered = false;
    set_state(c, RT_SOUT_WAIT_FEATURES);
    if (hdr->version == NULL) {
        // Pre-1.0 peer: no stream features, so no TLS: refused when TLS is required.
        if (c->w->conf->require_tls && !c->tls_on) {
            LOGO(CORE_LOG_INFO, c, "peer does not speak XMPP 1.0 and TLS is required%s", "");
            fail(c, true);
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
        } else if (strcmp(n->ns, "urn:xmpp:sm:3") == 0 && strcmp(n->name, "sm") == 0) {
            c->sm_offered = true;
        } else if (strcmp(n->ns, RT_XS_NS_DIALBACK_FEATURE) == 0 &&
                   strcmp(n->name, "dialback") == 0) {
            c->feat_dialback = true;
            c->feat_db_errors =
                rt_xs_child(el, k, RT_XS_NS_DIALBACK_FEATURE, "errors") != RT_XS_NONE;
        }
    }
    if (!c->tls_on) {
        // Ask for TLS even when it is not offered: a stripped <starttls/> must not downgrade us.
        rt_conn_write_str(c, "<starttls xmlns='" RT_XS_NS_TLS "'/>");
        set_state(c, RT_SOUT_WAIT_PROCEED);
        return;
    }
    bool bidi_offered = false;
    for (uint32_t k = el->nodes[0].first_child; k != RT_XS_NONE; k = el->nodes[k].next_sibling) {
        bidi_offered |= strcmp(el->nodes[k].ns, RT_XS_NS_BIDI_FEATURE) == 0 &&
                        strcmp(el->nodes[k].name, "bidi") == 0;
    }
    if (bidi_offered && !c->vconn && !c->bidi && !c->sasl_done) {
        // One connection both ways (XEP-0288): asked for before authentication (BIDI-3).
        rt_conn_write_str(c, "<bidi xmlns='" RT_XS_NS_BIDI "'/>");
        c->bidi = true;
        rt_stat_inc(&c->w->stats, RT_STAT_BIDI_STREAMS);
    }
    if (c->vconn) {
        pool_backoff_succeeded(&c->peer->backoff); // the address answers: a working peer
        set_state(c, RT_SOUT_VREADY);
        c->deadline_ms = c->w->now_ms + (uint64_t)c->w->conf->auth_timeout_s * 1000u;
        if (c->prove[0] != '\0') {
            rt_pool_vconn_proof(c, c->proof_kind == DNA_VERDICT_PROVEN);
        }
        rt_pool_stream_ready(c);
        return;
    }
    if (c->sasl_done) {
        establish(c, true);
        return;
    }
    if (c->feat_external && !c->tried_external && !c->peer->no_external &&
        rt_tls_has_cert(c->w->rt->tls, c->local)) {
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

static const char *error_condition(const rt_xs_elem_t *el) {
    // <db:result type='error'><error type='…'><condition xmlns='…stanzas'/></error></db:result>
    uint32_t e = rt_xs_child(el, 0, NULL, "error");
    if (e == RT_XS_NONE) {
        return NULL;
    }
    for (uint32_t k = el->nodes[e].first_child; k != RT_XS_NONE; k = el->nodes[k].next_sibling) {
        if (strcmp(el->nodes[k].ns, RT_XS_NS_STANZA_ERRORS) == 0 &&
            strcmp(el->nodes[k].name, "text") != 0) {
            return el->nodes[k].name;
        }
    }
    return NULL;
}

static void on_db_verify_answer(rt_conn_t *c, const rt_xs_elem_t *el) {
    char from[DNA_DOMAIN_MAX], to[DNA_DOMAIN_MAX];
    if (el->from == NULL || el->to == NULL || el->id == NULL ||
        dna_domain_normalize(from, sizeof(from), el->from, strlen(el->from)) != RC_OK ||
        dna_domain_normalize(to, sizeof(to), el->to, strlen(el->to)) != RC_OK) {
        return;
    }
    // DB-25: accept only an answer to a request sent on this stream, matched on all three.
    for (rt_out_verify_t **pp = &c->verifies; *pp != NULL; pp = &(*pp)->next) {
        rt_out_verify_t *v = *pp;
        if (strcmp(from, v->remote) == 0 && strcmp(to, v->local) == 0 &&
            strcmp(el->id, v->stream_id) == 0) {
            *pp = v->next;
            v->next = NULL;
            rt_verdict_t verdict = strcmp(el->type, "valid") == 0     ? RT_VERDICT_VALID
                                   : strcmp(el->type, "invalid") == 0 ? RT_VERDICT_INVALID
                                                                      : RT_VERDICT_ERROR;
            rt_pool_verify_answer(c->w, v, verdict,
                                  verdict == RT_VERDICT_ERROR ? "remote-server-not-found" : NULL);
            if (c->vconn && c->verifies == NULL && c->prove[0] == '\0') {
                c->backoff_done = true; // a finished verification is not a failure
                rt_conn_end_stream(c);  // its work is done
            }
            return;
        }
    }
    LOGO(CORE_LOG_INFO, c, "ignoring an unsolicited db:verify answer%s", "");
}

static bool on_db_result_answer(rt_conn_t *c, const rt_xs_elem_t *el) {
    char from[DNA_DOMAIN_MAX] = "", to[DNA_DOMAIN_MAX] = "";
    if (el->from == NULL || el->to == NULL ||
        dna_domain_normalize(from, sizeof(from), el->from, strlen(el->from)) != RC_OK ||
        dna_domain_normalize(to, sizeof(to), el->to, strlen(el->to)) != RC_OK) {
        LOGO(CORE_LOG_INFO, c, "ignoring a db:result answer without valid from/to%s", "");
        return true;
    }
    bool primary = strcmp(from, c->remote) == 0 && strcmp(to, c->local) == 0;
    if (primary && c->state == RT_SOUT_WAIT_DB_RESULT) {
        if (strcmp(el->type, "valid") == 0) {
            establish(c, false);
            return true;
        }
        LOGO(CORE_LOG_WARN, c, "peer answered our dialback with %s%s%s", el->type,
             error_condition(el) ? ": " : "", error_condition(el) ? error_condition(el) : "");
        c->refused_domain = true; // a refused pair says nothing about the address
        rt_pool_pair_answer(c, from, to, el->type, error_condition(el));
        fail(c, true);
        return false;
    }
    // DB-11: answers for other pairs are matched by the pool against what it sent on this stream.
    rt_pool_pair_answer(c, from, to, el->type, error_condition(el));
    return true;
}

static bool on_elem(void *ctx, const rt_xs_elem_t *el) {
    rt_conn_t *c = ctx;
    bool db = strcmp(el->ns, RT_XS_NS_DIALBACK) == 0;
    if (c->bidi) {
        // XEP-0288: the peer sends to us on this stream, as on an inbound one.
        if (el->is_stanza) {
            return rt_sin_handle_stanza(c, el);
        }
        if (db && el->type == NULL && strcmp(el->name, "result") == 0) {
            return rt_sin_handle_db_result(c, el);
        }
        if (db && el->type == NULL && strcmp(el->name, "verify") == 0) {
            return rt_sin_handle_db_verify(c, el);
        }
    }
    if (strcmp(el->ns, RT_XS_NS_STREAMS) == 0 && strcmp(el->name, "error") == 0) {
        uint32_t k = el->num_nodes > 1 ? el->nodes[0].first_child : RT_XS_NONE;
        const char *cond = k != RT_XS_NONE ? el->nodes[k].name : "?";
        LOGO(CORE_LOG_INFO, c, "peer sent stream error <%s/>", cond);
        rt_stats_stream_error(&c->w->stats, false, cond);
        if ((strcmp(cond, "host-unknown") == 0 || strcmp(cond, "host-gone") == 0) &&
            c->peer != NULL) {
            // The peer works; it does not serve this domain: no back-off for its address.
            c->refused_domain = true;
            rt_pool_stream_refused(c, cond, c->state == RT_SOUT_ESTABLISHED);
        }
        fail(c, true);
        return false;
    }
    if (db && strcmp(el->name, "verify") == 0 && el->type != NULL) {
        on_db_verify_answer(c, el);
        return !c->close_after_flush;
    }
    if (strcmp(el->ns, RT_XS_NS_SM) == 0 && c->sm_on) {
        if (strcmp(el->name, "a") == 0) {
            return on_sm_ack(c, el);
        }
        if (strcmp(el->name, "failed") == 0) {
            // The peer will not ack: what it never acknowledged bounces (at least once rather
            // than silently lost); later stanzas go without acks.
            LOGO(CORE_LOG_INFO, c, "peer refused stream management%s", "");
            rt_sout_sm_bounce(c);
            rt_pool_stream_drained(c);
            return true;
        }
        return true; // <enabled/>, or <r/> we have nothing to answer for (we never enable SM
                     // in the other direction)
    }
    if (db && strcmp(el->name, "result") == 0 && el->type != NULL &&
        (c->state == RT_SOUT_WAIT_DB_RESULT || c->state == RT_SOUT_ESTABLISHED)) {
        return on_db_result_answer(c, el);
    }
    switch ((rt_sout_state_t)c->state) {
    case RT_SOUT_WAIT_FEATURES:
        if (strcmp(el->ns, RT_XS_NS_STREAMS) == 0 && strcmp(el->name, "features") == 0) {
            on_features(c, el);
            return true;
        }
        break;
    case RT_SOUT_WAIT_PROCEED:
        if (strcmp(el->ns, RT_XS_NS_TLS) == 0 && strcmp(el->name, "proceed") == 0) {
            rt_xs_reset(c->xs);
            set_state(c, RT_SOUT_TLS_HANDSHAKE);
            if (rt_conn_start_tls(c, false, NULL) != RC_OK) {
                fail(c, false);
            }
            return false;
        }
        if (strcmp(el->ns, RT_XS_NS_TLS) == 0 && strcmp(el->name, "failure") == 0) {
            LOGO(CORE_LOG_INFO, c, "peer refused STARTTLS%s", "");
            fail(c, false);
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
            LOGO(CORE_LOG_INFO, c, "SASL EXTERNAL refused; dialback from now on for %s",
                 c->peer->text);
            c->peer->no_external = true;
            start_dialback(c);
            return true;
        }
        break;
    default:
        break;
    }
    if (el->is_stanza) {
        LOGO(CORE_LOG_INFO, c, "peer sent a stanza on our outbound stream; ignored%s", "");
        return true;
    }
    if (c->state == RT_SOUT_ESTABLISHED || c->state == RT_SOUT_VREADY) {
        return true; // e.g. acks or features we did not ask for
    }
    LOGO(CORE_LOG_INFO, c, "unexpected <%s/> in state %s", el->name, state_names[c->state]);
    rt_conn_stream_error(c, "unsupported-stanza-type", NULL);
    fail(c, false);
    return false;
}

static bool on_close(void *ctx) {
    rt_conn_t *c = ctx;
    if (c->state == RT_SOUT_ESTABLISHED) {
        LOGO(CORE_LOG_INFO, c, "the peer closed the stream%s", ""); // its pairs move on
    }
    fail(c, true);
    return false;
}

const rt_xs_cbs_t rt_sout_cbs = {on_open, on_elem, on_close};

void rt_sout_timeout(rt_conn_t *c) {
    if (c->vconn && c->state == RT_SOUT_VREADY) {
        c->backoff_done = true; // the connection worked; the answer did not come
        LOGO(CORE_LOG_INFO, c, "verification connection done or timed out%s", "");
        rt_conn_end_stream(c);
        return;
    }
    LOGO(CORE_LOG_INFO, c, "not established in time (state %s)", state_names[c->state]);
    if (c->state == RT_SOUT_CONNECTING || c->state == RT_SOUT_TLS_HANDSHAKE) {
        fail(c, false);
    } else {
        rt_conn_stream_error(c, "connection-timeout", NULL);
        fail(c, true);
    }
}

// rt_sout_detach takes the stream out of the pool: called when our </stream:stream> goes out
// (nothing may be written after it, so its queued stanzas and verifies move to another stream
// at once) and again, as a no-op then, when the connection closes.
void rt_sout_detach(rt_conn_t *c) {
    give_up(c);
    rt_pool_stream_closed(c);
}

void rt_sout_closed(rt_conn_t *c) {
    if (!c->vconn) {
        rt_stat_add(&c->w->stats, RT_STAT_POOL_STREAMS, -1);
    }
    rt_sout_detach(c);
    // Written, never acknowledged (acks count until the connection goes): the senders hear of
    // it (SM-7); without SM, what never left our buffers.
    rt_sout_sm_bounce(c);
    rt_sout_unsent_bounce(c);
}

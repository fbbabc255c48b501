// s2s_in.c: inbound s2s streams (we are the receiving and the authoritative server).
//
// STARTTLS (required by default) -> SASL EXTERNAL when the peer's certificate proves the domain of
// its header 'from' (XEP-0178), else Server Dialback (XEP-0220): every db:result adds one
// (remote, local) pair, verified through a db:verify sent to the remote domain's authoritative
// server over our outbound stream to it. db:verify requests are answered on any stream, even one
// that is not authenticated yet (SPEC.md RTR-13a), statelessly from the XEP-0185 secret.
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dna/dbkey.h"
#include "router/internal.h"
#include "router/proof.h"

typedef enum rt_sin_state {
    RT_SIN_WAIT_HEADER = 0,
    RT_SIN_OPEN,
} rt_sin_state_t;

#define LOGI(lvl, c, fmt, ...)                                                                     \
    CORE_LOG(lvl, CORE_LOG_SRC_S2S, "w%u c%lu %s in: " fmt, (c)->w->idx, (unsigned long)(c)->id,  \
             (c)->peer_text, __VA_ARGS__)

void rt_sin_accepted(rt_conn_t *c) {
    rt_router_t *rt = c->w->rt;
    c->state = RT_SIN_WAIT_HEADER;
    c->deadline_ms = c->w->now_ms + (uint64_t)c->w->conf->auth_timeout_s * 1000u;
    uint32_t max = c->w->conf->max_unauth_per_ip;
    if (!pool_addrcount_acquire(rt->unauth, &c->peer_sa, max)) {
        // Over the budget: a burst from a busy server (one connection per domain pair) waits,
        // unread, for a slot; beyond RT_UNAUTH_CERT_FACTOR times the budget it is refused.
        if (!pool_addrcount_acquire(rt->unauth_parked, &c->peer_sa, max * RT_UNAUTH_CERT_FACTOR)) {
            rt_stat_inc(&c->w->stats, RT_STAT_UNAUTH_REFUSED);
            LOGI(CORE_LOG_WARN, c, "refused: %u unauthenticated connections from this address "
                 "and %u more waiting", max, max * RT_UNAUTH_CERT_FACTOR);
            rt_conn_close(c);
            return;
        }
        c->parked = true;
        rt_stat_inc(&c->w->stats, RT_STAT_UNAUTH_PARKED);
        LOGI(CORE_LOG_DEBUG, c, "%u unauthenticated connections from this address: waiting "
             "for a slot", max);
        return;
    }
    c->counted_unauth = true;
    if (c->direct_tls && rt_conn_start_tls(c, true, NULL) != RC_OK) {
        rt_conn_close(c);
    }
}

void rt_sin_unpark(rt_conn_t *c) {
    rt_router_t *rt = c->w->rt;
    if (!pool_addrcount_acquire(rt->unauth, &c->peer_sa, c->w->conf->max_unauth_per_ip)) {
        return; // still full: the deadline (auth_timeout) bounds the wait
    }
    pool_addrcount_release(rt->unauth_parked, &c->peer_sa);
    c->parked = false;
    c->counted_unauth = true;
    LOGI(CORE_LOG_DEBUG, c, "got an unauthenticated slot%s", "");
    if (c->direct_tls && rt_conn_start_tls(c, true, NULL) != RC_OK) {
        rt_conn_close(c);
        return;
    }
    rt_conn_arm_recv(c);
    rt_conn_mark_dirty(c);
}

void rt_sin_timeout(rt_conn_t *c) {
    LOGI(CORE_LOG_INFO, c, "not authenticated within %us", c->w->conf->auth_timeout_s);
    rt_conn_stream_error(c, "connection-timeout", "not authenticated in time");
}

static bool any_valid(const rt_conn_t *c) {
    return c->pairs.num_valid > 0;
}

static pool_pair_t *add_pair(rt_conn_t *c, const char *remote, const char *local,
                             pool_pair_state_t st) {
    if (c->pairs.max == 0) {
        pool_pairset_init(&c->pairs, RT_MAX_PAIRS);
    }
    pool_pair_t *p = pool_pairset_add(&c->pairs, remote, local, st);
    if (p != NULL) {
        rt_stat_inc(&c->w->stats,
                    st == POOL_PAIR_VALID ? RT_STAT_PAIRS_IN_VALID : RT_STAT_PAIRS_IN_PENDING);
    }
    return p;
}

static void set_valid(rt_conn_t *c, pool_pair_t *p) {
    rt_stat_add(&c->w->stats, RT_STAT_PAIRS_IN_PENDING, -1);
    rt_stat_inc(&c->w->stats, RT_STAT_PAIRS_IN_VALID);
    pool_pairset_set_state(&c->pairs, p, POOL_PAIR_VALID);
}

static void remove_pair(rt_conn_t *c, pool_pair_t *p) {
    rt_stat_add(&c->w->stats,
                p->state == POOL_PAIR_VALID ? RT_STAT_PAIRS_IN_VALID : RT_STAT_PAIRS_IN_PENDING, -1);
    pool_pairset_remove(&c->pairs, p);
}

static void authenticated(rt_conn_t *c) {
    rt_conn_release_unauth(c);
    c->deadline_ms = 0;
}

// write_features sends our stream features: STARTTLS before TLS, SASL EXTERNAL when |external|,
// and dialback with errors (XEP-0220 §2.6).
static void write_features(rt_conn_t *c, bool external) {
    const rt_conf_t *conf = c->w->conf;
    core_bld_t b;
    core_bld_init(&b, 2048);
    core_bld_add_str(&b, "<stream:features>");
    if (!c->tls_on) {
        core_bld_add_str(&b, conf->require_tls
                                 ? "<starttls xmlns='" RT_XS_NS_TLS "'><required/></starttls>"
                                 : "<starttls xmlns='" RT_XS_NS_TLS "'/>");
    } else if (external) {
        core_bld_add_str(&b, "<mechanisms xmlns='" RT_XS_NS_SASL
                             "'><mechanism>EXTERNAL</mechanism></mechanisms>");
    }
    if (c->tls_on || !conf->require_tls) {
        core_bld_add_str(&b, "<dialback xmlns='" RT_XS_NS_DIALBACK_FEATURE "'><errors/></dialback>");
    }
    core_bld_add_str(&b, "</stream:features>");
    if (core_bld_finish(&b) == RC_OK) {
        rt_conn_write_bld(c, &b);
    }
    core_bld_cleanup(&b);
}

static bool on_open(void *ctx, const rt_xs_header_t *hdr) {
    rt_conn_t *c = ctx;
    const rt_conf_t *conf = c->w->conf;
    char to[DNA_DOMAIN_MAX] = "";
    // A restart gives a new stream id: verifications keyed to the old one can never finish.
    for (size_t i = c->pairs.num; i-- > 0;) {
        if (c->pairs.pairs[i].state == POOL_PAIR_PENDING) {
            remove_pair(c, &c->pairs.pairs[i]);
        }
    }
    rt_conn_new_stream_id(c);
    bool to_norm = hdr->to != NULL &&
                   dna_domain_normalize(to, sizeof(to), hdr->to, strlen(hdr->to)) == RC_OK;
    bool to_ok = to_norm && rt_conf_domain(conf, to) != NULL;
    if (strcmp(hdr->ns_default, RT_XS_NS_SERVER) != 0) {
        rt_conn_write_header(c, to_ok ? to : "", NULL, true);
        rt_conn_stream_error(c, "invalid-namespace", "expected jabber:server");
        return false;
    }
    if (!to_ok) {
        // Name the domain the peer asked for (normalised, or "(invalid)"): a grep for it finds
        // this line.
        LOGI(CORE_LOG_INFO, c, "stream for %s refused: not a hosted domain",
             to_norm ? to : hdr->to != NULL ? "(invalid name)" : "(no 'to')");
        rt_conn_write_header(c, "", NULL, true);
        rt_conn_stream_error(c, "host-unknown", "this domain is not served here");
        return false;
    }
    if (c->hdr_to[0] != '\0' && strcmp(c->hdr_to, to) != 0) {
        rt_conn_write_header(c, to, NULL, true);
        rt_conn_stream_error(c, "host-unknown", "stream 'to' changed on restart");
        return false;
    }
    snprintf(c->hdr_to, sizeof(c->hdr_to), "%s", to);
    // Only the TLS-protected header's 'from' is a reference identity (RFC 6120 §13.7.2).
    c->hdr_from[0] = '\0';
    if (c->tls_on && hdr->from != NULL &&
        dna_domain_normalize(c->hdr_from, sizeof(c->hdr_from), hdr->from, strlen(hdr->from)) !=
            RC_OK) {
        c->hdr_from[0] = '\0';
    }
    rt_conn_write_header(c, to, hdr->from != NULL && c->tls_on ? c->hdr_from : NULL, true);
    c->state = RT_SIN_OPEN;
    c->features_pending = false;
    if (c->tls_on && !c->sasl_done && c->hdr_from[0] != '\0') {
        // SASL EXTERNAL is offered when the 'from' domain is proven (PKIX, DANE or POSH); the
        // features wait for that check.
        dna_verdict_t v;
        if (!rt_proof_start(c, RT_PROOF_FEATURES, c->hdr_from, c->hdr_to, NULL, &v)) {
            c->features_pending = true;
            return true;
        }
        write_features(c, v.kind == DNA_VERDICT_PROVEN);
        return true;
    }
    write_features(c, false);
    return true;
}

void rt_sin_features_proof(rt_conn_t *c, const char *domain, const dna_verdict_t *v) {
    if (c->closing || !c->features_pending || strcmp(domain, c->hdr_from) != 0) {
        return;
    }
    c->features_pending = false;
    write_features(c, v->kind == DNA_VERDICT_PROVEN);
}

static void db_answer(rt_conn_t *c, const char *elem, const char *from, const char *to,
                      const char *id, const char *type, const char *cond) {
    core_bld_t b;
    core_bld_init(&b, 2048);
    core_bld_add_str(&b, "<db:");
    core_bld_add_str(&b, elem);
    core_bld_add_str(&b, " from='");
    core_bld_add_xml_attr(&b, from, strlen(from));
    core_bld_add_str(&b, "' to='");
    core_bld_add_xml_attr(&b, to, strlen(to));
    core_bld_add_str(&b, "'");
    if (id != NULL) {
        core_bld_add_str(&b, " id='");
        core_bld_add_xml_attr(&b, id, strlen(id));
        core_bld_add_str(&b, "'");
    }
    core_bld_add_str(&b, " type='");
    core_bld_add_str(&b, type);
    if (cond != NULL) {
        core_bld_printf(&b, "'><error type='cancel'><%s xmlns='" RT_XS_NS_STANZA_ERRORS
                            "'/></error></db:%s>",
                        cond, elem);
    } else {
        core_bld_add_str(&b, "'/>");
    }
    if (core_bld_finish(&b) == RC_OK) {
        rt_conn_write_bld(c, &b);
    }
    core_bld_cleanup(&b);
}

static bool handle_starttls(rt_conn_t *c) {
    if (c->tls_on) {
        rt_conn_stream_error(c, "policy-violation", "TLS is already on");
        return false;
    }
    // <proceed/> goes out in plaintext; TLS starts right after it (CORE-29).
    rt_conn_write_str(c, "<proceed xmlns='" RT_XS_NS_TLS "'/>");
    if (rt_conn_start_tls(c, true, c->hdr_to) != RC_OK) {
        rt_conn_close(c);
        return false;
    }
    rt_xs_reset(c->xs);
    c->header_sent = false;
    c->state = RT_SIN_WAIT_HEADER;
    return false;
}

static bool handle_auth(rt_conn_t *c, const rt_xs_elem_t *el) {
    const char *mech = rt_xs_attr_get(el, 0, "mechanism");
    const char *fail = NULL;
    if (!c->tls_on || c->sasl_done) {
        fail = "encryption-required";
    } else if (mech == NULL || strcmp(mech, "EXTERNAL") != 0) {
        fail = "invalid-mechanism";
    } else {
        uint8_t authz[DNA_DOMAIN_MAX];
        size_t authz_len = 0;
        const char *txt = el->nodes[0].text;
        size_t txt_len = el->nodes[0].text_len;
        char norm[DNA_DOMAIN_MAX];
        if (txt_len > 0 && !core_b64_decode(authz, sizeof(authz) - 1, &authz_len, txt, txt_len)) {
            fail = "incorrect-encoding";
        } else if (authz_len > 0 &&
                   (dna_domain_normalize(norm, sizeof(norm), (const char *)authz, authz_len) !=
                        RC_OK ||
                    strcmp(norm, c->hdr_from) != 0)) {
            fail = "invalid-authzid";
        } else if (c->hdr_from[0] == '\0' || !rt_proof_known_proven(c, c->hdr_from)) {
            fail = "not-authorized"; // EXTERNAL was not offered: the domain is not proven
        }
    }
    if (fail != NULL) {
        LOGI(CORE_LOG_INFO, c, "SASL EXTERNAL refused for %s: %s",
             c->hdr_from[0] ? c->hdr_from : "(no from)", fail);
        core_bld_t b;
        core_bld_init(&b, 512);
        core_bld_printf(&b, "<failure xmlns='" RT_XS_NS_SASL "'><%s/></failure>", fail);
        if (core_bld_finish(&b) == RC_OK) {
            rt_conn_write_bld(c, &b);
        }
        core_bld_cleanup(&b);
        return true;
    }
    if (pool_pairset_find(&c->pairs, c->hdr_from, c->hdr_to) == NULL &&
        add_pair(c, c->hdr_from, c->hdr_to, POOL_PAIR_VALID) == NULL) {
        rt_conn_stream_error(c, "resource-constraint", NULL);
        return false;
    }
    c->sasl_done = true;
    authenticated(c);
    rt_stat_inc(&c->w->stats, RT_STAT_AUTH_EXTERNAL_IN);
    LOGI(CORE_LOG_INFO, c, "authenticated %s -> %s by SASL EXTERNAL", c->hdr_from, c->hdr_to);
    rt_conn_write_str(c, "<success xmlns='" RT_XS_NS_SASL "'/>");
    rt_xs_reset(c->xs);
    c->header_sent = false;
    c->state = RT_SIN_WAIT_HEADER;
    return false;
}

// key_text returns the element's text without surrounding XML whitespace (keys are hex).
static const char *key_text(const rt_xs_elem_t *el, size_t *out_len) {
    const char *t = el->nodes[0].text;
    size_t n = el->nodes[0].text_len;
    while (n > 0 && (t[0] == ' ' || t[0] == '\t' || t[0] == '\r' || t[0] == '\n')) {
        t++;
        n--;
    }
    while (n > 0 && (t[n - 1] == ' ' || t[n - 1] == '\t' || t[n - 1] == '\r' || t[n - 1] == '\n')) {
        n--;
    }
    *out_len = n;
    return t;
}

bool rt_sin_handle_db_result(rt_conn_t *c, const rt_xs_elem_t *el) {
    char from[DNA_DOMAIN_MAX], to[DNA_DOMAIN_MAX];
    if (el->type != NULL) {
        LOGI(CORE_LOG_INFO, c, "ignoring unsolicited typed db:result (%s)", "inbound stream");
        return true;
    }
    if (el->from == NULL || el->to == NULL ||
        dna_domain_normalize(from, sizeof(from), el->from, strlen(el->from)) != RC_OK ||
        dna_domain_normalize(to, sizeof(to), el->to, strlen(el->to)) != RC_OK) {
        rt_conn_stream_error(c, "improper-addressing", "db:result needs valid from and to");
        return false;
    }
    if (rt_conf_domain(c->w->conf, to) == NULL) {
        db_answer(c, "result", to, from, NULL, "error", "item-not-found");
        return true;
    }
    if (c->w->conf->require_tls && !c->tls_on) {
        db_answer(c, "result", to, from, NULL, "error", "policy-violation");
        return true;
    }
    size_t key_len;
    const char *key_ptr = key_text(el, &key_len);
    char key[DNA_DBKEY_HEX_LEN + 1];
    if (key_len != DNA_DBKEY_HEX_LEN) {
        db_answer(c, "result", to, from, NULL, "invalid", NULL);
        LOGI(CORE_LOG_INFO, c, "dialback key for %s -> %s has a bad length", from, to);
        if (!any_valid(c)) {
            rt_conn_end_stream(c);
            return false;
        }
        return true;
    }
    core_memcpy(key, key_ptr, key_len);
    key[key_len] = '\0';
    pool_pair_t *p = pool_pairset_find(&c->pairs, from, to);
    if (p != NULL) {
        if (p->state == POOL_PAIR_VALID) {
            db_answer(c, "result", to, from, NULL, "valid", NULL);
        }
        return true; // pending: the answer will come
    }
    if (c->pairs.num_pending >= c->w->conf->max_pending_pairs ||
        add_pair(c, from, to, POOL_PAIR_PENDING) == NULL) {
        db_answer(c, "result", to, from, NULL, "error", "resource-constraint");
        return true;
    }
    // The pair stays pending while the sender's domain is checked (PKIX, DANE, POSH).
    dna_verdict_t v;
    if (rt_proof_start(c, RT_PROOF_DB_RESULT, from, to, key, &v)) {
        rt_sin_db_result_proof(c, from, to, key, &v);
    }
    return true;
}

void rt_sin_db_result_proof(rt_conn_t *c, const char *from, const char *to, const char *key,
                            const dna_verdict_t *v) {
    pool_pair_t *p = pool_pairset_find(&c->pairs, from, to);
    if (c->closing || p == NULL || p->state != POOL_PAIR_PENDING) {
        return; // the stream restarted or closed meanwhile
    }
    switch (v->kind) {
    case DNA_VERDICT_PROVEN: {
        // Dialback without dialback (XEP-0344): the certificate already proves the sender.
        bool piggyback = any_valid(c);
        set_valid(c, p);
        authenticated(c);
        rt_stat_inc(&c->w->stats, RT_STAT_DIALBACK_OPTIMIZED);
        rt_stat_inc(&c->w->stats, RT_STAT_AUTH_DIALBACK_OPTIMIZED_IN);
        if (piggyback) {
            rt_stat_inc(&c->w->stats, RT_STAT_PAIRS_PIGGYBACKED_IN);
        }
        LOGI(CORE_LOG_INFO, c, "authenticated %s -> %s by certificate (%s, dialback optimized)",
             from, to, dna_prooftype_name(v->prooftype));
        db_answer(c, "result", to, from, NULL, "valid", NULL);
        break;
    }
    case DNA_VERDICT_DIALBACK: {
        LOGI(CORE_LOG_DEBUG, c, "db:result %s -> %s: asking %s's authoritative server", from, to,
             from);
        rt_msg_t *m = rt_msg_verify_new(RT_MSG_VERIFY_REQ, to, from, c->stream_id, key,
                                        c->w->idx, c->id, 0, NULL);
        rt_pool_route(c->w, m);
        break;
    }
    case DNA_VERDICT_REFUSED:
    case DNA_VERDICT_TEMPFAIL:
        LOGI(CORE_LOG_WARN, c, "db:result %s -> %s refused: %s", from, to, v->reason);
        remove_pair(c, p);
        db_answer(c, "result", to, from, NULL, "error",
                  v->kind == DNA_VERDICT_TEMPFAIL ? "remote-server-timeout" : "not-authorized");
        break;
    }
}

bool rt_sin_handle_db_verify(rt_conn_t *c, const rt_xs_elem_t *el) {
    rt_router_t *rt = c->w->rt;
    char from[DNA_DOMAIN_MAX], to[DNA_DOMAIN_MAX];
    if (el->type != NULL) {
        LOGI(CORE_LOG_INFO, c, "ignoring unsolicited typed db:verify (%s)", "inbound stream");
        return true;
    }
    if (el->from == NULL || el->to == NULL || el->id == NULL ||
        dna_domain_normalize(from, sizeof(from), el->from, strlen(el->from)) != RC_OK ||
        dna_domain_normalize(to, sizeof(to), el->to, strlen(el->to)) != RC_OK) {
        rt_conn_stream_error(c, "improper-addressing", "db:verify needs from, to and id");
        return false;
    }
    if (strlen(el->id) > 128) {
        rt_conn_stream_error(c, "policy-violation", "db:verify id longer than 128 bytes");
        return false;
    }
    if (rt_conf_domain(c->w->conf, to) == NULL) {
        db_answer(c, "verify", to, from, el->id, "error", "item-not-found");
        return true;
    }
    size_t key_len;
    const char *key = key_text(el, &key_len);
    bool ok = dna_dbkey_verify(&rt->db_secret, key, key_len, from, to, el->id);
    rt_stat_inc(&c->w->stats, RT_STAT_DIALBACK_VERIFY_ANSWERED);
    LOGI(CORE_LOG_DEBUG, c, "db:verify from %s for %s: %s", from, to, ok ? "valid" : "invalid");
    db_answer(c, "verify", to, from, el->id, ok ? "valid" : "invalid", NULL);
    return true;
}

bool rt_sin_handle_stanza(rt_conn_t *c, const rt_xs_elem_t *el) {
    char fdom[DNA_DOMAIN_MAX], tdom[DNA_DOMAIN_MAX];
    if (!any_valid(c)) {
        rt_conn_stream_error(c, "not-authorized", "stanza before authentication");
        return false;
    }
    if (el->from == NULL || el->to == NULL ||
        rt_route_jid_domain(el->from, fdom, sizeof(fdom)) != RC_OK ||
        rt_route_jid_domain(el->to, tdom, sizeof(tdom)) != RC_OK) {
        rt_conn_stream_error(c, "improper-addressing", "stanza needs valid from and to");
        return false;
    }
    pool_pair_t *p = pool_pairset_find(&c->pairs, fdom, tdom);
    if (p == NULL || p->state != POOL_PAIR_VALID) {
        if (!pool_pairset_remote_valid(&c->pairs, fdom)) {
            rt_conn_stream_error(c, "invalid-from", "sender domain not authenticated on this stream");
        } else {
            rt_conn_stream_error(c, "host-unknown", "target domain not authenticated on this stream");
        }
        return false;
    }
    return rt_route_from_stream(c, el, fdom, tdom);
}

static bool on_elem(void *ctx, const rt_xs_elem_t *el) {
    rt_conn_t *c = ctx;
    if (el->is_stanza) {
        return rt_sin_handle_stanza(c, el);
    }
    if (strcmp(el->ns, RT_XS_NS_TLS) == 0 && strcmp(el->name, "starttls") == 0) {
        return handle_starttls(c);
    }
    if (strcmp(el->ns, RT_XS_NS_SASL) == 0 && strcmp(el->name, "auth") == 0) {
        return handle_auth(c, el);
    }
    if (strcmp(el->ns, RT_XS_NS_DIALBACK) == 0 && strcmp(el->name, "result") == 0) {
        return rt_sin_handle_db_result(c, el);
    }
    if (strcmp(el->ns, RT_XS_NS_DIALBACK) == 0 && strcmp(el->name, "verify") == 0) {
        return rt_sin_handle_db_verify(c, el);
    }
    if (strcmp(el->ns, RT_XS_NS_STREAMS) == 0 && strcmp(el->name, "error") == 0) {
        uint32_t k = el->num_nodes > 1 ? el->nodes[0].first_child : RT_XS_NONE;
        LOGI(CORE_LOG_INFO, c, "peer sent stream error <%s/>",
             k != RT_XS_NONE ? el->nodes[k].name : "?");
        rt_stats_stream_error(&c->w->stats, false, k != RT_XS_NONE ? el->nodes[k].name : NULL);
        rt_conn_end_stream(c);
        return false;
    }
    if (!c->tls_on && c->w->conf->require_tls) {
        rt_conn_stream_error(c, "policy-violation", "STARTTLS is required");
        return false;
    }
    rt_conn_stream_error(c, "unsupported-stanza-type", NULL);
    return false;
}

static bool on_close(void *ctx) {
    rt_conn_t *c = ctx;
    if (c->pairs.num_valid > 0) {
        LOGI(CORE_LOG_INFO, c, "the peer closed the stream (%zu valid pairs)", c->pairs.num_valid);
    }
    rt_conn_end_stream(c);
    return false;
}

const rt_xs_cbs_t rt_sin_cbs = {on_open, on_elem, on_close};

void rt_sin_verify_result(rt_worker_t *w, rt_msg_t *m) {
    rt_conn_t *c = w->conns;
    while (c != NULL && c->id != m->reply_conn) {
        c = c->next;
    }
    // m->fdom is our (local) domain, m->tdom the remote one.
    pool_pair_t *p = NULL;
    if (c != NULL && (c->kind == RT_CONN_S2S_IN || c->bidi) && !c->closing && !c->close_after_flush &&
        strcmp(c->stream_id, m->stream_id) == 0) {
        p = pool_pairset_find(&c->pairs, m->tdom, m->fdom);
    }
    if (p == NULL || p->state != POOL_PAIR_PENDING) {
        rt_msg_free(m); // the stream went away or restarted meanwhile
        return;
    }
    switch (m->verdict) {
    case RT_VERDICT_VALID:
        if (any_valid(c)) {
            rt_stat_inc(&w->stats, RT_STAT_PAIRS_PIGGYBACKED_IN);
        }
        set_valid(c, p);
        authenticated(c);
        rt_stat_inc(&w->stats, RT_STAT_AUTH_DIALBACK_IN);
        LOGI(CORE_LOG_INFO, c, "authenticated %s -> %s by dialback", m->tdom, m->fdom);
        db_answer(c, "result", m->fdom, m->tdom, NULL, "valid", NULL);
        break;
    case RT_VERDICT_INVALID:
        LOGI(CORE_LOG_WARN, c, "dialback for %s -> %s: authoritative server says invalid",
             m->tdom, m->fdom);
        remove_pair(c, p);
        db_answer(c, "result", m->fdom, m->tdom, NULL, "invalid", NULL);
        if (!any_valid(c)) {
            rt_conn_end_stream(c); // DB-19: the first failed attempt closes the stream
        }
        break;
    case RT_VERDICT_ERROR:
        LOGI(CORE_LOG_INFO, c, "dialback for %s -> %s failed: %s", m->tdom, m->fdom,
             m->error_cond ? m->error_cond : "error");
        remove_pair(c, p);
        db_answer(c, "result", m->fdom, m->tdom, NULL, "error",
                  m->error_cond ? m->error_cond : "remote-server-not-found");
        break;
    }
    rt_msg_free(m);
}

void rt_sin_add_reverse_pair(rt_conn_t *c, const char *remote, const char *local) {
    if (pool_pairset_find(&c->pairs, remote, local) == NULL &&
        add_pair(c, remote, local, POOL_PAIR_VALID) == NULL) {
        LOGI(CORE_LOG_WARN, c, "no room for the reverse pair %s -> %s", remote, local);
    }
}

void rt_sin_closed(rt_conn_t *c) {
    // Pending verifications find the stream gone and are dropped.
    while (c->pairs.num > 0) {
        remove_pair(c, &c->pairs.pairs[c->pairs.num - 1]);
    }
}

// conn.c: connection lifecycle shared by every stream kind: buffers, the TLS byte filter between
// the socket and the XML parser, output batching, stream errors and deadlines.
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "router/internal.h"
#include "router/proof.h"

#define MAX_PIN (1u << 20) // plaintext decrypted but not yet parsed
#define CLOSE_WAIT_MS 2000 // after our </stream:stream>, how long the peer has to close its own

static const rt_xs_cbs_t *cbs_for(rt_conn_kind_t kind) {
    switch (kind) {
    case RT_CONN_S2S_IN:
        return &rt_sin_cbs;
    case RT_CONN_S2S_OUT:
        return &rt_sout_cbs;
    case RT_CONN_COMP:
        return &rt_comp_cbs;
    }
    return NULL;
}

// The parser's callbacks go through these: after our </stream:stream> the stream still takes
// what the peer sends until it closes its own (RFC 6120 §4.4, CORE-50): stanzas (of pairs
// still valid on it) and XEP-0198 acks, nothing that would need an answer.
static bool conn_on_open(void *ctx, const rt_xs_header_t *hdr) {
    rt_conn_t *c = ctx;
    if (c->close_after_flush) {
        return true; // a header after our close: not answered; wait for the close
    }
    return cbs_for(c->kind)->on_open(ctx, hdr);
}

static bool conn_on_elem(void *ctx, const rt_xs_elem_t *el) {
    rt_conn_t *c = ctx;
    if (strcmp(el->ns, RT_XS_NS_STREAMS) == 0 && strcmp(el->name, "error") == 0) {
        c->ended_in_error = true; // unrecoverable (RFC 6120 §4.9.1.1): nothing after it counts
    }
    if (c->close_after_flush) {
        bool ack = strcmp(el->ns, RT_XS_NS_SM) == 0 && strcmp(el->name, "a") == 0 &&
                   c->sm_count > 0; // (once they bounced an ack is moot)
        if (c->ended_in_error || !(el->is_stanza || ack)) {
            return true; // ignored: we said our last word
        }
    }
    return cbs_for(c->kind)->on_elem(ctx, el);
}

static bool conn_on_close(void *ctx) {
    rt_conn_t *c = ctx;
    if (!c->close_after_flush) {
        (void)cbs_for(c->kind)->on_close(ctx); // answers with our </stream:stream> (or closes)
    }
    rt_conn_peer_ended(c);
    return false;
}

static const rt_xs_cbs_t conn_cbs = {conn_on_open, conn_on_elem, conn_on_close};

void rt_conn_peer_ended(rt_conn_t *c) {
    c->peer_ended = true;
    rt_conn_finish(c);
}

void rt_conn_finish(rt_conn_t *c) {
    if (!c->close_after_flush || !c->peer_ended || c->closing || c->lingering ||
        c->send_armed || rt_conn_out_bytes(c) > 0) {
        return; // a stream still open, or output still to go
    }
    if (c->fd < 0 || shutdown(c->fd, SHUT_WR) != 0) {
        rt_conn_close(c);
        return;
    }
    c->lingering = true;
    c->deadline_ms = c->w->now_ms + CLOSE_WAIT_MS; // rt_conn_tick closes it then
    CORE_LOG(CORE_LOG_DEBUG, CORE_LOG_SRC_XML,
             "w%u c%lu %s: both streams closed, everything written: FIN sent", c->w->idx,
             (unsigned long)c->id, c->peer_text);
}

rt_conn_t *rt_conn_new(rt_worker_t *w, rt_conn_kind_t kind, int fd) {
    rt_conn_t *c = core_xcalloc(1, sizeof(*c));
    c->w = w;
    c->id = ++w->next_conn_id;
    c->kind = kind;
    c->fd = fd;
    c->op_recv.kind = RT_OP_RECV;
    c->op_recv.owner = c;
    c->op_send.kind = RT_OP_SEND;
    c->op_send.owner = c;
    c->op_connect.kind = RT_OP_CONNECT;
    c->op_connect.owner = c;
    c->rxbuf = core_xmalloc(RT_RX_BUF);
    c->last_rx_ms = w->now_ms;
    c->dom_idx = SIZE_MAX;
    snprintf(c->peer_text, sizeof(c->peer_text), "-");
    rt_xs_limits_t lim;
    rt_xs_limits_default(&lim);
    lim.max_stanza_bytes = w->conf->max_stanza_size;
    c->xs = rt_xs_new(&lim, &conn_cbs, c);
    c->next = w->conns;
    if (w->conns != NULL) {
        w->conns->prev = c;
    }
    w->conns = c;
    if (kind == RT_CONN_S2S_IN) {
        rt_stat_inc(&w->stats, RT_STAT_STREAMS_IN);
    } else if (kind == RT_CONN_S2S_OUT) {
        rt_stat_inc(&w->stats, RT_STAT_STREAMS_OUT);
    } else {
        rt_stat_inc(&w->stats, RT_STAT_STREAMS_COMPONENT);
    }
    return c;
}

void rt_conn_free(rt_conn_t *c) {
    if (c == NULL) {
        return;
    }
    if (c->fd >= 0) {
        close(c->fd);
    }
    rt_xs_free(c->xs);
    rt_tls_conn_cleanup(&c->tls);
    core_buf_cleanup(&c->wbuf);
    core_buf_cleanup(&c->sending);
    core_buf_cleanup(&c->pout);
    core_buf_cleanup(&c->pin);
    rt_msg_list_free(c->sm_head);
    rt_msg_list_free(c->unsent_head);
    free(c->ckpt);
    free(c->rxbuf);
    pool_pairset_cleanup(&c->pairs);
    while (c->verifies != NULL) {
        rt_out_verify_t *v = c->verifies;
        c->verifies = v->next;
        free(v);
    }
    free(c);
}

void rt_conn_mark_dirty(rt_conn_t *c) {
    if (!c->in_dirty_list) {
        c->in_dirty_list = true;
        c->dirty_next = c->w->dirty;
        c->w->dirty = c;
    }
}

size_t rt_conn_out_bytes(const rt_conn_t *c) {
    return core_buf_len(&c->wbuf) + core_buf_len(&c->sending) + core_buf_len(&c->pout);
}

bool rt_conn_congested(const rt_conn_t *c) {
    // Unacknowledged stanzas (XEP-0198) count too: a peer that reads but never acks is full.
    return rt_conn_out_bytes(c) + c->sm_bytes > c->w->conf->max_queue_bytes;
}

void rt_conn_write(rt_conn_t *c, const void *data, size_t len) {
    if (c->closing || c->close_after_flush || c->fd < 0) {
        return; // after our </stream:stream> nothing more goes out (CORE-50)
    }
    core_buf_append(c->tls_on ? &c->pout : &c->wbuf, data, len);
    c->out_plain += len;
    rt_conn_mark_dirty(c);
}

void rt_conn_write_str(rt_conn_t *c, const char *s) {
    rt_conn_write(c, s, strlen(s));
}

void rt_conn_write_bld(rt_conn_t *c, const core_bld_t *b) {
    rt_conn_write(c, b->data, b->len);
}

void rt_conn_write_header(rt_conn_t *c, const char *from, const char *to, bool with_id) {
    bool comp = c->kind == RT_CONN_COMP;
    core_bld_t b;
    core_bld_init(&b, 2048);
    core_bld_add_str(&b, comp ? "<?xml version='1.0'?><stream:stream xmlns='" RT_XS_NS_COMPONENT
                                "' xmlns:stream='" RT_XS_NS_STREAMS "'"
                              : "<?xml version='1.0'?><stream:stream xmlns='" RT_XS_NS_SERVER
                                "' xmlns:stream='" RT_XS_NS_STREAMS "' xmlns:db='" RT_XS_NS_DIALBACK
                                "'");
    core_bld_add_str(&b, " from='");
    core_bld_add_xml_attr(&b, from, strlen(from));
    core_bld_add_str(&b, "'");
    if (to != NULL && to[0] != '\0') {
        core_bld_add_str(&b, " to='");
        core_bld_add_xml_attr(&b, to, strlen(to));
        core_bld_add_str(&b, "'");
    }
    if (with_id) {
        core_bld_add_str(&b, " id='");
        core_bld_add_xml_attr(&b, c->stream_id, strlen(c->stream_id));
        core_bld_add_str(&b, "'");
    }
    core_bld_add_str(&b, comp ? ">" : " version='1.0' xml:lang='en'>");
    if (core_bld_finish(&b) == RC_OK) {
        rt_conn_write_bld(c, &b);
    }
    core_bld_cleanup(&b);
    c->header_sent = true;
}

// rt_conn_flush seals pending plaintext into TLS records: one pass per loop iteration, so many
// stanzas share a record (DESIGN.md "Bytes on the wire").
void rt_conn_flush(rt_conn_t *c) {
    if (!c->tls_on || !c->tls.handshake_done || core_buf_len(&c->pout) == 0) {
        return;
    }
    // With stanzas to track (unsent), one record (16 KiB of plaintext at most) at a time: the
    // end of each record is a checkpoint, since the peer can read a stanza only once the whole
    // record that ends it has gone out.
    const uint8_t *p = core_buf_head(&c->pout);
    size_t left = core_buf_len(&c->pout);
    size_t step = c->unsent_head != NULL ? RT_TLS_RECORD_MAX : left;
    while (left > 0) {
        size_t n = left < step ? left : step;
        if (rt_tls_conn_seal(&c->tls, p, n, &c->wbuf) != RC_OK) {
            CORE_LOG(CORE_LOG_WARN, CORE_LOG_SRC_TLS, "w%u c%lu %s: TLS write failed", c->w->idx,
                     (unsigned long)c->id, c->peer_text);
            core_buf_consume(&c->pout, core_buf_len(&c->pout));
            rt_conn_close(c);
            return;
        }
        p += n;
        left -= n;
        if (c->unsent_head != NULL) {
            if (c->ckpt_len == c->ckpt_cap) {
                c->ckpt_cap = c->ckpt_cap ? 2 * c->ckpt_cap : 8;
                c->ckpt = core_xrealloc(c->ckpt, c->ckpt_cap * sizeof(*c->ckpt));
            }
            c->ckpt[c->ckpt_len++] = (struct rt_out_ckpt){
                .plain = c->out_plain - left,
                .wire = c->out_sent + core_buf_len(&c->sending) + core_buf_len(&c->wbuf)};
        }
    }
    core_buf_consume(&c->pout, core_buf_len(&c->pout));
    core_buf_shrink(&c->pout, 65536);
}

void rt_conn_release_unauth(rt_conn_t *c) {
    if (c->counted_unauth) {
        pool_addrcount_release(c->unauth_cert ? c->w->rt->unauth_cert : c->w->rt->unauth,
                               &c->peer_sa);
        c->counted_unauth = false;
    }
    if (c->parked) {
        pool_addrcount_release(c->w->rt->unauth_parked, &c->peer_sa);
        c->parked = false;
    }
}

void rt_conn_close(rt_conn_t *c) {
    if (c->closing) {
        return;
    }
    c->closing = true;
    rt_proof_cancel_all(c);
    rt_conn_release_unauth(c);
    switch (c->kind) {
    case RT_CONN_S2S_IN:
        rt_sin_closed(c);
        rt_stat_add(&c->w->stats, RT_STAT_STREAMS_IN, -1);
        break;
    case RT_CONN_S2S_OUT:
        rt_sout_closed(c);
        rt_sin_closed(c); // the pairs the peer used toward us with bidi
        rt_stat_add(&c->w->stats, RT_STAT_STREAMS_OUT, -1);
        break;
    case RT_CONN_COMP:
        rt_comp_closed(c);
        rt_stat_add(&c->w->stats, RT_STAT_STREAMS_COMPONENT, -1);
        break;
    }
    if (c->fd >= 0) {
        // Wake every op still in flight on this fd; the connection is freed after the last one.
        shutdown(c->fd, SHUT_RDWR);
        if (c->ops_in_flight > 0) {
            struct io_uring_sqe *sqe = io_uring_get_sqe(&c->w->ring);
            if (sqe == NULL) {
                io_uring_submit(&c->w->ring);
                sqe = io_uring_get_sqe(&c->w->ring);
            }
            if (sqe != NULL) {
                io_uring_prep_cancel_fd(sqe, c->fd, IORING_ASYNC_CANCEL_ALL);
                io_uring_sqe_set_data(sqe, NULL);
            }
        }
    }
}

void rt_conn_end_stream(rt_conn_t *c) {
    if (c->closing || c->close_after_flush) {
        return;
    }
    if (c->kind == RT_CONN_S2S_OUT) {
        rt_sout_detach(c); // nothing may be written after our close: its queues move on now
        if (c->sm_count > 0 && !c->ended_in_error) {
            rt_conn_write_str(c, "<r xmlns='" RT_XS_NS_SM "'/>"); // what it handled is not bounced
        }
    } else if (c->kind == RT_CONN_COMP) {
        rt_comp_closed(c); // the domain is free for a new connection of its component now
    }
    rt_conn_write_str(c, "</stream:stream>");
    rt_conn_flush(c);
    if (c->tls_on && c->tls.handshake_done) {
        rt_tls_conn_shutdown(&c->tls, &c->wbuf);
    }
    c->close_after_flush = true;
    // The peer has this long to read the rest and close its stream; then both are void.
    c->deadline_ms = c->w->now_ms + CLOSE_WAIT_MS;
    rt_conn_mark_dirty(c);
}

void rt_conn_stream_error(rt_conn_t *c, const char *cond, const char *text) {
    if (c->closing || c->close_after_flush) {
        return;
    }
    CORE_LOG(CORE_LOG_INFO, CORE_LOG_SRC_XML, "w%u c%lu %s: closing stream with <%s/>%s%s",
             c->w->idx, (unsigned long)c->id, c->peer_text, cond, text ? ": " : "",
             text ? text : "");
    c->ended_in_error = true;
    rt_stat_inc(&c->w->stats, RT_STAT_STREAM_ERRORS_SENT);
    rt_stats_stream_error(&c->w->stats, true, cond);
    if (!c->header_sent) {
        // An error before our header still goes inside a well-formed stream (RFC 6120 §4.9.1.2).
        if (c->stream_id[0] == '\0') {
            rt_conn_new_stream_id(c);
        }
        rt_conn_write_header(c, c->hdr_to, NULL, true);
    }
    core_bld_t b;
    core_bld_init(&b, 4096);
    core_bld_add_str(&b, "<stream:error><");
    core_bld_add_str(&b, cond);
    core_bld_add_str(&b, " xmlns='" RT_XS_NS_STREAM_ERRORS "'/>");
    if (text != NULL) {
        core_bld_add_str(&b, "<text xmlns='" RT_XS_NS_STREAM_ERRORS "'>");
        core_bld_add_xml_text(&b, text, strlen(text));
        core_bld_add_str(&b, "</text>");
    }
    core_bld_add_str(&b, "</stream:error>");
    if (core_bld_finish(&b) == RC_OK) {
        rt_conn_write_bld(c, &b);
    }
    core_bld_cleanup(&b);
    rt_conn_end_stream(c);
}

void rt_conn_new_stream_id(rt_conn_t *c) {
    uint8_t rnd[RT_STREAM_ID_LEN / 2];
    RAND_bytes(rnd, sizeof(rnd));
    core_hex_encode(c->stream_id, rnd, sizeof(rnd));
}

rc_t rt_conn_start_tls(rt_conn_t *c, bool server, const char *cert_domain) {
    rc_t rc;
    if (server) {
        rc = rt_tls_conn_server(c->w->rt->tls, &c->tls, cert_domain);
    } else {
        rc = rt_tls_conn_client(c->w->rt->tls, &c->tls, c->local, c->remote, c->direct_tls);
    }
    if (rc != RC_OK) {
        return rc;
    }
    c->tls_on = true;
    c->tls_ready = false;
    if (!server) {
        rc = rt_tls_conn_start(&c->tls, &c->wbuf);
        rt_conn_mark_dirty(c);
    }
    return rc;
}

static void on_tls_ready(rt_conn_t *c) {
    c->tls_ready = true;
    if (c->tls.peer_leaf != NULL) {
        uint8_t *der = NULL;
        int len = i2d_X509(c->tls.peer_leaf, &der);
        if (len > 0) {
            SHA256(der, (size_t)len, c->peer_fp);
            c->has_peer_fp = true;
        }
        OPENSSL_free(der);
    }
    rt_stat_inc(&c->w->stats, c->kind == RT_CONN_S2S_IN ? RT_STAT_TLS_HANDSHAKES_IN
                                                        : RT_STAT_TLS_HANDSHAKES_OUT);
    const SSL_CIPHER *ciph = SSL_get_current_cipher(c->tls.ssl);
    rt_stats_tls_session(&c->w->stats, c->kind == RT_CONN_S2S_IN, SSL_get_version(c->tls.ssl),
                         ciph ? SSL_CIPHER_get_name(ciph) : NULL);
    CORE_LOG(CORE_LOG_DEBUG, CORE_LOG_SRC_TLS, "w%u c%lu %s: TLS %s %s, peer certificate: %s",
             c->w->idx, (unsigned long)c->id, c->peer_text, SSL_get_version(c->tls.ssl),
             ciph ? SSL_CIPHER_get_name(ciph) : "?",
             c->tls.peer_leaf == NULL ? "none"
             : c->tls.peer_chain_ok   ? "chain valid"
                                      : c->tls.verify_err);
    if (c->kind == RT_CONN_S2S_IN && c->tls.peer_chain_ok && c->counted_unauth) {
        // A peer whose certificate chains to the trust store moves to a larger, still finite
        // budget of unauthenticated connections: servers such as Prosody open a connection per
        // domain pair, and a free certificate must not buy unlimited half-open connections.
        rt_router_t *rt = c->w->rt;
        if (pool_addrcount_acquire(rt->unauth_cert, &c->peer_sa,
                                   c->w->conf->max_unauth_per_ip * RT_UNAUTH_CERT_FACTOR)) {
            pool_addrcount_release(rt->unauth, &c->peer_sa);
            c->unauth_cert = true;
        }
    }
    if (c->kind == RT_CONN_S2S_OUT) {
        rt_sout_tls_ready(c);
    }
}

// feed_xml parses plaintext; a callback may stop the parser to switch layers (STARTTLS) or to
// restart the stream (SASL success). Returns the bytes that must go to TLS instead.
static size_t feed_xml(rt_conn_t *c, const uint8_t *data, size_t len) {
    while (len > 0 && !c->closing && !c->peer_ended) {
        bool tls_before = c->tls_on;
        size_t used = 0;
        rc_t rc = rt_xs_feed(c->xs, data, len, &used);
        if (rc != RC_OK) {
            rt_conn_stream_error(c, rt_xs_error_condition(rc), rc_str(rc));
            return 0;
        }
        data += used;
        len -= used;
        if (!tls_before && c->tls_on) {
            return len; // the rest belongs to the TLS layer
        }
        if (used == 0) {
            break;
        }
    }
    return 0;
}

void rt_conn_on_recv(rt_conn_t *c, const uint8_t *data, size_t len) {
    if (c->peer_ended) {
        return; // both streams are closed: only the TCP connection is left to go
    }
    if (!c->tls_on) {
        size_t rest = feed_xml(c, data, len);
        if (rest == 0 || c->closing) {
            return;
        }
        data += len - rest;
        len = rest;
    }
    bool was_done = c->tls.handshake_done;
    rc_t rc = rt_tls_conn_input(&c->tls, data, len, &c->pin, MAX_PIN, &c->wbuf);
    rt_conn_mark_dirty(c);
    if (rc == RC_TLS) {
        unsigned long e = ERR_peek_last_error();
        char buf[128];
        ERR_error_string_n(e, buf, sizeof(buf));
        CORE_LOG(CORE_LOG_INFO, CORE_LOG_SRC_TLS, "w%u c%lu %s: TLS failed: %s", c->w->idx,
                 (unsigned long)c->id, c->peer_text, buf);
        ERR_clear_error();
        rt_conn_close(c); // RFC 6120 §5.4.3.2: close TCP without a stream error
        return;
    }
    if (!was_done && c->tls.handshake_done) {
        on_tls_ready(c);
    }
    if (core_buf_len(&c->pin) > 0) {
        size_t n = core_buf_len(&c->pin);
        size_t rest = feed_xml(c, core_buf_head(&c->pin), n);
        (void)rest;
        core_buf_consume(&c->pin, core_buf_len(&c->pin));
        core_buf_shrink(&c->pin, 65536);
    }
    if (rc == RC_CLOSED && !c->closing) {
        rt_conn_close(c);
    }
}

void rt_conn_tick(rt_conn_t *c) {
    uint64_t now = c->w->now_ms;
    if (c->parked && !c->closing) {
        rt_sin_unpark(c);
    }
    if (c->deadline_ms != 0 && now >= c->deadline_ms) {
        c->deadline_ms = 0;
        if (c->close_after_flush) {
            size_t unsent = rt_conn_out_bytes(c);
            if (unsent > 0) {
                CORE_LOG(CORE_LOG_INFO, CORE_LOG_SRC_XML,
                         "w%u c%lu %s: the peer did not read our last %zu bytes within %d ms of "
                         "our </stream:stream>; closing without them",
                         c->w->idx, (unsigned long)c->id, c->peer_text, unsent, CLOSE_WAIT_MS);
            } else if (!c->peer_ended) {
                CORE_LOG(CORE_LOG_DEBUG, CORE_LOG_SRC_XML,
                         "w%u c%lu %s: the peer did not close its stream within %d ms of ours; "
                         "closing", c->w->idx, (unsigned long)c->id, c->peer_text, CLOSE_WAIT_MS);
            }
            rt_conn_close(c);
            return;
        }
        switch (c->kind) {
        case RT_CONN_S2S_IN:
            rt_sin_timeout(c);
            break;
        case RT_CONN_S2S_OUT:
            rt_sout_timeout(c);
            break;
        case RT_CONN_COMP:
            rt_comp_timeout(c);
            break;
        }
        return;
    }
    uint32_t idle = c->w->conf->idle_timeout_s;
    uint64_t last = c->last_rx_ms > c->last_tx_ms ? c->last_rx_ms : c->last_tx_ms;
    if (c->kind != RT_CONN_COMP && idle > 0 && now - last > (uint64_t)idle * 1000u &&
        !c->close_after_flush) {
        CORE_LOG(CORE_LOG_INFO, CORE_LOG_SRC_S2S, "w%u c%lu %s: closing idle stream", c->w->idx,
                 (unsigned long)c->id, c->peer_text);
        rt_conn_end_stream(c);
    }
}

// loop.c: the per-worker io_uring event loop: accept, recv, send, connect, the tick timer, the
// inbox doorbell and c-ares socket polls. Reap, then dispatch (STYLE.md §6.5).
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "router/internal.h"
#include "router/posh_fetch.h"

#define TICK_MS 100
#define CQE_BATCH 256

uint64_t rt_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

// mono_ns returns CLOCK_MONOTONIC in nanoseconds (for the worker's busy time).
static int64_t mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + (int64_t)ts.tv_nsec;
}

static struct io_uring_sqe *get_sqe(rt_worker_t *w) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&w->ring);
    while (sqe == NULL) {
        int r = io_uring_submit(&w->ring);
        if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY) {
            CORE_LOG(CORE_LOG_ERROR, CORE_LOG_SRC_NET, "w%u: io_uring_submit: %s", w->idx,
                     strerror(-r));
            abort();
        }
        sqe = io_uring_get_sqe(&w->ring);
    }
    return sqe;
}

static void arm_accept(rt_listener_t *l) {
    struct io_uring_sqe *sqe = get_sqe(l->w);
    io_uring_prep_multishot_accept(sqe, l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    io_uring_sqe_set_data(sqe, &l->op);
    l->armed = true;
}

static void arm_recv(rt_conn_t *c) {
    if (c->recv_armed || c->closing || c->fd < 0 || c->parked) {
        return;
    }
    if (rt_conn_out_bytes(c) > c->w->conf->max_queue_bytes) {
        // Backpressure: a peer that does not read what we send gets nothing more read from it.
        c->rx_paused = true;
        return;
    }
    struct io_uring_sqe *sqe = get_sqe(c->w);
    io_uring_prep_recv(sqe, c->fd, c->rxbuf, RT_RX_BUF, 0);
    io_uring_sqe_set_data(sqe, &c->op_recv);
    c->recv_armed = true;
    c->ops_in_flight++;
}

static void arm_send(rt_conn_t *c) {
    if (c->send_armed || c->fd < 0) {
        return;
    }
    if (core_buf_len(&c->sending) == 0) {
        if (core_buf_len(&c->wbuf) == 0) {
            return;
        }
        core_buf_t tmp = c->sending;
        c->sending = c->wbuf;
        c->wbuf = tmp;
    }
    struct io_uring_sqe *sqe = get_sqe(c->w);
    io_uring_prep_send(sqe, c->fd, core_buf_head(&c->sending), core_buf_len(&c->sending),
                       MSG_NOSIGNAL);
    io_uring_sqe_set_data(sqe, &c->op_send);
    c->send_armed = true;
    c->ops_in_flight++;
}

static void arm_timer(rt_worker_t *w) {
    struct io_uring_sqe *sqe = get_sqe(w);
    w->timer_ts.tv_sec = 0;
    w->timer_ts.tv_nsec = TICK_MS * 1000000L;
    io_uring_prep_timeout(sqe, &w->timer_ts, 0, 0);
    io_uring_sqe_set_data(sqe, &w->op_timer);
}

static void arm_inbox(rt_worker_t *w) {
    struct io_uring_sqe *sqe = get_sqe(w);
    io_uring_prep_read(sqe, w->efd, &w->efd_val, sizeof(w->efd_val), 0);
    io_uring_sqe_set_data(sqe, &w->op_inbox);
}

static void arm_dns_watch(rt_worker_t *w, rt_dns_watch_t *dw) {
    unsigned mask = (dw->want_r ? POLLIN : 0) | (dw->want_w ? POLLOUT : 0);
    struct io_uring_sqe *sqe = get_sqe(w);
    io_uring_prep_poll_add(sqe, dw->fd, mask);
    io_uring_sqe_set_data(sqe, &dw->op);
    dw->armed = true;
}

// fd_watch keeps a poll armed on |fd| for c-ares (|posh| false) or the POSH fetcher (true).
static void fd_watch(rt_worker_t *w, int fd, bool r, bool wr, bool posh) {
    rt_dns_watch_t *dw = w->dns_watches;
    while (dw != NULL && !(dw->fd == fd && dw->posh == posh && !dw->removing)) {
        dw = dw->next;
    }
    if (!r && !wr) {
        if (dw != NULL) {
            dw->removing = true;
            if (dw->armed) {
                // c-ares closes the fd after this; a pending poll holds the file, so remove it.
                struct io_uring_sqe *sqe = get_sqe(w);
                io_uring_prep_poll_remove(sqe, (uint64_t)(uintptr_t)&dw->op);
                io_uring_sqe_set_data(sqe, NULL);
                io_uring_submit(&w->ring);
            }
        }
        return;
    }
    if (dw == NULL) {
        dw = core_xcalloc(1, sizeof(*dw));
        dw->op.kind = RT_OP_DNS_POLL;
        dw->op.owner = dw;
        dw->fd = fd;
        dw->posh = posh;
        dw->next = w->dns_watches;
        w->dns_watches = dw;
    }
    bool changed = dw->want_r != r || dw->want_w != wr;
    dw->want_r = r;
    dw->want_w = wr;
    if (!dw->armed) {
        arm_dns_watch(w, dw);
    } else if (changed) {
        struct io_uring_sqe *sqe = get_sqe(w);
        io_uring_prep_poll_remove(sqe, (uint64_t)(uintptr_t)&dw->op);
        io_uring_sqe_set_data(sqe, NULL); // the poll completes with -ECANCELED and is re-armed
    }
}

void rt_worker_dns_watch(void *loop_ctx, int fd, bool r, bool wr) {
    fd_watch(loop_ctx, fd, r, wr, false);
}

void rt_worker_posh_watch(void *loop_ctx, int fd, bool r, bool wr) {
    fd_watch(loop_ctx, fd, r, wr, true);
}

static void dns_watch_done(rt_worker_t *w, rt_dns_watch_t *dw, int res) {
    dw->armed = false;
    if (dw->removing) {
        rt_dns_watch_t **pp = &w->dns_watches;
        while (*pp != dw) {
            pp = &(*pp)->next;
        }
        *pp = dw->next;
        free(dw);
        return;
    }
    if (res > 0) {
        int fd = dw->fd;
        bool r = (res & (POLLIN | POLLERR | POLLHUP)) != 0;
        bool wr = (res & (POLLOUT | POLLERR | POLLHUP)) != 0;
        if (dw->posh) {
            rt_posh_process(w->posh, fd, r, wr);
        } else {
            rt_dns_process(w->dns, fd, r, wr);
        }
        // dw may have been marked for removal by the callback; it is still linked. The callback
        // may also have changed the mask, which armed a new poll already.
    }
    if (dw->removing) {
        if (!dw->armed) {
            dns_watch_done(w, dw, 0);
        } // else the poll armed meanwhile was removed: its completion frees dw
        return;
    }
    if (!dw->armed) {
        arm_dns_watch(w, dw); // one poll per watch in flight, never two
    }
}

void rt_worker_post(rt_worker_t *from, uint32_t to, rt_msg_t *m) {
    rt_msg_append(&from->outbox_head[to], &from->outbox_tail[to], m);
}

void rt_worker_deliver(rt_worker_t *t, rt_msg_t *head, rt_msg_t *tail) {
    pthread_mutex_lock(&t->inbox_lock);
    bool was_empty = t->inbox_head == NULL;
    if (t->inbox_tail == NULL) {
        t->inbox_head = head;
    } else {
        t->inbox_tail->next = head;
    }
    t->inbox_tail = tail;
    pthread_mutex_unlock(&t->inbox_lock);
    if (was_empty) {
        uint64_t one = 1;
        ssize_t r = write(t->efd, &one, sizeof(one));
        (void)r;
    }
}

static void flush_outboxes(rt_worker_t *w) {
    rt_router_t *rt = w->rt;
    for (uint32_t i = 0; i < rt->num_workers; i++) {
        rt_msg_t *head = w->outbox_head[i];
        if (head == NULL) {
            continue;
        }
        rt_worker_deliver(&rt->workers[i], head, w->outbox_tail[i]);
        w->outbox_head[i] = w->outbox_tail[i] = NULL;
    }
}

static void drain_inbox(rt_worker_t *w) {
    pthread_mutex_lock(&w->inbox_lock);
    rt_msg_t *m = w->inbox_head;
    w->inbox_head = w->inbox_tail = NULL;
    pthread_mutex_unlock(&w->inbox_lock);
    while (m != NULL) {
        rt_msg_t *next = m->next;
        m->next = NULL;
        rt_route_msg(w, m);
        m = next;
    }
}

static void on_accept(rt_listener_t *l, int res, uint32_t flags) {
    rt_worker_t *w = l->w;
    if (!(flags & IORING_CQE_F_MORE)) {
        l->armed = false;
        if (!w->draining) {
            arm_accept(l);
        }
    }
    if (res < 0) {
        if (res != -ECANCELED && !w->draining) {
            CORE_LOG(CORE_LOG_WARN, CORE_LOG_SRC_NET, "w%u: accept: %s", w->idx, strerror(-res));
        }
        return;
    }
    if (w->draining) {
        close(res);
        return;
    }
    rt_conn_t *c = rt_conn_new(w, l->kind, res);
    socklen_t sl = sizeof(c->peer_sa);
    if (getpeername(res, (struct sockaddr *)&c->peer_sa, &sl) == 0) {
        if (c->peer_sa.ss_family == AF_INET6 &&
            IN6_IS_ADDR_V4MAPPED(&((struct sockaddr_in6 *)&c->peer_sa)->sin6_addr)) {
            // An IPv4 peer on a dual-stack listener: keep it as IPv4, so that every per-address
            // key (verdicts, unauthenticated budgets, fedctl flush-peer) sees one form.
            struct sockaddr_in6 s6 = *(struct sockaddr_in6 *)&c->peer_sa;
            struct sockaddr_in *s4 = (struct sockaddr_in *)&c->peer_sa;
            core_memset(&c->peer_sa, 0, sizeof(c->peer_sa));
            s4->sin_family = AF_INET;
            s4->sin_port = s6.sin6_port;
            core_memcpy(&s4->sin_addr, &s6.sin6_addr.s6_addr[12], 4);
        }
        char ip[INET6_ADDRSTRLEN] = "?";
        uint16_t port = 0;
        if (c->peer_sa.ss_family == AF_INET) {
            struct sockaddr_in *s4 = (struct sockaddr_in *)&c->peer_sa;
            inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
            port = ntohs(s4->sin_port);
        } else if (c->peer_sa.ss_family == AF_INET6) {
            struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&c->peer_sa;
            inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
            port = ntohs(s6->sin6_port);
        }
        snprintf(c->peer_text, sizeof(c->peer_text), "%s:%u", ip, port);
    }
    c->direct_tls = l->direct_tls;
    if (l->kind == RT_CONN_S2S_IN) {
        rt_stats_tcp_connect(&w->stats, true, (const struct sockaddr *)&c->peer_sa);
        rt_sin_accepted(c);
    } else {
        rt_comp_accepted(c);
    }
    arm_recv(c);
    rt_conn_mark_dirty(c);
}

void rt_conn_arm_recv(rt_conn_t *c) {
    arm_recv(c);
}

static void on_recv(rt_conn_t *c, int res) {
    c->recv_armed = false;
    c->ops_in_flight--;
    if (c->closing) {
        return;
    }
    if (res <= 0) {
        if (res < 0 && res != -ECONNRESET) {
            CORE_LOG(CORE_LOG_DEBUG, CORE_LOG_SRC_NET, "w%u c%lu %s: recv: %s", c->w->idx,
                     (unsigned long)c->id, c->peer_text, strerror(-res));
        }
        rt_conn_close(c);
        return;
    }
    c->last_rx_ms = c->w->now_ms;
    rt_conn_on_recv(c, c->rxbuf, (size_t)res);
    arm_recv(c);
}

static void on_send(rt_conn_t *c, int res) {
    c->send_armed = false;
    c->ops_in_flight--;
    if (res < 0) {
        if (!c->closing) {
            CORE_LOG(CORE_LOG_DEBUG, CORE_LOG_SRC_NET, "w%u c%lu %s: send: %s", c->w->idx,
                     (unsigned long)c->id, c->peer_text, strerror(-res));
            rt_conn_close(c);
        }
        core_buf_consume(&c->sending, core_buf_len(&c->sending));
        core_buf_consume(&c->wbuf, core_buf_len(&c->wbuf));
        return;
    }
    core_buf_consume(&c->sending, (size_t)res);
    core_buf_shrink(&c->sending, 65536);
    if (res > 0) {
        c->last_tx_ms = c->w->now_ms;
        c->out_sent += (uint64_t)res;
        if (c->unsent_head != NULL) {
            rt_sout_unsent_release(c);
        }
    }
    if (c->closing) {
        return;
    }
    arm_send(c);
    bool below = rt_conn_out_bytes(c) <= c->w->conf->max_queue_bytes / 2;
    if (c->rx_paused && below) {
        c->rx_paused = false;
        arm_recv(c);
    }
    if (c->drain_wanted && below && !rt_conn_congested(c)) {
        c->drain_wanted = false;
        rt_pool_stream_drained(c); // stanzas held back for this stream may go now
    }
    rt_conn_finish(c); // once both streams are closed and everything is written (CORE-50)
}

static void on_connect(rt_conn_t *c, int res) {
    c->ops_in_flight--;
    if (c->closing) {
        return;
    }
    rt_sout_connected(c, res);
    if (!c->closing && res == 0) {
        arm_recv(c);
    }
}

void rt_conn_start_connect(rt_conn_t *c) {
    const rt_dns_addr_t *a = &c->peer->addr;
    struct io_uring_sqe *sqe = get_sqe(c->w);
    io_uring_prep_connect(sqe, c->fd, (const struct sockaddr *)&a->sa, a->sa_len);
    io_uring_sqe_set_data(sqe, &c->op_connect);
    c->ops_in_flight++;
}

// worker_drained: nothing waits in this worker that could still go out: no stanza queued in a
// pair that is on a stream or getting one (a pair waiting for a peer in back-off, with no stream
// coming, cannot drain: it bounces in the close phase), no output unsent or unacknowledged
// (XEP-0198), nothing in the inbox.
static bool worker_drained(rt_worker_t *w) {
    for (size_t b = 0; w->q_bytes > 0 && b < RT_OUT_BUCKETS; b++) {
        for (rt_opair_t *p = w->pair_table[b]; p != NULL; p = p->hash_next) {
            if (p->q_head != NULL &&
                !(p->state == RT_OPAIR_WAITING && (p->peer == NULL || p->peer->streams == NULL))) {
                return false;
            }
        }
    }
    pthread_mutex_lock(&w->inbox_lock);
    bool inbox_empty = w->inbox_head == NULL;
    pthread_mutex_unlock(&w->inbox_lock);
    if (!inbox_empty) {
        return false;
    }
    for (rt_conn_t *c = w->conns; c != NULL; c = c->next) {
        if (!c->closing && (rt_conn_out_bytes(c) > 0 || c->sm_count > 0)) {
            return false;
        }
    }
    return true;
}

#define CLOSE_STEP_MS 200    // between the close steps: bounces cross workers meanwhile
#define CLOSE_FLUSH_MS 2500  // the last step waits this long for closing streams to flush

// shutdown_step runs graceful shutdown's close phase (main sets rt->stop_close when the queues
// drained or s2s.shutdown_timeout passed), one step per tick, CLOSE_STEP_MS apart:
//   1. bounce every queued stanza (remote-server-timeout);
//   2. bounce again what came meanwhile, end every s2s stream: </stream:stream>, or
//      <system-shutdown/> when stanzas are still in flight on it (written, unacknowledged: they
//      bounce as the stream goes); stanzas for remote domains bounce from now on;
//   3. bounce again, end every component stream with <system-shutdown/> (bounces for it were
//      written before); the loop ends when every stream closed or CLOSE_FLUSH_MS later.
static void shutdown_step(rt_worker_t *w) {
    if (w->close_step > 0 && w->now_ms < w->stop_deadline_ms) {
        return;
    }
    switch (w->close_step) {
    case 0:
        w->stopping = true; // the pool opens nothing new and bounces what it is given
        rt_pool_fail_all(w);
        break;
    case 1:
        rt_pool_fail_all(w);
        for (rt_conn_t *c = w->conns; c != NULL; c = c->next) {
            if (c->kind == RT_CONN_COMP || c->closing) {
                continue;
            }
            if (c->kind == RT_CONN_S2S_OUT && !c->header_sent) {
                rt_conn_close(c); // not connected yet: nothing to say to the peer
                continue;
            }
            bool in_flight = c->sm_count > 0 || rt_conn_out_bytes(c) > 0;
            if (c->kind == RT_CONN_S2S_OUT) {
                rt_sout_sm_bounce(c); // now, while the components can still hear of it
            }
            if (c->close_after_flush) {
                continue; // ending already
            }
            if (in_flight) {
                rt_conn_stream_error(c, "system-shutdown", NULL);
            } else {
                rt_conn_end_stream(c);
            }
        }
        break;
    case 2:
        rt_pool_fail_all(w);
        for (rt_conn_t *c = w->conns; c != NULL; c = c->next) {
            if (c->kind == RT_CONN_COMP && !c->closing && !c->close_after_flush) {
                rt_conn_stream_error(c, "system-shutdown", NULL);
            }
        }
        break;
    default:
        return;
    }
    w->close_step++;
    w->stop_deadline_ms = w->now_ms + (w->close_step == 3 ? CLOSE_FLUSH_MS : CLOSE_STEP_MS);
}

// sample_gauges stores this worker's queue and buffer gauges (and, on worker 0, the shared
// verdict table's) into its stats block. Runs with the pool tick: it walks the connections and
// the queued stanzas, never on the data path.
static void sample_gauges(rt_worker_t *w) {
    int64_t stanzas = 0;
    for (size_t b = 0; w->q_bytes > 0 && b < RT_OUT_BUCKETS; b++) {
        for (rt_opair_t *p = w->pair_table[b]; p != NULL; p = p->hash_next) {
            for (const rt_msg_t *m = p->q_head; m != NULL; m = m->next) {
                stanzas++;
            }
        }
    }
    int64_t out = 0;
    for (const rt_conn_t *c = w->conns; c != NULL; c = c->next) {
        out += (int64_t)rt_conn_out_bytes(c);
    }
    rt_stat_set(&w->stats, RT_STAT_QUEUED_STANZAS, stanzas);
    rt_stat_set(&w->stats, RT_STAT_QUEUED_BYTES, (int64_t)w->q_bytes);
    rt_stat_set(&w->stats, RT_STAT_OUTPUT_BUFFERED_BYTES, out);
    if (w->idx == 0) {
        pool_verdict_stats_t vs;
        pool_verdicts_stats(w->rt->verdicts, &vs);
        rt_stat_set(&w->stats, RT_STAT_VERDICT_ENTRIES, (int64_t)vs.entries);
        rt_stat_set(&w->stats, RT_STAT_VERDICT_EVICTIONS, (int64_t)vs.evictions);
    }
}

static void on_tick(rt_worker_t *w) {
    w->now_ms = rt_now_ms();
    atomic_fetch_add_explicit(&w->heartbeat, 1, memory_order_relaxed); // systemd watchdog
    rt_dns_tick(w->dns);
    if (w->posh != NULL) {
        rt_posh_tick(w->posh, w->now_ms);
    }
    if (w->now_ms >= w->next_pool_tick_ms) {
        w->next_pool_tick_ms = w->now_ms + 500;
        rt_pool_tick(w);
        sample_gauges(w);
    }
    rt_conn_t *c = w->conns;
    while (c != NULL) {
        rt_conn_t *next = c->next;
        if (!c->closing) {
            rt_conn_tick(c);
        }
        c = next;
    }
    if (atomic_load(&w->rt->stop) && !w->draining) {
        // Graceful shutdown, phase 1: no new connections; what is queued keeps flowing (the
        // pool still opens streams: w->stopping, which stops it, is set by the close phase).
        w->draining = true;
        CORE_LOG(CORE_LOG_INFO, CORE_LOG_SRC_MAIN, "w%u: stopping: listeners closed, draining",
                 w->idx);
        for (size_t i = 0; i < w->num_listeners; i++) {
            shutdown(w->listeners[i].fd, SHUT_RDWR);
            struct io_uring_sqe *sqe = get_sqe(w);
            io_uring_prep_cancel(sqe, &w->listeners[i].op, 0);
            io_uring_sqe_set_data(sqe, NULL);
        }
    }
    if (w->draining && w->close_step == 0) {
        atomic_store_explicit(&w->drained, worker_drained(w), memory_order_release);
    }
    if (w->draining && atomic_load(&w->rt->stop_close)) {
        shutdown_step(w);
    }
}

// Connections whose close finished and whose ops all completed are freed here, outside any
// handler.
static void reap_closed(rt_worker_t *w) {
    rt_conn_t *c = w->conns;
    while (c != NULL) {
        rt_conn_t *next = c->next;
        if (c->closing && c->ops_in_flight == 0) {
            if (c->prev) {
                c->prev->next = c->next;
            } else {
                w->conns = c->next;
            }
            if (c->next) {
                c->next->prev = c->prev;
            }
            rt_conn_free(c);
        }
        c = next;
    }
}

static void flush_dirty(rt_worker_t *w) {
    while (w->dirty != NULL) {
        rt_conn_t *c = w->dirty;
        w->dirty = c->dirty_next;
        c->dirty_next = NULL;
        c->in_dirty_list = false;
        if (c->fd < 0) {
            continue;
        }
        rt_conn_flush(c);
        arm_send(c);
        rt_conn_finish(c);
    }
}

typedef struct reaped {
    void *ud;
    int res;
    uint32_t flags;
} reaped_t;

int rt_worker_run(rt_worker_t *w) {
    w->now_ms = rt_now_ms();
    for (size_t i = 0; i < w->num_listeners; i++) {
        arm_accept(&w->listeners[i]);
    }
    arm_timer(w);
    arm_inbox(w);
    reaped_t batch[CQE_BATCH];
    // Busy time: everything between two waits for completions (CLOCK_MONOTONIC, ns).
    int64_t busy_ns = 0;
    int64_t woke_ns = mono_ns();
    for (;;) {
        if (atomic_load_explicit(&w->rt->reload_epoch, memory_order_acquire) != w->reload_seen) {
            rt_reload_worker_pause(w); // between two iterations: a reload swaps w->conf
        }
        flush_outboxes(w);
        flush_dirty(w);
        reap_closed(w);
        if (w->close_step == 3 && (w->conns == NULL || w->now_ms > w->stop_deadline_ms)) {
            break;
        }
        int64_t wait_ns = mono_ns();
        busy_ns += wait_ns - woke_ns;
        rt_stats_set_busy(&w->stats, busy_ns);
        int r = io_uring_submit_and_wait(&w->ring, 1);
        woke_ns = mono_ns();
        if (r < 0 && r != -EINTR && r != -ETIME && r != -EAGAIN && r != -EBUSY) {
            CORE_LOG(CORE_LOG_ERROR, CORE_LOG_SRC_NET, "w%u: io_uring_submit_and_wait: %s",
                     w->idx, strerror(-r));
            return -1;
        }
        // Reap.
        size_t n = 0;
        struct io_uring_cqe *cqe;
        unsigned head;
        io_uring_for_each_cqe(&w->ring, head, cqe) {
            if (n == CQE_BATCH) {
                break;
            }
            batch[n].ud = io_uring_cqe_get_data(cqe);
            batch[n].res = cqe->res;
            batch[n].flags = cqe->flags;
            n++;
        }
        io_uring_cq_advance(&w->ring, (unsigned)n);
        w->now_ms = rt_now_ms();
        // Dispatch.
        for (size_t i = 0; i < n; i++) {
            rt_op_t *op = batch[i].ud;
            if (op == NULL) {
                continue;
            }
            switch (op->kind) {
            case RT_OP_ACCEPT:
                on_accept(op->owner, batch[i].res, batch[i].flags);
                break;
            case RT_OP_RECV:
                on_recv(op->owner, batch[i].res);
                break;
            case RT_OP_SEND:
                on_send(op->owner, batch[i].res);
                break;
            case RT_OP_CONNECT:
                on_connect(op->owner, batch[i].res);
                break;
            case RT_OP_TIMER:
                on_tick(w);
                arm_timer(w);
                break;
            case RT_OP_INBOX:
                drain_inbox(w);
                arm_inbox(w);
                break;
            case RT_OP_DNS_POLL:
                dns_watch_done(w, op->owner, batch[i].res);
                break;
            }
        }
    }
    // Final: close what is left.
    for (rt_conn_t *c = w->conns; c != NULL; c = c->next) {
        if (!c->closing) {
            rt_conn_close(c);
        }
    }
    return 0;
}

// main.c: fedrouter's entry point: configuration, TLS, workers, metrics, signals.
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "router/admin.h"
#include "router/internal.h"
#include "router/proof.h"
#include "router/metrics.h"
#include "router/notify.h"

static void usage(FILE *f) {
    fprintf(f, "usage: fedrouter -c FILE [-t]\n"
               "  -c, --config FILE   configuration file (every option is documented in\n"
               "                      tools/fedrouter.conf.sample)\n"
               "  -t, --check         check the configuration and certificates, then exit\n"
               "  -V, --version       print the version\n"
               "  -h, --help          this help\n"
               "Logs go to standard error. SIGHUP (or fedctl reload): re-read the configuration\n"
               "and certificates; a bad one is refused and the running one kept. SIGINT/SIGTERM:\n"
               "stop accepting, drain the queues for up to s2s.shutdown_timeout seconds, bounce\n"
               "what is left, close every stream, exit 0. Under systemd (Type=notify,\n"
               "NOTIFY_SOCKET) it sends READY=1, RELOADING=1, STATUS=, STOPPING=1 and, with\n"
               "WATCHDOG_USEC, WATCHDOG=1 while every worker runs (tools/OPERATIONS.md).\n");
}

static int open_listener(const rt_conf_addr_t *a, char *err, size_t err_len) {
    int fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0) {
        snprintf(err, err_len, "socket: %s", strerror(errno));
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    if (bind(fd, (const struct sockaddr *)&a->sa, a->sa_len) != 0 || listen(fd, 1024) != 0) {
        snprintf(err, err_len, "cannot listen on %s: %s", a->text, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

// probe_listener: is |a| free? Every worker binds its own SO_REUSEPORT socket, which would also
// share the port with another running fedrouter without a word; a plain bind first (SO_REUSEADDR
// only: TIME_WAIT from a previous run does not count) refuses to start instead.
static bool probe_listener(const rt_conf_addr_t *a, char *err, size_t err_len) {
    int fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0) {
        snprintf(err, err_len, "socket: %s", strerror(errno));
        return false;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    bool ok = bind(fd, (const struct sockaddr *)&a->sa, a->sa_len) == 0;
    if (!ok) {
        snprintf(err, err_len, "cannot listen on %s: %s%s", a->text, strerror(errno),
                 errno == EADDRINUSE ? " (is another fedrouter running?)" : "");
    }
    close(fd);
    return ok;
}

// ---- configuration reload ---------------------------------------------------------------------
// rt_reload_run builds the new snapshot and TLS contexts first (any failure leaves everything as
// it was), then asks every worker to pause at the top of its loop (rt->reload_epoch, the inbox
// doorbell). With every worker paused nothing reads the configuration, the shared component table
// or a worker's per-domain index, so the reloading thread remaps them by domain name and swaps
// w->conf, then releases the workers. The old snapshot is freed after the release: no worker can
// still see it. The first snapshot stays until exit: the restart-only keys are compared with it
// and the resolvers borrow its static routes.
#define RELOAD_PAUSE_MS 5000 // a worker that does not pause within this fails the reload

typedef struct rt_reload {
    pthread_mutex_t run_lock; // one reload at a time (SIGHUP and fedctl)
    pthread_mutex_t lock;     // the pause rendezvous
    pthread_cond_t cond;
    bool active;
    uint64_t epoch;   // of the active pause
    uint32_t arrived; // workers paused for it
    const char *path;
    rt_conf_t *boot;
    rt_notify_t *notify;
} rt_reload_t;

void rt_reload_worker_pause(rt_worker_t *w) {
    rt_reload_t *r = w->rt->reload;
    uint64_t e = atomic_load_explicit(&w->rt->reload_epoch, memory_order_acquire);
    w->reload_seen = e;
    pthread_mutex_lock(&r->lock);
    if (r->active && r->epoch == e) {
        r->arrived++;
        pthread_cond_broadcast(&r->cond);
        while (r->active && r->epoch == e) {
            pthread_cond_wait(&r->cond, &r->lock);
        }
    }
    pthread_mutex_unlock(&r->lock);
    rt_comp_close_removed(w);
    rt_proof_worker_reloaded(w);
}

static bool addrs_equal(const rt_conf_addr_t *a, size_t na, const rt_conf_addr_t *b, size_t nb) {
    if (na != nb) {
        return false;
    }
    for (size_t i = 0; i < na; i++) {
        if (a[i].sa_len != b[i].sa_len || memcmp(&a[i].sa, &b[i].sa, a[i].sa_len) != 0) {
            return false;
        }
    }
    return true;
}

static bool str_equal(const char *a, const char *b) {
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static bool routes_equal(const rt_conf_t *a, const rt_conf_t *b) {
    if (a->num_routes != b->num_routes) {
        return false;
    }
    for (size_t i = 0; i < a->num_routes; i++) {
        const rt_dns_route_t *x = &a->routes[i], *y = &b->routes[i];
        if (!str_equal(x->domain, y->domain) || !str_equal(x->host, y->host) ||
            x->port != y->port || x->direct_tls != y->direct_tls) {
            return false;
        }
    }
    return true;
}

// warn_restart_keys logs one warning per key that differs from the running process's and cannot
// change without a restart; the running values stay.
static void warn_restart_keys(const rt_conf_t *run, const rt_conf_t *next) {
    struct {
        const char *key;
        bool same;
    } keys[] = {
        {"workers", run->workers == next->workers},
        {"s2s.listen", addrs_equal(run->s2s_listen, run->num_s2s_listen, next->s2s_listen,
                                   next->num_s2s_listen)},
        {"s2s.listen_tls", addrs_equal(run->s2s_listen_tls, run->num_s2s_listen_tls,
                                       next->s2s_listen_tls, next->num_s2s_listen_tls)},
        {"components.listen", addrs_equal(run->comp_listen, run->num_comp_listen,
                                          next->comp_listen, next->num_comp_listen)},
        {"metrics.listen", run->metrics_enabled == next->metrics_enabled &&
                               (!run->metrics_enabled ||
                                addrs_equal(&run->metrics_listen, 1, &next->metrics_listen, 1))},
        {"admin.socket", str_equal(run->admin_socket, next->admin_socket)},
        {"s2s.resolver", str_equal(run->resolver, next->resolver)},
        {"routes", routes_equal(run, next)},
    };
    for (size_t i = 0; i < RT_ARRAY_LEN(keys); i++) {
        if (!keys[i].same) {
            CORE_LOG(CORE_LOG_WARN, CORE_LOG_SRC_CONF,
                     "reload: %s changed; it cannot change at run time, restart fedrouter to apply "
                     "it (keeping the running value)",
                     keys[i].key);
        }
    }
}

static void set_reload_gauge(rt_router_t *rt) {
    atomic_store_explicit(&rt->workers[0].stats.v[RT_STAT_CONFIG_RELOAD_SUCCESS_TS],
                          (int64_t)time(NULL), memory_order_relaxed);
}

static void count_reload(rt_router_t *rt, bool ok) {
    rt_stat_inc(&rt->workers[0].stats, ok ? RT_STAT_CONFIG_RELOADS_OK : RT_STAT_CONFIG_RELOADS_FAILED);
    if (ok) {
        set_reload_gauge(rt);
    }
}

// pause_workers starts a pause and waits until every worker is in it. Returns with r->lock held
// and true, or false (pause cancelled, lock released) after RELOAD_PAUSE_MS.
static bool pause_workers(rt_router_t *rt, rt_reload_t *r) {
    pthread_mutex_lock(&r->lock);
    r->epoch = atomic_load(&rt->reload_epoch) + 1;
    r->active = true;
    r->arrived = 0;
    atomic_store_explicit(&rt->reload_epoch, r->epoch, memory_order_release);
    pthread_mutex_unlock(&r->lock);
    for (uint32_t i = 0; i < rt->num_workers; i++) {
        uint64_t one = 1;
        ssize_t wr = write(rt->workers[i].efd, &one, sizeof(one)); // the inbox doorbell
        (void)wr;
    }
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += RELOAD_PAUSE_MS / 1000;
    pthread_mutex_lock(&r->lock);
    while (r->arrived < rt->num_workers) {
        if (pthread_cond_timedwait(&r->cond, &r->lock, &deadline) == ETIMEDOUT) {
            break;
        }
    }
    if (r->arrived < rt->num_workers) {
        r->active = false;
        pthread_cond_broadcast(&r->cond);
        pthread_mutex_unlock(&r->lock);
        return false;
    }
    return true;
}

static void resume_workers(rt_reload_t *r) {
    r->active = false;
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->lock);
}

rc_t rt_reload_run(rt_router_t *rt, char *err, size_t err_len) {
    rt_reload_t *r = rt->reload;
    rt_conf_t *next = NULL;
    rt_tls_t *tls = NULL;
    rc_t rc = RC_CONF;
    pthread_mutex_lock(&r->run_lock);
    char mono[96];
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    snprintf(mono, sizeof(mono), "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading %s",
             (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000u,
             "the configuration");
    rt_notify_send(r->notify, mono);
    CORE_LOG(CORE_LOG_INFO, CORE_LOG_SRC_CONF, "reloading the configuration from %s", r->path);
    if (atomic_load(&rt->stop)) {
        snprintf(err, err_len, "shutting down");
        goto out;
    }
    if (rt_conf_load(r->path, &next, err, err_len) != RC_OK) {
        goto out;
    }
    tls = rt_tls_new(next, err, err_len);
    if (tls == NULL) {
        goto out;
    }
    warn_restart_keys(r->boot, next);
    const rt_conf_t *old = rt->conf;
    size_t added = 0, removed = 0;
    for (size_t i = 0; i < next->num_domains; i++) {
        added += rt_conf_domain(old, next->domains[i].name) == NULL;
    }
    for (size_t i = 0; i < old->num_domains; i++) {
        removed += rt_conf_domain(next, old->domains[i].name) == NULL;
    }
    _Atomic int32_t *cw = core_xcalloc(next->num_domains ? next->num_domains : 1, sizeof(*cw));
    if (!pause_workers(rt, r)) {
        free(cw);
        snprintf(err, err_len, "the workers did not pause within %d ms", RELOAD_PAUSE_MS);
        rc = RC_EINVAL;
        goto out;
    }
    // Every worker is paused: remap what is indexed by position in conf->domains.
    for (size_t i = 0; i < next->num_domains; i++) {
        const rt_conf_domain_t *d = rt_conf_domain(old, next->domains[i].name);
        atomic_init(&cw[i], d != NULL ? atomic_load(&rt->comp_worker[d - old->domains]) : -1);
    }
    for (uint32_t i = 0; i < rt->num_workers; i++) {
        rt_comp_remap(&rt->workers[i], next);
        rt->workers[i].conf = next;
    }
    _Atomic int32_t *old_cw = rt->comp_worker;
    rt->comp_worker = cw;
    rt->conf = next;
    core_log_set_level((core_log_level_t)next->log_level);
    // Verdicts were decided under the old trust store and prooftype policies: drop them while
    // no worker runs (a check still in flight starts again under the new policy, proof.c).
    size_t flushed = pool_verdicts_flush_all(rt->verdicts);
    resume_workers(r);
    free(old_cw);
    rt_tls_adopt(rt->tls, tls); // new sessions use the new certificates
    tls = NULL;
    if (old != r->boot) {
        rt_conf_free((rt_conf_t *)old);
    }
    next = NULL;
    CORE_LOG(CORE_LOG_INFO, CORE_LOG_SRC_CONF,
             "configuration reloaded: %zu hosted domains (%zu added, %zu removed), %zu certificates, "
             "%zu cached verdicts dropped",
             rt->conf->num_domains, added, removed, rt->conf->num_certs, flushed);
    rc = RC_OK;
out:
    if (rc != RC_OK) {
        CORE_LOG(CORE_LOG_ERROR, CORE_LOG_SRC_CONF,
                 "configuration reload failed, keeping the running configuration: %s", err);
    }
    count_reload(rt, rc == RC_OK);
    rt_tls_free(tls);
    rt_conf_free(next);
    rt_notify_send(r->notify, rc == RC_OK ? "READY=1\nSTATUS=running (configuration reloaded)"
                                          : "READY=1\nSTATUS=running (configuration reload failed)");
    pthread_mutex_unlock(&r->run_lock);
    return rc;
}

// ---- workers ----------------------------------------------------------------------------------
static void *worker_main(void *arg) {
    rt_worker_t *w = arg;
    char name[16]; // "fr-worker<idx>" in top -H, gdb and the systemd watchdog test
    snprintf(name, sizeof(name), "fr-worker%u", w->idx);
    pthread_setname_np(pthread_self(), name);
    rt_worker_run(w);
    return NULL;
}

static rc_t worker_init(rt_router_t *rt, rt_worker_t *w, uint32_t idx, char *err,
                        size_t err_len) {
    const rt_conf_t *conf = rt->conf;
    w->rt = rt;
    w->conf = conf;
    w->idx = idx;
    w->op_timer.kind = RT_OP_TIMER;
    w->op_timer.owner = w;
    w->op_inbox.kind = RT_OP_INBOX;
    w->op_inbox.owner = w;
    w->efd = -1;
    pthread_mutex_init(&w->inbox_lock, NULL);
    int r = io_uring_queue_init(4096, &w->ring, 0);
    if (r < 0) {
        snprintf(err, err_len, "io_uring_queue_init: %s", strerror(-r));
        return RC_EINVAL;
    }
    w->efd = eventfd(0, EFD_CLOEXEC);
    if (w->efd < 0) {
        snprintf(err, err_len, "eventfd: %s", strerror(errno));
        return RC_EINVAL;
    }
    w->outbox_head = core_xcalloc(rt->num_workers, sizeof(rt_msg_t *));
    w->outbox_tail = core_xcalloc(rt->num_workers, sizeof(rt_msg_t *));
    w->comp_by_domain = core_xcalloc(conf->num_domains ? conf->num_domains : 1, sizeof(rt_conn_t *));
    size_t n = conf->num_s2s_listen + conf->num_s2s_listen_tls + conf->num_comp_listen;
    w->listeners = core_xcalloc(n ? n : 1, sizeof(rt_listener_t));
    struct {
        const rt_conf_addr_t *addrs;
        size_t num;
        rt_conn_kind_t kind;
        bool tls;
    } groups[] = {
        {conf->s2s_listen, conf->num_s2s_listen, RT_CONN_S2S_IN, false},
        {conf->s2s_listen_tls, conf->num_s2s_listen_tls, RT_CONN_S2S_IN, true},
        {conf->comp_listen, conf->num_comp_listen, RT_CONN_COMP, false},
    };
    for (size_t g = 0; g < RT_ARRAY_LEN(groups); g++) {
        for (size_t i = 0; i < groups[g].num; i++) {
            rt_listener_t *l = &w->listeners[w->num_listeners];
            l->fd = open_listener(&groups[g].addrs[i], err, err_len);
            if (l->fd < 0) {
                return RC_EINVAL;
            }
            l->w = w;
            l->op.kind = RT_OP_ACCEPT;
            l->op.owner = l;
            l->kind = groups[g].kind;
            l->direct_tls = groups[g].tls;
            w->num_listeners++;
        }
    }
    rt_dns_conf_t dc = {
        .servers = conf->resolver,
        .routes = conf->routes,
        .num_routes = conf->num_routes,
        .timeout_ms = 2000,
        .tries = 2,
        .cache_max = 4096,
    };
    w->dns = rt_dns_new(&dc, rt_worker_dns_watch, w);
    if (w->dns == NULL) {
        snprintf(err, err_len, "cannot start the DNS resolver");
        return RC_EINVAL;
    }
    return RC_OK;
}

static void ring_all(rt_router_t *rt) {
    for (uint32_t i = 0; i < rt->num_workers; i++) {
        uint64_t one = 1;
        ssize_t wr = write(rt->workers[i].efd, &one, sizeof(one));
        (void)wr;
    }
}

// graceful_stop: phase 1, the workers close their listeners and keep routing; this thread waits
// until every worker reports nothing queued or unsent (twice in a row, a tick apart) or
// s2s.shutdown_timeout passed (a second SIGTERM/SIGINT cuts it short); phase 2, rt->stop_close:
// the workers bounce what is left and close every stream (loop.c shutdown_step).
static void graceful_stop(rt_router_t *rt, rt_notify_t *notify, const sigset_t *sigs, int sig) {
    pthread_mutex_lock(&rt->reload->run_lock); // fedctl reload may be swapping rt->conf
    uint32_t timeout_s = rt->conf->shutdown_timeout_s;
    pthread_mutex_unlock(&rt->reload->run_lock);
    CORE_LOG(CORE_LOG_INFO, CORE_LOG_SRC_MAIN,
             "signal %d: stopping: no new connections, draining the queues for up to %us", sig,
             timeout_s);
    char msg[128];
    snprintf(msg, sizeof(msg), "STOPPING=1\nSTATUS=stopping: draining the queues (up to %us)",
             timeout_s);
    rt_notify_send(notify, msg);
    atomic_store(&rt->stop, true);
    ring_all(rt);
    uint64_t start = rt_now_ms();
    uint64_t deadline = start + (uint64_t)timeout_s * 1000u;
    uint32_t quiet = 0;
    const char *why = "the queues drained";
    uint64_t wd_ms = rt_notify_watchdog_ms(notify), last_ping = start;
    for (;;) {
        uint64_t now = rt_now_ms();
        if (wd_ms > 0 && now - last_ping >= wd_ms / 2) {
            rt_notify_send(notify, "WATCHDOG=1"); // systemd keeps watching while we drain
            last_ping = now;
        }
        if (now >= deadline) {
            why = "s2s.shutdown_timeout passed";
            break;
        }
        struct timespec ts = {.tv_sec = 0, .tv_nsec = 100 * 1000000L}; // a worker tick
        int again = sigtimedwait(sigs, NULL, &ts);
        if (again == SIGTERM || again == SIGINT) {
            why = "second signal";
            break;
        }
        bool all = true;
        for (uint32_t i = 0; i < rt->num_workers; i++) {
            all = all && atomic_load_explicit(&rt->workers[i].drained, memory_order_acquire);
        }
        quiet = all ? quiet + 1 : 0;
        if (quiet >= 3) {
            break;
        }
    }
    CORE_LOG(CORE_LOG_INFO, CORE_LOG_SRC_MAIN,
             "stopping: %s after %lu ms; bouncing what is left, closing every stream", why,
             (unsigned long)(rt_now_ms() - start));
    rt_notify_send(notify, "STATUS=stopping: bouncing what is left, closing every stream");
    atomic_store(&rt->stop_close, true);
    ring_all(rt);
}

static void worker_cleanup(rt_worker_t *w) {
    rt_proof_worker_cleanup(w); // before the resolver: the POSH fetcher resolves through it
    rt_dns_free(w->dns);
    rt_pool_cleanup(w);
    // The ring goes first: nothing the kernel still holds may be freed before it.
    if (w->ring.ring_fd > 0) {
        io_uring_queue_exit(&w->ring);
    }
    while (w->conns != NULL) {
        rt_conn_t *c = w->conns;
        w->conns = c->next;
        rt_conn_free(c);
    }
    while (w->dns_watches != NULL) {
        rt_dns_watch_t *d = w->dns_watches;
        w->dns_watches = d->next;
        free(d);
    }
    for (size_t i = 0; i < w->num_listeners; i++) {
        close(w->listeners[i].fd);
    }
    for (uint32_t i = 0; w->outbox_head != NULL && i < w->rt->num_workers; i++) {
        rt_msg_list_free(w->outbox_head[i]);
    }
    rt_msg_list_free(w->inbox_head);
    free(w->outbox_head);
    free(w->outbox_tail);
    free(w->comp_by_domain);
    free(w->listeners);
    if (w->efd >= 0) {
        close(w->efd);
    }
    pthread_mutex_destroy(&w->inbox_lock);
}

// warn_admin_dir: -t cannot create the admin socket, but it can tell that its directory is
// missing (the start would fail; under systemd, RuntimeDirectory= creates /run/fedrouter).
static void warn_admin_dir(const char *path) {
    if (path == NULL) {
        return;
    }
    const char *slash = strrchr(path, '/');
    if (slash == NULL || slash == path) {
        return;
    }
    char dir[4096];
    size_t n = (size_t)(slash - path);
    if (n >= sizeof(dir)) {
        return;
    }
    memcpy(dir, path, n);
    dir[n] = '\0';
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr,
                "fedrouter: warning: admin.socket's directory %s does not exist (yet): the start "
                "fails unless it is created first (systemd's RuntimeDirectory= does)\n",
                dir);
    }
}

int main(int argc, char **argv) {
    const char *conf_path = NULL;
    bool check_only = false;
    int opt;
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"check", no_argument, NULL, 't'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    while ((opt = getopt_long(argc, argv, "c:tVh", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            conf_path = optarg;
            break;
        case 't':
            check_only = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("fedrouter %s\n", RT_VERSION);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (conf_path == NULL) {
        usage(stderr);
        return 2;
    }
    char err[512] = "";
    rt_conf_t *conf = NULL;
    if (rt_conf_load(conf_path, &conf, err, sizeof(err)) != RC_OK) {
        fprintf(stderr, "fedrouter: %s\n", err);
        return 1;
    }
    core_log_set_level((core_log_level_t)conf->log_level);
    int status = 1;
    rt_router_t rt = {.conf = conf};
    rt_metrics_t *metrics = NULL;
    rt_stats_t **blocks = NULL;
    uint32_t started = 0;
    rt_notify_t notify = {0};
    rt_admin_t *admin = NULL;
    rt_reload_t reload = {.path = conf_path, .boot = conf, .notify = &notify};
    pthread_mutex_init(&reload.run_lock, NULL);
    pthread_mutex_init(&reload.lock, NULL);
    pthread_condattr_t rca;
    pthread_condattr_init(&rca);
    pthread_condattr_setclock(&rca, CLOCK_MONOTONIC); // pause_workers' deadline
    pthread_cond_init(&reload.cond, &rca);
    pthread_condattr_destroy(&rca);
    rt.reload = &reload;
    rt.tls = rt_tls_new(conf, err, sizeof(err));
    if (rt.tls == NULL) {
        fprintf(stderr, "fedrouter: %s\n", err);
        goto out;
    }
    if (check_only) {
        warn_admin_dir(conf->admin_socket);
        printf("fedrouter: configuration %s is valid\n", conf_path);
        status = 0;
        goto out;
    }
    if (rt_notify_init(&notify, conf->workers) != RC_OK) {
        goto out; // NOTIFY_SOCKET unusable: systemd would wait for READY=1 in vain (logged)
    }
    rt.verdicts = pool_verdicts_new(65536);
    rt.unauth = pool_addrcount_new(65536);
    rt.unauth_cert = pool_addrcount_new(65536);
    rt.unauth_parked = pool_addrcount_new(65536);
    pool_backoff_conf_default(&rt.backoff);
    // Federation peers come back: retry soon, then back off to a minute at most; at most six
    // retries a minute per peer address whatever the number of pairs waiting on it.
    rt.backoff.base_ms = 500;
    rt.backoff.max_ms = 60000;
    rt.backoff.max_per_minute = 6;
    dna_dbkey_secret_init(&rt.db_secret, conf->dialback_secret, strlen(conf->dialback_secret));
    rt.num_workers = conf->workers;
    rt.workers = core_xcalloc(rt.num_workers, sizeof(rt_worker_t));
    rt.comp_worker = core_xcalloc(conf->num_domains ? conf->num_domains : 1, sizeof(*rt.comp_worker));
    for (size_t i = 0; i < conf->num_domains; i++) {
        atomic_init(&rt.comp_worker[i], -1);
    }
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    const rt_conf_addr_t *const lists[] = {conf->s2s_listen, conf->s2s_listen_tls,
                                           conf->comp_listen};
    const size_t nums[] = {conf->num_s2s_listen, conf->num_s2s_listen_tls, conf->num_comp_listen};
    for (size_t g = 0; g < RT_ARRAY_LEN(lists); g++) {
        for (size_t i = 0; i < nums[g]; i++) {
            if (!probe_listener(&lists[g][i], err, sizeof(err))) {
                fprintf(stderr, "fedrouter: %s\n", err);
                goto out;
            }
        }
    }
    for (uint32_t i = 0; i < rt.num_workers; i++) {
        if (worker_init(&rt, &rt.workers[i], i, err, sizeof(err)) != RC_OK) {
            fprintf(stderr, "fedrouter: %s\n", err);
            goto out;
        }
    }
    set_reload_gauge(&rt);
    blocks = core_xcalloc(rt.num_workers, sizeof(rt_stats_t *));
    for (uint32_t i = 0; i < rt.num_workers; i++) {
        blocks[i] = &rt.workers[i].stats;
    }
    if (conf->metrics_enabled) {
        metrics = rt_metrics_start((const struct sockaddr *)&conf->metrics_listen.sa,
                                   conf->metrics_listen.sa_len, blocks, rt.num_workers);
        if (metrics == NULL) {
            fprintf(stderr, "fedrouter: cannot serve metrics on %s\n", conf->metrics_listen.text);
            goto out;
        }
    }
    for (; started < rt.num_workers; started++) {
        if (pthread_create(&rt.workers[started].thread, NULL, worker_main, &rt.workers[started]) != 0) {
            fprintf(stderr, "fedrouter: cannot start worker threads\n");
            atomic_store(&rt.stop, true);
            goto join;
        }
    }
    if (conf->admin_socket != NULL) {
        admin = rt_admin_start(&rt, conf->admin_socket, err, sizeof(err));
        if (admin == NULL) {
            fprintf(stderr, "fedrouter: %s\n", err);
            atomic_store(&rt.stop, true);
            goto join;
        }
    }
    CORE_LOG(CORE_LOG_INFO, CORE_LOG_SRC_MAIN,
             "fedrouter started: %u workers, %zu hosted domains, %zu s2s listeners, %zu component "
             "listeners",
             rt.num_workers, conf->num_domains, conf->num_s2s_listen + conf->num_s2s_listen_tls,
             conf->num_comp_listen);
    int sig = 0;
    for (;;) {
        sig = rt_notify_sigwait(&notify, &rt, &sigs); // READY=1, WATCHDOG=1 meanwhile
        if (sig != SIGHUP) {
            break;
        }
        char rerr[512] = "";
        if (rt_reload_run(&rt, rerr, sizeof(rerr)) != RC_OK) {
            // Logged (error) by rt_reload_run; the running configuration stays.
        }
    }
    graceful_stop(&rt, &notify, &sigs, sig);
    status = 0;
join:
    atomic_store(&rt.stop_close, true); // after graceful_stop, or at once on a start failure
    for (uint32_t i = 0; i < started; i++) {
        uint64_t one = 1;
        ssize_t wr = write(rt.workers[i].efd, &one, sizeof(one));
        (void)wr;
    }
    for (uint32_t i = 0; i < started; i++) {
        pthread_join(rt.workers[i].thread, NULL);
    }
out:
    rt_admin_stop(admin); // after the join, before the inboxes are freed
    rt_metrics_stop(metrics);
    for (uint32_t i = 0; rt.workers != NULL && i < rt.num_workers; i++) {
        worker_cleanup(&rt.workers[i]);
    }
    free(blocks);
    free(rt.workers);
    free(rt.comp_worker);
    rt_tls_free(rt.tls);
    pool_verdicts_free(rt.verdicts);
    pool_addrcount_free(rt.unauth);
    pool_addrcount_free(rt.unauth_cert);
    pool_addrcount_free(rt.unauth_parked);
    if (rt.conf != conf) {
        rt_conf_free((rt_conf_t *)rt.conf); // the last reloaded snapshot
    }
    rt_conf_free(conf);
    pthread_cond_destroy(&reload.cond);
    pthread_mutex_destroy(&reload.lock);
    pthread_mutex_destroy(&reload.run_lock);
    rt_notify_cleanup(&notify);
    if (status == 0 && !check_only) {
        CORE_LOG(CORE_LOG_INFO, CORE_LOG_SRC_MAIN, "stopped");
    }
    return status;
}

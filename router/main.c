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
#include <unistd.h>

#include "router/admin.h"
#include "router/internal.h"
#include "router/metrics.h"
#include "router/notify.h"

static void usage(FILE *f) {
    fprintf(f, "usage: fedrouter -c FILE [-t]\n"
               "  -c, --config FILE   configuration file (every option is documented in\n"
               "                      tools/fedrouter.conf.sample)\n"
               "  -t, --check         check the configuration and certificates, then exit\n"
               "  -V, --version       print the version\n"
               "  -h, --help          this help\n"
               "Logs go to standard error. SIGINT/SIGTERM: close every stream, bounce what is\n"
               "queued, exit 0. Under systemd (Type=notify, NOTIFY_SOCKET) it sends READY=1,\n"
               "STATUS=, STOPPING=1 and, with WATCHDOG_USEC, WATCHDOG=1 while every worker runs\n"
               "(tools/OPERATIONS.md).\n");
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

static void worker_cleanup(rt_worker_t *w) {
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
    rt.tls = rt_tls_new(conf, err, sizeof(err));
    if (rt.tls == NULL) {
        fprintf(stderr, "fedrouter: %s\n", err);
        goto out;
    }
    if (check_only) {
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
    for (uint32_t i = 0; i < rt.num_workers; i++) {
        if (worker_init(&rt, &rt.workers[i], i, err, sizeof(err)) != RC_OK) {
            fprintf(stderr, "fedrouter: %s\n", err);
            goto out;
        }
    }
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
        CORE_LOG(CORE_LOG_WARN, CORE_LOG_SRC_MAIN,
                 "SIGHUP: configuration reload is not implemented yet; restart to apply changes");
    }
    CORE_LOG(CORE_LOG_INFO, CORE_LOG_SRC_MAIN, "signal %d: stopping", sig);
    rt_notify_send(&notify, "STOPPING=1\nSTATUS=stopping: closing streams, bouncing the queues");
    atomic_store(&rt.stop, true);
    status = 0;
join:
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
    rt_conf_free(conf);
    rt_notify_cleanup(&notify);
    if (status == 0 && !check_only) {
        CORE_LOG(CORE_LOG_INFO, CORE_LOG_SRC_MAIN, "stopped");
    }
    return status;
}

#include "router/tls.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "dna/pkix.h"
#include "router/core/log.h"
#include "router/stats.h"

typedef struct tls_cert {
    SSL_CTX *server;
    SSL_CTX *client;
} tls_cert_t;

// A name a certificate is picked for: a hosted domain (its configured certificate) or a name a
// certificate lists.
typedef struct tls_name {
    char *name;
    size_t cert_idx;
} tls_name_t;

// One generation of contexts, built from one configuration. It copies what it needs from the
// configuration (the snapshot may be freed after a reload) and lives while it is current or a
// connection uses it: each rt_tls_conn_t holds a reference (tc->gen).
typedef struct tls_gen {
    _Atomic uint32_t refs;
    X509_STORE *store;
    tls_cert_t *certs; // one per conf->certs
    size_t num_certs;
    char **cert_names;  // [num_certs]: the certificate file's base name (metrics label)
    int64_t *not_after; // [num_certs]: the leaf's notAfter, Unix seconds (0: unreadable)
    tls_name_t *hosted; // hosted domains with a certificate, sorted by name (like conf->domains)
    size_t num_hosted;
    tls_name_t *listed; // every name the certificates list, in configuration order
    size_t num_listed;
    SSL_CTX *client_nocert;
    SSL_CTX *server_nocert; // only used when no certificate is configured at all
} tls_gen_t;

// The handle the workers share: the current generation, swapped by rt_tls_adopt.
struct rt_tls {
    pthread_mutex_t *lock; // guards |cur| and its reference count changes by readers
    tls_gen_t *cur;
};

static int g_ex_index = -1; // SSL ex_data slot holding the rt_tls_conn_t *

static void ssl_err(char *err, size_t err_len, const char *what, const char *file) {
    char buf[160];
    ERR_error_string_n(ERR_get_error(), buf, sizeof(buf));
    snprintf(err, err_len, "%s %s: %s", what, file ? file : "", buf);
}

// verify_peer records the chain verdict and never fails the handshake (see tls.h).
static enum ssl_verify_result_t verify_peer(SSL *ssl, uint8_t *out_alert) {
    (void)out_alert;
    rt_tls_conn_t *tc = SSL_get_ex_data(ssl, g_ex_index);
    tls_gen_t *tls = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
    const STACK_OF(CRYPTO_BUFFER) *bufs = SSL_get0_peer_certificates(ssl);
    STACK_OF(X509) *chain = NULL;
    X509_STORE_CTX *sctx = NULL;
    if (tc == NULL || tls == NULL || bufs == NULL || sk_CRYPTO_BUFFER_num(bufs) == 0) {
        return ssl_verify_ok;
    }
    chain = sk_X509_new_null();
    if (chain == NULL) {
        goto out;
    }
    for (size_t i = 0; i < sk_CRYPTO_BUFFER_num(bufs); i++) {
        X509 *x = X509_parse_from_buffer(sk_CRYPTO_BUFFER_value(bufs, i));
        if (x == NULL || !sk_X509_push(chain, x)) {
            X509_free(x);
            snprintf(tc->verify_err, sizeof(tc->verify_err), "unparsable certificate");
            goto out;
        }
    }
    X509 *leaf = sk_X509_value(chain, 0);
    X509_free(tc->peer_leaf);
    tc->peer_leaf = X509_up_ref(leaf) ? leaf : NULL;
    sctx = X509_STORE_CTX_new();
    if (sctx == NULL || tls->store == NULL) {
        snprintf(tc->verify_err, sizeof(tc->verify_err), "no trust store");
        goto out;
    }
    // Servers are servers: check the serverAuth purpose first, then clientAuth.
    static const int purposes[] = {X509_PURPOSE_SSL_SERVER, X509_PURPOSE_SSL_CLIENT};
    for (size_t p = 0; p < RT_ARRAY_LEN(purposes); p++) {
        if (!X509_STORE_CTX_init(sctx, tls->store, leaf, chain)) {
            break;
        }
        X509_STORE_CTX_set_purpose(sctx, purposes[p]);
        if (X509_verify_cert(sctx) == 1) {
            tc->peer_chain_ok = true;
            tc->verify_err[0] = '\0';
            break;
        }
        snprintf(tc->verify_err, sizeof(tc->verify_err), "%s",
                 X509_verify_cert_error_string(X509_STORE_CTX_get_error(sctx)));
        X509_STORE_CTX_cleanup(sctx);
    }
out:
    X509_STORE_CTX_free(sctx);
    sk_X509_pop_free(chain, X509_free);
    return ssl_verify_ok;
}

static int servername_cb(SSL *ssl, int *alert, void *arg) {
    (void)alert;
    tls_gen_t *tls = arg;
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (name == NULL) {
        return SSL_TLSEXT_ERR_OK;
    }
    for (size_t i = 0; i < tls->num_listed; i++) {
        if (strcasecmp(tls->listed[i].name, name) == 0) {
            SSL_set_SSL_CTX(ssl, tls->certs[tls->listed[i].cert_idx].server);
            return SSL_TLSEXT_ERR_OK;
        }
    }
    return SSL_TLSEXT_ERR_OK; // keep the certificate chosen from the stream 'to'
}

static int alpn_select_cb(SSL *ssl, const uint8_t **out, uint8_t *out_len, const uint8_t *in,
                          unsigned in_len, void *arg) {
    (void)ssl;
    (void)arg;
    static const uint8_t want[] = "xmpp-server";
    core_cur_t cur;
    core_cur_init(&cur, in, in_len);
    while (!core_cur_empty(&cur)) {
        core_cur_t proto;
        if (!core_cur_get_u8_prefixed(&cur, &proto)) {
            break;
        }
        if (proto.len == sizeof(want) - 1 && core_memcmp(proto.ptr, want, proto.len) == 0) {
            *out = proto.ptr;
            *out_len = (uint8_t)proto.len;
            return SSL_TLSEXT_ERR_OK;
        }
    }
    return SSL_TLSEXT_ERR_NOACK;
}

static SSL_CTX *new_ctx(tls_gen_t *tls, bool server) {
    SSL_CTX *ctx = SSL_CTX_new(TLS_method());
    if (ctx == NULL) {
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_app_data(ctx, tls);
    SSL_CTX_set_custom_verify(ctx, SSL_VERIFY_PEER, verify_peer);
    if (server) {
        SSL_CTX_set_tlsext_servername_callback(ctx, servername_cb);
        SSL_CTX_set_tlsext_servername_arg(ctx, tls);
        SSL_CTX_set_alpn_select_cb(ctx, alpn_select_cb, NULL);
    }
    return ctx;
}

static bool load_cert(SSL_CTX *ctx, const rt_conf_cert_t *c, char *err, size_t err_len) {
    if (SSL_CTX_use_certificate_chain_file(ctx, c->cert_file) != 1) {
        ssl_err(err, err_len, "cannot load certificate", c->cert_file);
        return false;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, c->key_file, SSL_FILETYPE_PEM) != 1) {
        if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH) {
            ERR_clear_error();
            snprintf(err, err_len, "key %s does not match certificate %s", c->key_file,
                     c->cert_file);
        } else {
            ssl_err(err, err_len, "cannot load key", c->key_file);
        }
        return false;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        ssl_err(err, err_len, "key does not match certificate", c->cert_file);
        return false;
    }
    return true;
}

static void gen_free(tls_gen_t *tls);

// cert_not_after returns |leaf|'s notAfter in Unix seconds, or 0 when it cannot be read.
static int64_t cert_not_after(const X509 *leaf) {
    const ASN1_TIME *t = leaf != NULL ? X509_get0_notAfter(leaf) : NULL;
    int days = 0;
    int secs = 0;
    if (t == NULL || !ASN1_TIME_diff(&days, &secs, NULL, t)) {
        return 0;
    }
    return (int64_t)time(NULL) + (int64_t)days * 86400 + secs;
}

// publish_certs hands |g|'s certificates to the metrics
// (fedrouter_local_certificate_expiry_seconds).
static void publish_certs(const tls_gen_t *g) {
    rt_stats_publish_certs((const char *const *)g->cert_names, g->not_after, g->num_certs);
}

static void gen_unref(tls_gen_t *g) {
    if (g != NULL && atomic_fetch_sub_explicit(&g->refs, 1, memory_order_acq_rel) == 1) {
        gen_free(g);
    }
}

static tls_gen_t *gen_new(const rt_conf_t *conf, char *err, size_t err_len) {
    tls_gen_t *tls = core_xcalloc(1, sizeof(*tls));
    atomic_init(&tls->refs, 1);
    tls->hosted = core_xcalloc(conf->num_domains ? conf->num_domains : 1, sizeof(tls_name_t));
    for (size_t i = 0; i < conf->num_domains; i++) {
        if (conf->domains[i].cert_idx < conf->num_certs) {
            tls->hosted[tls->num_hosted].name = core_xstrdup(conf->domains[i].name);
            tls->hosted[tls->num_hosted].cert_idx = conf->domains[i].cert_idx;
            tls->num_hosted++;
        }
    }
    size_t listed = 0;
    for (size_t i = 0; i < conf->num_certs; i++) {
        listed += conf->certs[i].num_domains;
    }
    tls->listed = core_xcalloc(listed ? listed : 1, sizeof(tls_name_t));
    for (size_t i = 0; i < conf->num_certs; i++) {
        for (size_t j = 0; j < conf->certs[i].num_domains; j++) {
            tls->listed[tls->num_listed].name = core_xstrdup(conf->certs[i].domains[j]);
            tls->listed[tls->num_listed].cert_idx = i;
            tls->num_listed++;
        }
    }
    if (conf->ca_file != NULL) {
        tls->store = X509_STORE_new();
        if (tls->store == NULL || !X509_STORE_load_locations(tls->store, conf->ca_file, NULL)) {
            ssl_err(err, err_len, "cannot load trust store", conf->ca_file);
            goto fail;
        }
    }
    tls->certs = core_xcalloc(conf->num_certs ? conf->num_certs : 1, sizeof(tls_cert_t));
    tls->cert_names = core_xcalloc(conf->num_certs ? conf->num_certs : 1, sizeof(char *));
    tls->not_after = core_xcalloc(conf->num_certs ? conf->num_certs : 1, sizeof(int64_t));
    tls->num_certs = conf->num_certs;
    for (size_t i = 0; i < conf->num_certs; i++) {
        tls->certs[i].server = new_ctx(tls, true);
        tls->certs[i].client = new_ctx(tls, false);
        if (tls->certs[i].server == NULL || tls->certs[i].client == NULL ||
            !load_cert(tls->certs[i].server, &conf->certs[i], err, err_len) ||
            !load_cert(tls->certs[i].client, &conf->certs[i], err, err_len)) {
            goto fail;
        }
    }
    for (size_t i = 0; i < conf->num_certs; i++) {
        const char *slash = strrchr(conf->certs[i].cert_file, '/'); // our configuration, not peer
        tls->cert_names[i] = core_xstrdup(slash != NULL ? slash + 1 : conf->certs[i].cert_file);
        tls->not_after[i] = cert_not_after(SSL_CTX_get0_certificate(tls->certs[i].server));
    }
    // What an operator gets wrong: a certificate that does not name a domain it is listed for, and
    // hosted domains with no certificate at all (peers then authenticate them by dialback only).
    dna_pkix_opts_t names = {.cn_fallback = conf->cn_fallback};
    for (size_t i = 0; i < conf->num_certs; i++) {
        X509 *leaf = SSL_CTX_get0_certificate(tls->certs[i].server);
        for (size_t j = 0; leaf != NULL && j < conf->certs[i].num_domains; j++) {
            if (dna_pkix_match(leaf, conf->certs[i].domains[j], &names) != RC_OK) {
                CORE_LOG(CORE_LOG_WARN, CORE_LOG_SRC_CONF,
                         "certificate %s does not name %s: peers will not accept it for that "
                         "domain",
                         conf->certs[i].cert_file, conf->certs[i].domains[j]);
            }
        }
    }
    for (size_t i = 0; i < conf->num_domains; i++) {
        if (conf->domains[i].cert_idx == SIZE_MAX) {
            CORE_LOG(CORE_LOG_WARN, CORE_LOG_SRC_CONF,
                     "hosted domain %s has no certificate: peers can authenticate it by dialback "
                     "only",
                     conf->domains[i].name);
        }
    }
    tls->client_nocert = new_ctx(tls, false);
    tls->server_nocert = new_ctx(tls, true);
    if (tls->client_nocert == NULL || tls->server_nocert == NULL) {
        ssl_err(err, err_len, "cannot create TLS context", NULL);
        goto fail;
    }
    return tls;
fail:
    gen_free(tls);
    return NULL;
}

static void gen_free(tls_gen_t *tls) {
    if (tls == NULL) {
        return;
    }
    for (size_t i = 0; i < tls->num_certs; i++) {
        SSL_CTX_free(tls->certs[i].server);
        SSL_CTX_free(tls->certs[i].client);
    }
    free(tls->certs);
    for (size_t i = 0; tls->cert_names != NULL && i < tls->num_certs; i++) {
        free(tls->cert_names[i]);
    }
    free(tls->cert_names);
    free(tls->not_after);
    for (size_t i = 0; i < tls->num_hosted; i++) {
        free(tls->hosted[i].name);
    }
    free(tls->hosted);
    for (size_t i = 0; i < tls->num_listed; i++) {
        free(tls->listed[i].name);
    }
    free(tls->listed);
    SSL_CTX_free(tls->client_nocert);
    SSL_CTX_free(tls->server_nocert);
    X509_STORE_free(tls->store);
    free(tls);
}

rt_tls_t *rt_tls_new(const rt_conf_t *conf, char *err, size_t err_len) {
    // The process's first contexts are the running ones; later ones (a reload) only once adopted.
    bool first = g_ex_index < 0;
    if (g_ex_index < 0) {
        g_ex_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    }
    tls_gen_t *g = gen_new(conf, err, err_len);
    if (g == NULL) {
        return NULL;
    }
    if (first) {
        publish_certs(g);
    }
    rt_tls_t *tls = core_xcalloc(1, sizeof(*tls));
    tls->lock = core_xcalloc(1, sizeof(*tls->lock));
    pthread_mutex_init(tls->lock, NULL);
    tls->cur = g;
    return tls;
}

void rt_tls_free(rt_tls_t *tls) {
    if (tls == NULL) {
        return;
    }
    gen_unref(tls->cur);
    pthread_mutex_destroy(tls->lock);
    free(tls->lock);
    free(tls);
}

void rt_tls_adopt(rt_tls_t *live, rt_tls_t *fresh) {
    pthread_mutex_lock(live->lock);
    tls_gen_t *old = live->cur;
    live->cur = fresh->cur;
    pthread_mutex_unlock(live->lock);
    publish_certs(fresh->cur);
    fresh->cur = NULL;
    rt_tls_free(fresh);
    gen_unref(old); // freed here, or by the last connection that still uses it
}

// acquire returns the current generation with a reference the caller gives back (gen_unref).
static tls_gen_t *acquire(const rt_tls_t *tls) {
    pthread_mutex_lock(tls->lock);
    tls_gen_t *g = tls->cur;
    atomic_fetch_add_explicit(&g->refs, 1, memory_order_relaxed);
    pthread_mutex_unlock(tls->lock);
    return g;
}

static int name_cmp(const void *key, const void *elem) {
    return strcmp(key, ((const tls_name_t *)elem)->name);
}

static const tls_cert_t *cert_for(const tls_gen_t *tls, const char *domain) {
    if (domain == NULL) {
        return NULL;
    }
    const tls_name_t *h = bsearch(domain, tls->hosted, tls->num_hosted, sizeof(tls_name_t), name_cmp);
    if (h != NULL) {
        return &tls->certs[h->cert_idx];
    }
    for (size_t i = 0; i < tls->num_listed; i++) {
        if (strcmp(tls->listed[i].name, domain) == 0) {
            return &tls->certs[tls->listed[i].cert_idx];
        }
    }
    return NULL;
}

bool rt_tls_has_cert(const rt_tls_t *tls, const char *domain) {
    tls_gen_t *g = acquire(tls);
    bool has = cert_for(g, domain) != NULL;
    gen_unref(g);
    return has;
}

// conn_setup starts |tc| on |ctx| of generation |g|, whose reference it takes (given back here on
// failure, by rt_tls_conn_cleanup otherwise).
static rc_t conn_setup(rt_tls_conn_t *tc, tls_gen_t *g, SSL_CTX *ctx) {
    core_memset(tc, 0, sizeof(*tc));
    tc->ssl = SSL_new(ctx);
    if (tc->ssl == NULL) {
        gen_unref(g);
        return RC_TLS;
    }
    tc->rbio = BIO_new(BIO_s_mem());
    tc->wbio = BIO_new(BIO_s_mem());
    if (tc->rbio == NULL || tc->wbio == NULL) {
        BIO_free(tc->rbio);
        BIO_free(tc->wbio);
        SSL_free(tc->ssl);
        core_memset(tc, 0, sizeof(*tc));
        gen_unref(g);
        return RC_TLS;
    }
    tc->gen = g;
    SSL_set_bio(tc->ssl, tc->rbio, tc->wbio);
    SSL_set_ex_data(tc->ssl, g_ex_index, tc);
    snprintf(tc->verify_err, sizeof(tc->verify_err), "no certificate");
    return RC_OK;
}

rc_t rt_tls_conn_server(const rt_tls_t *live, rt_tls_conn_t *tc, const char *domain) {
    tls_gen_t *tls = acquire(live);
    const tls_cert_t *c = cert_for(tls, domain);
    if (c == NULL && tls->num_certs > 0) {
        c = &tls->certs[0];
    }
    rc_t rc = conn_setup(tc, tls, c ? c->server : tls->server_nocert);
    if (rc == RC_OK) {
        SSL_set_accept_state(tc->ssl);
    }
    return rc;
}

rc_t rt_tls_conn_client(const rt_tls_t *live, rt_tls_conn_t *tc, const char *local,
                        const char *remote, bool alpn_xmpp) {
    tls_gen_t *tls = acquire(live);
    const tls_cert_t *c = cert_for(tls, local);
    rc_t rc = conn_setup(tc, tls, c ? c->client : tls->client_nocert);
    if (rc != RC_OK) {
        return rc;
    }
    SSL_set_connect_state(tc->ssl);
    if (remote != NULL) {
        SSL_set_tlsext_host_name(tc->ssl, remote);
    }
    if (alpn_xmpp) {
        static const uint8_t alpn[] = "\x0bxmpp-server";
        SSL_set_alpn_protos(tc->ssl, alpn, sizeof(alpn) - 1);
    }
    return RC_OK;
}

void rt_tls_conn_cleanup(rt_tls_conn_t *tc) {
    if (tc == NULL) {
        return;
    }
    SSL_free(tc->ssl); // frees the BIOs
    X509_free(tc->peer_leaf);
    gen_unref(tc->gen);
    core_memset(tc, 0, sizeof(*tc));
}

static void drain_wbio(rt_tls_conn_t *tc, core_buf_t *out) {
    const uint8_t *data;
    size_t len;
    if (BIO_mem_contents(tc->wbio, &data, &len) && len > 0) {
        core_buf_append(out, data, len);
        BIO_reset(tc->wbio);
    }
}

rc_t rt_tls_conn_start(rt_tls_conn_t *tc, core_buf_t *out) {
    int r = SSL_do_handshake(tc->ssl);
    if (r != 1) {
        int e = SSL_get_error(tc->ssl, r);
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
            drain_wbio(tc, out);
            return RC_TLS;
        }
    } else {
        tc->handshake_done = true;
    }
    drain_wbio(tc, out);
    return RC_OK;
}

rc_t rt_tls_conn_input(rt_tls_conn_t *tc, const uint8_t *data, size_t len, core_buf_t *ptxt,
                       size_t max_ptxt, core_buf_t *out) {
    rc_t rc = RC_OK;
    if (len > 0 && BIO_write(tc->rbio, data, (int)len) != (int)len) {
        return RC_TLS;
    }
    if (!tc->handshake_done) {
        int r = SSL_do_handshake(tc->ssl);
        if (r != 1) {
            int e = SSL_get_error(tc->ssl, r);
            drain_wbio(tc, out);
            return (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) ? RC_OK : RC_TLS;
        }
        tc->handshake_done = true;
    }
    while (core_buf_len(ptxt) < max_ptxt) {
        size_t room = max_ptxt - core_buf_len(ptxt);
        if (room > 16384) {
            room = 16384;
        }
        uint8_t *p = core_buf_reserve(ptxt, room);
        int n = SSL_read(tc->ssl, p, (int)room);
        if (n > 0) {
            core_buf_commit(ptxt, (size_t)n);
            continue;
        }
        int e = SSL_get_error(tc->ssl, n);
        if (e == SSL_ERROR_ZERO_RETURN) {
            rc = RC_CLOSED;
        } else if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
            rc = RC_TLS;
        }
        break;
    }
    drain_wbio(tc, out);
    return rc;
}

rc_t rt_tls_conn_seal(rt_tls_conn_t *tc, const uint8_t *data, size_t len, core_buf_t *out) {
    while (len > 0) {
        int chunk = len > RT_TLS_RECORD_MAX ? RT_TLS_RECORD_MAX : (int)len;
        int n = SSL_write(tc->ssl, data, chunk);
        if (n <= 0) {
            drain_wbio(tc, out);
            return RC_TLS;
        }
        data += n;
        len -= (size_t)n;
    }
    drain_wbio(tc, out);
    return RC_OK;
}

void rt_tls_conn_shutdown(rt_tls_conn_t *tc, core_buf_t *out) {
    if (tc->ssl != NULL && tc->handshake_done) {
        SSL_shutdown(tc->ssl);
        drain_wbio(tc, out);
    }
}

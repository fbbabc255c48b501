// tls.h: TLS contexts and per-connection TLS as a byte filter (BoringSSL with memory BIOs).
//
// One rt_tls_t per process, built from the configuration: a server and a client SSL_CTX per
// configured certificate (chosen by SNI or by the stream 'to' for inbound streams, by the local
// domain for outbound ones), the trust store, and the peer verification rule. Peer certificates
// are verified in a custom callback that never fails the handshake: the chain result is recorded
// and the caller decides (SASL EXTERNAL when the chain is valid and names the domain, dialback
// otherwise). Peer certificates carrying only the serverAuth usage are accepted for client auth
// (public CAs stopped issuing clientAuth).
//
// Reload: rt_tls_t is a handle on the current generation of contexts. rt_tls_adopt swaps in the
// generation of a freshly built rt_tls_t: new connections use it, live ones keep the generation
// they started on (each rt_tls_conn_t holds a reference; the last one frees it).
//
// Thread: rt_tls_t is shared by all workers (a short mutex guards the generation swap, taken once
// per new TLS session). An rt_tls_conn_t belongs to its connection's worker.
#ifndef RT_ROUTER_TLS_H
#define RT_ROUTER_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "router/conf.h"
#include "router/core/bytes.h"
#include "router/core/rc.h"

typedef struct rt_tls rt_tls_t;

typedef struct rt_tls_conn {
    SSL *ssl;
    BIO *rbio;           // ciphertext in (owned by ssl)
    BIO *wbio;           // ciphertext out (owned by ssl)
    bool handshake_done;
    bool peer_chain_ok;  // the peer's chain validated against the trust store
    X509 *peer_leaf;     // owned reference, NULL when the peer sent no certificate
    char verify_err[96]; // why the chain failed, for logs
    struct tls_gen *gen; // the context generation this session uses (a reference)
} rt_tls_conn_t;

// rt_tls_new loads certificates, keys and the trust store named in |conf|. Returns an owned
// object (rt_tls_free) or NULL with the reason in |err|.
rt_tls_t *rt_tls_new(const rt_conf_t *conf, char *err, size_t err_len);
void rt_tls_free(rt_tls_t *tls);
// rt_tls_adopt makes |fresh|'s contexts (an rt_tls_new result) the ones |live| hands to new
// sessions, and frees |fresh| (takes it). The previous generation is freed once no session uses
// it. Thread: any (the reloading thread).
void rt_tls_adopt(rt_tls_t *live, rt_tls_t *fresh);

// rt_tls_conn_server starts a server-side TLS session whose certificate is the one for |domain|
// (or the first certificate when |domain| is NULL or has none; SNI may switch it). With
// |alpn_xmpp| the ALPN "xmpp-server" is accepted (direct TLS).
RT_MUSTCHECK rc_t rt_tls_conn_server(const rt_tls_t *tls, rt_tls_conn_t *tc, const char *domain);
// rt_tls_conn_client starts a client-side TLS session presenting the certificate for |local|
// (none if it has none), sending SNI |remote|; |alpn_xmpp| offers ALPN "xmpp-server".
RT_MUSTCHECK rc_t rt_tls_conn_client(const rt_tls_t *tls, rt_tls_conn_t *tc, const char *local,
                                     const char *remote, bool alpn_xmpp);
void rt_tls_conn_cleanup(rt_tls_conn_t *tc);

// rt_tls_conn_input feeds received ciphertext, drives the handshake and appends any plaintext
// to |ptxt| (at most |max_ptxt| bytes in the buffer; stops reading when it is full). Outgoing
// ciphertext (handshake, alerts) goes to |out|. Returns RC_OK, RC_CLOSED (close_notify) or RC_TLS.
RT_MUSTCHECK rc_t rt_tls_conn_input(rt_tls_conn_t *tc, const uint8_t *data, size_t len,
                                    core_buf_t *ptxt, size_t max_ptxt, core_buf_t *out);
#define RT_TLS_RECORD_MAX 16384 // plaintext bytes per TLS record we seal
// rt_tls_conn_seal encrypts |len| plaintext bytes into |out|, one record per RT_TLS_RECORD_MAX
// bytes (so |len| <= RT_TLS_RECORD_MAX is one record).
RT_MUSTCHECK rc_t rt_tls_conn_seal(rt_tls_conn_t *tc, const uint8_t *data, size_t len,
                                   core_buf_t *out);
// rt_tls_conn_shutdown queues a close_notify into |out|.
void rt_tls_conn_shutdown(rt_tls_conn_t *tc, core_buf_t *out);
// rt_tls_conn_start drives the first handshake flight (client side) into |out|.
RT_MUSTCHECK rc_t rt_tls_conn_start(rt_tls_conn_t *tc, core_buf_t *out);

// rt_tls_has_cert is true when a certificate is configured for |domain|.
bool rt_tls_has_cert(const rt_tls_t *tls, const char *domain);

#endif

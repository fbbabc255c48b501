// conf.h: fedrouter's configuration, parsed once by libconfig into an immutable typed snapshot
// (STYLE.md §11). No string lookups after load.
//
// File format (libconfig), every option documented in tools/fedrouter.conf.sample:
//
//   workers = 2;                       # worker threads; absent: one per core
//   log_level = "info";                # error | warn | info | debug
//   s2s = {
//     listen = [ "127.0.0.1:5269" ];   # STARTTLS listeners ("[::1]:5269" for IPv6)
//     listen_tls = [ ];                # direct TLS listeners (XEP-0368)
//     require_tls = true;
//     ca_file = "ca.pem";              # trust store for peer certificates
//     dialback_secret = "...";         # XEP-0185 secret shared by the cluster; absent: random
//     resolver = "127.0.0.1:53";       # DNS server(s) "ip:port[,ip:port]"; absent: resolv.conf
//     cn_fallback = false;             # accept the subject CN when a certificate has no SAN
//     auth_timeout = 30;               # s: a stream must authenticate within this
//     connect_timeout = 10;            # s: TCP+TLS connect per address
//     stanza_timeout = 60;             # s: a stanza waits this long for its stream, then bounces
//     idle_timeout = 600;              # s: an idle established stream is closed
//     max_unauth_per_ip = 16;          # unauthenticated inbound connections per source address
//     max_stanza_size = 262144;        # bytes
//     max_queue_bytes = 4194304;       # bytes queued per outbound stream
//     max_total_queue_bytes = 67108864; # bytes queued in all outbound pairs of a worker
//     max_pending_pairs = 128;         # inbound pairs awaiting dialback per stream
//     shutdown_timeout = 10;           # s: SIGTERM drains queues this long, then bounces
//     prooftypes = [ "pkix", "dane", "posh" ];  # default policy: prooftypes in order
//     dialback_without_proof = true;   # no prooftype has material: may dialback decide?
//     on_failure = "dialback";         # a prooftype says no: "dialback" or "refuse"
//     dane_pkix_usages = false;        # honour TLSA usages PKIX-TA(0)/PKIX-EE(1)
//     dna_timeout = 5;                 # s: a DANE/POSH lookup gives up (temporary failure)
//     posh_port = 443;                 # HTTPS port of POSH documents
//     posh_private_addresses = false;  # POSH may fetch from loopback/private addresses
//   };
//   policies = (                       # per remote domain; keys not given inherit s2s's
//     { domain = "secure.example"; prooftypes = [ "dane" ]; dialback_without_proof = false;
//       on_failure = "refuse"; }
//   );
//   components = {
//     listen = [ "127.0.0.1:5347" ];
//     auth_timeout = 10;
//   };
//   metrics = { listen = "127.0.0.1:9269"; };   # HTTP /metrics; absent: disabled
//   admin = { socket = "/run/fedrouter/admin.sock"; };   # fedctl (mode 0600); absent: disabled
//   certificates = (                   # picked by SNI / stream 'to' among the names they carry
//     { cert = "a.pem"; key = "a.key"; domains = [ "a.example", "b.example" ]; }
//   );
//   domains = (                        # hosted domains, each served by an XEP-0114 component
//     { name = "a.example"; secret = "component secret"; }
//   );
//   routes = (                         # static routes (override DNS)
//     { domain = "remote.example"; host = "127.0.0.2"; port = 5269; direct_tls = false; }
//   );
#ifndef RT_ROUTER_CONF_H
#define RT_ROUTER_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "dna/prooftype.h"
#include "router/core/rc.h"
#include "router/dns.h"

typedef struct rt_conf_addr {
    struct sockaddr_storage sa;
    socklen_t sa_len;
    char text[64]; // as written, for logs
} rt_conf_addr_t;

typedef struct rt_conf_cert {
    char *cert_file;
    char *key_file;
    char **domains; // A-labels, lower case; the names this certificate is used for
    size_t num_domains;
} rt_conf_cert_t;

typedef struct rt_conf_domain {
    char *name;   // A-label, lower case
    char *secret; // XEP-0114 component secret
    size_t cert_idx; // index into certs, or SIZE_MAX when no certificate names this domain
} rt_conf_domain_t;

// rt_conf_policy_t is the prooftype policy of one remote domain (policies[]).
typedef struct rt_conf_policy {
    char *domain; // A-label, lower case
    dna_policy_t policy;
} rt_conf_policy_t;

typedef struct rt_conf {
    uint32_t workers;
    int log_level; // core_log_level_t

    rt_conf_addr_t *s2s_listen;
    size_t num_s2s_listen;
    rt_conf_addr_t *s2s_listen_tls;
    size_t num_s2s_listen_tls;
    bool require_tls;
    char *ca_file;
    char *dialback_secret; // never NULL after load (random when not configured)
    char *resolver;        // NULL: system resolv.conf
    bool cn_fallback;
    uint32_t auth_timeout_s;
    uint32_t connect_timeout_s;
    uint32_t stanza_timeout_s;
    uint32_t idle_timeout_s;
    uint32_t max_unauth_per_ip;
    size_t max_stanza_size;
    size_t max_queue_bytes;
    size_t max_total_queue_bytes;
    uint32_t max_pending_pairs;
    uint32_t shutdown_timeout_s;

    // Domain ownership (dna/): the default policy, per-domain policies sorted by domain.
    dna_policy_t policy_default;
    rt_conf_policy_t *policies;
    size_t num_policies;
    bool dane_pkix_usages;
    uint32_t dna_timeout_s;
    uint16_t posh_port;
    bool posh_private_addresses; // POSH may connect to loopback/private/link-local addresses

    rt_conf_addr_t *comp_listen;
    size_t num_comp_listen;
    uint32_t comp_auth_timeout_s;

    bool metrics_enabled;
    rt_conf_addr_t metrics_listen;

    char *admin_socket; // admin.socket: fedctl's AF_UNIX socket path; NULL: no admin socket

    rt_conf_cert_t *certs;
    size_t num_certs;
    rt_conf_domain_t *domains; // sorted by name
    size_t num_domains;
    rt_dns_route_t *routes;
    size_t num_routes;
} rt_conf_t;

// rt_conf_load parses |path|. On success returns RC_OK and an owned snapshot in |*out| (free
// with rt_conf_free). On failure returns RC_CONF and writes "file:line: reason" into |err|
// (capacity |err_len|). Validates: unknown keys, types, ranges, duplicate domains, addresses,
// domain names (normalised to A-labels), and that every file named exists and is readable.
RT_MUSTCHECK rc_t rt_conf_load(const char *path, rt_conf_t **out, char *err, size_t err_len);
void rt_conf_free(rt_conf_t *conf);

// rt_conf_policy returns the prooftype policy for remote domain |domain| (A-label): its entry in
// policies[], else the default. Never NULL. Binary search.
const dna_policy_t *rt_conf_policy(const rt_conf_t *conf, const char *domain);

// rt_conf_domain finds hosted domain |name| (A-label) or returns NULL. Binary search.
const rt_conf_domain_t *rt_conf_domain(const rt_conf_t *conf, const char *name);

#endif

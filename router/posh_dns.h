// posh_dns.h: the POSH fetcher's name resolution (rt_posh_resolver_t, router/posh_fetch.h) on
// fedrouter's c-ares resolver (rt_dns_resolve_host: A and AAAA of the HTTPS host).
//
// A peer chooses which domain's POSH document fedrouter fetches, so by default only globally
// routable addresses are handed to the fetcher: loopback, private (RFC 1918, CGN, fc00::/7),
// link-local, multicast, documentation and reserved ranges are skipped, with one log line, and a
// host with nothing else is "not found" (no POSH document). The router allows them only with
// s2s.posh_private_addresses; dnacheck, run by the operator, always allows them.
//
// Thread: the owner of the rt_dns_t (one worker, or dnacheck's thread).
#ifndef RT_ROUTER_POSH_DNS_H
#define RT_ROUTER_POSH_DNS_H

#include <stdbool.h>
#include <sys/socket.h>

#include "router/dns.h"
#include "router/posh_fetch.h"

typedef struct rt_posh_dns rt_posh_dns_t;

// rt_posh_dns_new returns an owned adapter on |dns| (borrowed: it must outlive the adapter).
// |allow_private|: hand non-global addresses to the fetcher too.
rt_posh_dns_t *rt_posh_dns_new(rt_dns_t *dns, bool allow_private);
// rt_posh_dns_free cancels the resolutions still pending (their callbacks do not run). Free the
// fetcher that uses the adapter first. Accepts NULL.
void rt_posh_dns_free(rt_posh_dns_t *pd);
// rt_posh_dns_set_allow_private changes |allow_private| for the next resolutions (a reload).
void rt_posh_dns_set_allow_private(rt_posh_dns_t *pd, bool allow_private);
// rt_posh_dns_resolver returns the resolver to put in rt_posh_conf_t.resolver.
rt_posh_resolver_t rt_posh_dns_resolver(rt_posh_dns_t *pd);

// rt_posh_dns_global_addr is true when |sa| is a globally routable unicast address (IPv4-mapped
// IPv6 addresses are judged as IPv4). Thread: any.
bool rt_posh_dns_global_addr(const struct sockaddr_storage *sa);

#endif

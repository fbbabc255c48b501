// pkix.h: certificate identity matching, RFC 6125 XMPP profile (RFC 6120 §13.7.2).
//
// Pure function of (certificate, reference domain): no I/O. Chain validation against the trust
// store is done by the TLS layer; this file only decides whether an end-entity certificate names
// the domain. Identifiers: SRV-ID (_xmpp-server.D), DNS-ID (D or *.parent with '*' as the whole
// left-most label, matching exactly one label), XmppAddr (D, U-labels compared as A-labels);
// CN-ID only when |cn_fallback| and the certificate carries no DNS-ID, SRV-ID, URI-ID or
// XmppAddr. Wildcards are never honoured in SRV-ID or XmppAddr.
#ifndef RT_DNA_PKIX_H
#define RT_DNA_PKIX_H

#include <stdbool.h>

#include <openssl/x509.h>

#include "router/core/rc.h"

typedef struct dna_pkix_opts {
    bool cn_fallback;
} dna_pkix_opts_t;

// dna_pkix_match returns RC_OK when |cert| proves |domain| (lower-case A-label, as from
// dna_domain_normalize), RC_DNA_MISMATCH when it does not, RC_DNA_BAD_NAME for a bad reference
// (not in normalised form). An IP-literal reference never matches (iPAddress SANs are not XMPP
// identities). A SAN extension that is duplicated or does not decode fails closed (mismatch, no
// CN fallback). Borrows |cert|. Thread: any.
RT_MUSTCHECK rc_t dna_pkix_match(X509 *cert, const char *domain, const dna_pkix_opts_t *opts);

// dna_pkix_names writes a short list of the identities |cert| presents, for operator logs, e.g.
// "DNS:a.example,XmppAddr:b.example,SRV:_xmpp-server.c.example,URI:...,IP:...,CN:x",
// NUL-terminated in |out| (|out_len| bytes). Values are peer data: bytes outside printable
// ASCII, ',' and '\\' are written as \xNN. Returns true when everything fit; false when the list
// was cut, in which case it ends in "..." (or is empty when |out_len| < 4). Borrows |cert|.
// Thread: any.
bool dna_pkix_names(X509 *cert, char *out, size_t out_len);

#endif

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
// dna_domain_normalize), RC_DNA_MISMATCH when it does not, RC_DNA_BAD_NAME for a bad reference.
// Borrows |cert|. Thread: any.
RT_MUSTCHECK rc_t dna_pkix_match(X509 *cert, const char *domain, const dna_pkix_opts_t *opts);

#endif

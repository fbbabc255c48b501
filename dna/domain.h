// domain.h: domain names at the boundary (RFC 7622 §3.2, RFC 5890 IDNA2008 via libidn2).
#ifndef RT_DNA_DOMAIN_H
#define RT_DNA_DOMAIN_H

#include <stddef.h>

#include "router/core/rc.h"

#define DNA_DOMAIN_MAX 255 // an A-label domain never exceeds 253 octets + NUL

// dna_domain_normalize turns |in| (|in_len| bytes, UTF-8 U-labels or A-labels, any case, optional
// trailing dot) into the lower-case A-label form used as the key everywhere (pair tables, DNS,
// certificate matching), NUL-terminated in |out| (capacity |out_cap|, DNA_DOMAIN_MAX is enough).
// IP literals ("127.0.0.1", "[::1]") are accepted as they are. Returns RC_OK or RC_DNA_BAD_NAME
// (empty, too long, empty label, bad IDNA, characters not allowed in a host name); RC_ENOBUFS
// when |out_cap| is too small, RC_EINVAL when |out| is NULL or |out_cap| is 0. Thread: any.
RT_MUSTCHECK rc_t dna_domain_normalize(char *out, size_t out_cap, const char *in, size_t in_len);

// dna_jid_domain returns the domainpart of JID |jid| (|len| bytes) as a (ptr, len) view into
// |jid|: after '@' (if any, before '/'), up to '/'. Returns false when the JID is malformed
// (empty domain, empty localpart before '@', more than one '@' before '/').
RT_MUSTCHECK bool dna_jid_domain(const char *jid, size_t len, const char **out_dom,
                                 size_t *out_dom_len);

#endif

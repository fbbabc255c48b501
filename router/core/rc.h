// rc.h: the one result type of fedrouter (STYLE.md §4).
//
// RC_OK is 0. errno-like failures are negative errno values, so an io_uring cqe->res passes
// through unchanged. Project codes are <= -4096 and never collide with kernel returns.
#ifndef RT_ROUTER_CORE_RC_H
#define RT_ROUTER_CORE_RC_H

#include <errno.h>

#include "router/core/mem.h"

typedef int rc_t;

#define RC_OK 0
#define RC_ENOMEM (-ENOMEM)
#define RC_EINVAL (-EINVAL)
#define RC_ENOBUFS (-ENOBUFS)
#define RC_EAGAIN (-EAGAIN)
#define RC_ENOENT (-ENOENT)
#define RC_EEXIST (-EEXIST)
#define RC_ETIMEDOUT (-ETIMEDOUT)
#define RC_ECONNREFUSED (-ECONNREFUSED)
#define RC_ECONNRESET (-ECONNRESET)

// Project codes. Keep rc_str() in rc.c in step.
enum {
    RC_BASE = -4096,
    RC_XML_NOT_WELL_FORMED = RC_BASE - 1, // expat rejected the bytes
    RC_XML_RESTRICTED = RC_BASE - 2,      // DTD, comment, PI or entity declaration
    RC_XML_LIMIT = RC_BASE - 3,           // stanza size, depth or attribute count over the limit
    RC_XML_NAMESPACE = RC_BASE - 4,       // stream root not in the streams namespace
    RC_XML_PREFIX = RC_BASE - 5,          // unsupported namespace prefix
    RC_TLS = RC_BASE - 10,                // TLS handshake or record failure
    RC_DNA_MISMATCH = RC_BASE - 20,       // certificate does not prove the domain
    RC_DNA_BAD_NAME = RC_BASE - 21,       // domain name not valid (IDNA, length)
    RC_DNA_BAD_KEY = RC_BASE - 22,        // dialback key malformed or wrong
    RC_DNS_NOT_FOUND = RC_BASE - 30,      // no SRV, no A/AAAA, or SRV target "."
    RC_DNS_FAIL = RC_BASE - 31,           // resolver failure (timeout, malformed answer)
    RC_DNS_BOGUS = RC_BASE - 32,          // SERVFAIL from the validating resolver (DNSSEC bogus)
    RC_CONF = RC_BASE - 40,               // configuration error
    RC_PROTO = RC_BASE - 50,              // peer broke the protocol
    RC_CLOSED = RC_BASE - 51,             // peer closed the stream
};

// rc_str returns a static, human-readable name for |rc|. Thread: any.
const char *rc_str(rc_t rc);

#endif

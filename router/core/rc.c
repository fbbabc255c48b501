#include "router/core/rc.h"

#include <string.h>

const char *rc_str(rc_t rc) {
    switch (rc) {
    case RC_OK:
        return "ok";
    case RC_XML_NOT_WELL_FORMED:
        return "xml not well-formed";
    case RC_XML_RESTRICTED:
        return "restricted xml";
    case RC_XML_LIMIT:
        return "xml limit exceeded";
    case RC_XML_NAMESPACE:
        return "invalid stream namespace";
    case RC_XML_PREFIX:
        return "bad namespace prefix";
    case RC_TLS:
        return "tls failure";
    case RC_DNA_MISMATCH:
        return "certificate does not prove domain";
    case RC_DNA_BAD_NAME:
        return "invalid domain name";
    case RC_DNA_BAD_KEY:
        return "bad dialback key";
    case RC_DNS_NOT_FOUND:
        return "domain not found";
    case RC_DNS_FAIL:
        return "dns failure";
    case RC_DNS_BOGUS:
        return "dnssec validation failed (servfail)";
    case RC_CONF:
        return "configuration error";
    case RC_PROTO:
        return "protocol violation";
    case RC_CLOSED:
        return "closed";
    default:
        break;
    }
    if (rc < 0 && rc > RC_BASE) {
        return strerror(-rc);
    }
    return "unknown error";
}

// domain.c: domain normalisation (RFC 7622 §3.2, IDNA2008 via libidn2) and JID domainpart
// extraction (RFC 7622 §3). No I/O, no logging.
#include "dna/domain.h"

#include <arpa/inet.h>
#include <idn2.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "router/core/mem.h"

// RFC 7622 §3.1: each JID part is 1..1023 octets. An input domain longer than that is refused
// before any work is done.
#define DNA_JID_PART_MAX 1023
// RFC 1035 §2.3.4 / RFC 5890: 253 octets of presentation form without the root dot, 63 per label.
#define DNA_NAME_MAX 253
#define DNA_LABEL_MAX 63

// is_ldh is true for the host-name characters of RFC 1123 §2.1 (letters, digits, hyphen). '_' is
// not accepted: XMPP domainparts are host names, and SRV owner names never reach this function.
static bool is_ldh(uint8_t c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

static uint8_t ascii_lower(uint8_t c) {
    return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + ('a' - 'A')) : c;
}

// check_ldh_name is true when |s| (|len| bytes, no trailing dot) is a host name: 1..253 octets,
// labels of 1..63 LDH characters that neither start nor end with '-', and a last label that is not
// all digits (so that a malformed dotted quad such as "1.2.3.256" is not taken for a name).
static bool check_ldh_name(const char *s, size_t len) {
    if (len == 0 || len > DNA_NAME_MAX) {
        return false;
    }
    size_t label_start = 0;
    bool label_all_digits = true;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || s[i] == '.') {
            size_t label_len = i - label_start;
            if (label_len == 0 || label_len > DNA_LABEL_MAX) {
                return false;
            }
            if (s[label_start] == '-' || s[i - 1] == '-') {
                return false;
            }
            if (i == len && label_all_digits) {
                return false;
            }
            label_start = i + 1;
            label_all_digits = true;
            continue;
        }
        uint8_t c = (uint8_t)s[i];
        if (!is_ldh(c)) {
            return false;
        }
        if (c < '0' || c > '9') {
            label_all_digits = false;
        }
    }
    return true;
}

// has_alabel is true when a label of |s| (|len| bytes) starts with the ACE prefix "xn--" in any
// case: such labels must be checked by libidn2 (valid Punycode, a valid U-label behind it).
static bool has_alabel(const char *s, size_t len) {
    size_t label_start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || s[i] == '.') {
            if (i - label_start >= 4 && ascii_lower((uint8_t)s[label_start]) == 'x' &&
                ascii_lower((uint8_t)s[label_start + 1]) == 'n' && s[label_start + 2] == '-' &&
                s[label_start + 3] == '-') {
                return true;
            }
            label_start = i + 1;
        }
    }
    return false;
}

// ip_literal_ok is true when |s| (|len| bytes) is a dotted-quad IPv4 address or a bracketed IPv6
// address ("[::1]"), checked with inet_pton on a bounded, NUL-terminated copy.
static bool ip_literal_ok(const char *s, size_t len) {
    char tmp[INET6_ADDRSTRLEN + 1];
    uint8_t addr[sizeof(struct in6_addr)];
    if (len >= 2 && s[0] == '[' && s[len - 1] == ']') {
        size_t inner = len - 2;
        if (inner == 0 || inner >= sizeof(tmp)) {
            return false;
        }
        core_memcpy(tmp, s + 1, inner);
        tmp[inner] = '\0';
        return inet_pton(AF_INET6, tmp, addr) == 1;
    }
    if (len == 0 || len >= sizeof(tmp)) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || s[i] == '.')) {
            return false;
        }
    }
    core_memcpy(tmp, s, len);
    tmp[len] = '\0';
    // glibc's inet_pton(AF_INET) accepts exactly four decimal octets without leading zeros.
    return inet_pton(AF_INET, tmp, addr) == 1;
}

rc_t dna_domain_normalize(char *out, size_t out_cap, const char *in, size_t in_len) {
    rc_t rc = RC_DNA_BAD_NAME;
    char tmp[DNA_JID_PART_MAX + 1];
    uint8_t *idn = NULL;
    const char *name = NULL;
    size_t name_len = 0;
    bool ascii = true;

    if (out == NULL || out_cap == 0) {
        return RC_EINVAL;
    }
    out[0] = '\0';
    if (in == NULL || in_len == 0 || in_len > DNA_JID_PART_MAX) {
        goto out;
    }
    // RFC 7622 §3.2: strip one trailing dot before any other processing.
    if (in[in_len - 1] == '.') {
        in_len--;
    }
    if (in_len == 0) {
        goto out;
    }
    for (size_t i = 0; i < in_len; i++) {
        uint8_t c = (uint8_t)in[i];
        if (c == 0) {
            goto out; // embedded NUL: never a name, and libidn2 would stop there
        }
        if (c >= 0x80) {
            ascii = false;
        }
    }

    // IP literals pass through unchanged (RFC 7622 §3.2: IPv4 dotted quad or [IPv6]).
    if (ascii && ip_literal_ok(in, in_len)) {
        name = in;
        name_len = in_len;
        goto copy;
    }

    if (ascii && !has_alabel(in, in_len)) {
        // Plain host name: lower-case and check. libidn2 is not asked, because IDNA2008 rejects
        // some ASCII names that are valid host names (hyphens in positions 3-4, e.g.
        // "r3---sn-x.example"), and those are not IDNs.
        if (in_len > DNA_NAME_MAX) {
            goto out;
        }
        for (size_t i = 0; i < in_len; i++) {
            tmp[i] = (char)ascii_lower((uint8_t)in[i]);
        }
        name = tmp;
        name_len = in_len;
    } else {
        // U-labels or A-labels: libidn2 maps, validates and converts to A-labels. Flags:
        // - IDN2_NONTRANSITIONAL: UTS #46 mapping (case folding, width mapping: the "IDNA2008
        //   mapping" RFC 7622 §3.2.2 asks for) but non-transitional, so deviation characters
        //   such as U+00DF stay themselves, as IDNA2008 requires ("faß" is not "fass").
        // - IDN2_NFC_INPUT: normalise to NFC first, so canonically equivalent input gives the
        //   same A-label.
        // A-labels in the input are decoded and round-trip checked (libidn2 default), which
        // rejects bad Punycode and A-labels hiding disallowed code points.
        core_memcpy(tmp, in, in_len);
        tmp[in_len] = '\0';
        int irc = idn2_lookup_u8((const uint8_t *)tmp, &idn, IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT);
        if (irc != IDN2_OK || idn == NULL) {
            goto out;
        }
        name = (const char *)idn;
        name_len = strnlen(name, DNA_JID_PART_MAX + 1);
        // libidn2 output is ASCII already lower-cased; still check LDH (it lets ' ', '_' and
        // empty labels through).
    }
    if (!check_ldh_name(name, name_len)) {
        goto out;
    }

copy:
    if (name_len >= out_cap) {
        rc = RC_ENOBUFS;
        goto out;
    }
    core_memcpy(out, name, name_len);
    out[name_len] = '\0';
    rc = RC_OK;

out:
    idn2_free(idn);
    return rc;
}

bool dna_jid_domain(const char *jid, size_t len, const char **out_dom, size_t *out_dom_len) {
    if (jid == NULL || len == 0 || out_dom == NULL || out_dom_len == NULL) {
        return false;
    }
    // The first '/' starts the resourcepart, which may itself contain '@' and '/'.
    size_t slash = len;
    for (size_t i = 0; i < len; i++) {
        if (jid[i] == '/') {
            slash = i;
            break;
        }
    }
    if (slash < len) {
        size_t res_len = len - slash - 1;
        if (res_len == 0 || res_len > DNA_JID_PART_MAX) {
            return false;
        }
    }
    // '@' before the first '/' ends the localpart; only one is allowed.
    size_t at = slash;
    for (size_t i = 0; i < slash; i++) {
        if (jid[i] == '@') {
            if (at != slash) {
                return false;
            }
            at = i;
        }
    }
    size_t dom_start = 0;
    if (at != slash) {
        if (at == 0 || at > DNA_JID_PART_MAX) {
            return false; // empty or oversized localpart
        }
        dom_start = at + 1;
    }
    size_t dom_len = slash - dom_start;
    if (dom_len == 0 || dom_len > DNA_JID_PART_MAX) {
        return false;
    }
    *out_dom = jid + dom_start;
    *out_dom_len = dom_len;
    return true;
}

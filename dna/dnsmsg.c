// dnsmsg.c: DNS query building and response parsing for DANE (see dnsmsg.h). Every read of the
// message goes through core_cur_t; names are decompressed into fixed 255-byte buffers.
#include "dna/dnsmsg.h"

#include "router/core/mem.h"

#define DNSMSG_HDR_LEN 12
#define DNSMSG_FLAG_QR 0x8000u
#define DNSMSG_FLAG_TC 0x0200u
#define DNSMSG_FLAG_RD 0x0100u
#define DNSMSG_FLAG_AD 0x0020u
#define DNSMSG_EDNS_DO 0x8000u

// dnsmsg_name_t is a name in uncompressed wire form, ASCII lower case, ending with the root
// label.
typedef struct dnsmsg_name {
    uint8_t wire[DNA_DNSMSG_NAME_WIRE_MAX];
    size_t len;
} dnsmsg_name_t;

// dnsmsg_rr_t is one resource record as read from a section.
typedef struct dnsmsg_rr {
    dnsmsg_name_t owner;
    uint16_t type;
    uint16_t cls;
    uint32_t ttl;
    core_cur_t rdata;
} dnsmsg_rr_t;

static uint8_t dnsmsg_lower(uint8_t c) {
    return (c >= 'A' && c <= 'Z') ? (uint8_t)(c - 'A' + 'a') : c;
}

static bool dnsmsg_text_byte_ok(uint8_t c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_';
}

static bool dnsmsg_name_eq(const dnsmsg_name_t *a, const dnsmsg_name_t *b) {
    return a->len == b->len && core_memcmp(a->wire, b->wire, a->len) == 0;
}

// dnsmsg_name_from_text converts the text name |s| (one trailing dot allowed) to wire form.
// Returns RC_OK or RC_DNA_BAD_NAME (see dna_dnsmsg_query).
static rc_t dnsmsg_name_from_text(dnsmsg_name_t *out, const char *s) {
    size_t n = 0;
    size_t label_at = 0; // index of the current label's length byte
    if (s == NULL || s[0] == '\0' || (s[0] == '.')) {
        return RC_DNA_BAD_NAME;
    }
    out->wire[n++] = 0;
    for (size_t i = 0;; i++) {
        uint8_t c = (uint8_t)s[i];
        if (c == '.' || c == '\0') {
            size_t label_len = n - label_at - 1;
            if (label_len == 0) {
                if (c == '\0' && i > 0 && s[i - 1] == '.') {
                    break; // the trailing dot: label_at already holds the root label
                }
                return RC_DNA_BAD_NAME;
            }
            if (label_len > 63) {
                return RC_DNA_BAD_NAME;
            }
            out->wire[label_at] = (uint8_t)label_len;
            if (n >= DNA_DNSMSG_NAME_WIRE_MAX) {
                return RC_DNA_BAD_NAME;
            }
            label_at = n;
            out->wire[n++] = 0;
            if (c == '\0') {
                break;
            }
            continue;
        }
        if (!dnsmsg_text_byte_ok(c) || n >= DNA_DNSMSG_NAME_WIRE_MAX - 1) {
            return RC_DNA_BAD_NAME;
        }
        out->wire[n++] = dnsmsg_lower(c);
    }
    out->len = n;
    return RC_OK;
}

// dnsmsg_name_to_text writes the wire name |name| as text (no trailing dot, "." for the root)
// into |out| (DNA_DNSMSG_NAME_TEXT_MAX). Returns false when a label byte is outside
// [A-Za-z0-9-_].
static bool dnsmsg_name_to_text(char out[DNA_DNSMSG_NAME_TEXT_MAX], const dnsmsg_name_t *name) {
    core_cur_t cur;
    size_t n = 0;
    core_cur_init(&cur, name->wire, name->len);
    for (;;) {
        core_cur_t label;
        if (!core_cur_get_u8_prefixed(&cur, &label)) {
            return false;
        }
        if (label.len == 0) {
            break;
        }
        if (n > 0) {
            out[n++] = '.';
        }
        for (size_t i = 0; i < label.len; i++) {
            if (!dnsmsg_text_byte_ok(label.ptr[i])) {
                return false;
            }
            out[n++] = (char)label.ptr[i];
        }
    }
    if (n == 0) {
        out[n++] = '.';
    }
    // A wire name of <= 255 octets gives <= 253 characters.
    out[n] = '\0';
    return true;
}

// dnsmsg_read_name reads a possibly compressed name starting at |cur| (a cursor into |msg|,
// |msg_len| bytes) into |out|, lower-cased. The bytes in place are bounded by |cur|; a pointer
// must target an offset >= 12 and strictly before itself, and the jumped-to name is bounded to
// end before that pointer, so the walk always moves backwards and terminates; at most
// DNA_DNSMSG_MAX_PTRS pointers, labels <= 63 octets (0x40/0x80 label types are rejected), the
// name <= 255 octets. On success |cur| is advanced past the name's bytes in place. On failure
// |cur| and |out| are unchanged.
static bool dnsmsg_read_name(const uint8_t *msg, size_t msg_len, core_cur_t *cur,
                             dnsmsg_name_t *out) {
    core_cur_t in = *cur;
    core_cur_t after = {0};
    bool jumped = false;
    size_t num_ptrs = 0;
    dnsmsg_name_t name = {0};
    for (;;) {
        size_t here = (size_t)(in.ptr - msg);
        uint8_t b;
        if (!core_cur_get_u8(&in, &b)) {
            return false;
        }
        if ((b & 0xC0) == 0xC0) {
            uint8_t lo;
            if (!core_cur_get_u8(&in, &lo)) {
                return false;
            }
            size_t target = ((size_t)(b & 0x3F) << 8) | lo;
            if (target < DNSMSG_HDR_LEN || target >= here || here > msg_len ||
                ++num_ptrs > DNA_DNSMSG_MAX_PTRS) {
                return false;
            }
            if (!jumped) {
                after = in;
                jumped = true;
            }
            core_cur_init(&in, msg + target, here - target);
            continue;
        }
        if ((b & 0xC0) != 0) {
            return false; // extended (0x40) or reserved (0x80) label type
        }
        if (name.len + 1 + (size_t)b > DNA_DNSMSG_NAME_WIRE_MAX) {
            return false;
        }
        name.wire[name.len++] = b;
        if (b == 0) {
            break;
        }
        core_cur_t label;
        if (!core_cur_get_bytes(&in, &label, b)) {
            return false;
        }
        for (size_t i = 0; i < label.len; i++) {
            name.wire[name.len++] = dnsmsg_lower(label.ptr[i]);
        }
    }
    *cur = jumped ? after : in;
    *out = name;
    return true;
}

// dnsmsg_read_rr reads one resource record (owner, type, class, TTL, RDLENGTH-bounded RDATA).
static bool dnsmsg_read_rr(const uint8_t *msg, size_t msg_len, core_cur_t *cur, dnsmsg_rr_t *rr) {
    core_cur_t c = *cur;
    if (!dnsmsg_read_name(msg, msg_len, &c, &rr->owner) || !core_cur_get_u16(&c, &rr->type) ||
        !core_cur_get_u16(&c, &rr->cls) || !core_cur_get_u32(&c, &rr->ttl) ||
        !core_cur_get_u16_prefixed(&c, &rr->rdata)) {
        return false;
    }
    *cur = c;
    return true;
}

// dnsmsg_read_cname reads a CNAME RDATA: exactly one (possibly compressed) name.
static bool dnsmsg_read_cname(const uint8_t *msg, size_t msg_len, const core_cur_t *rdata,
                              dnsmsg_name_t *out) {
    core_cur_t c = *rdata;
    return dnsmsg_read_name(msg, msg_len, &c, out) && core_cur_empty(&c);
}

static uint32_t dnsmsg_ttl(uint32_t ttl) {
    return (ttl & 0x80000000u) != 0 ? 0 : ttl; // RFC 2181 §8
}

static void dnsmsg_bld_u16(core_bld_t *b, uint16_t v) {
    core_bld_add_u8(b, (uint8_t)(v >> 8));
    core_bld_add_u8(b, (uint8_t)v);
}

rc_t dna_dnsmsg_query(core_bld_t *out, uint16_t id, const char *qname, uint16_t qtype) {
    dnsmsg_name_t name;
    rc_t rc = dnsmsg_name_from_text(&name, qname);
    if (rc != RC_OK) {
        return rc;
    }
    dnsmsg_bld_u16(out, id);
    dnsmsg_bld_u16(out, DNSMSG_FLAG_RD | DNSMSG_FLAG_AD);
    dnsmsg_bld_u16(out, 1); // QDCOUNT
    dnsmsg_bld_u16(out, 0); // ANCOUNT
    dnsmsg_bld_u16(out, 0); // NSCOUNT
    dnsmsg_bld_u16(out, 1); // ARCOUNT: the OPT record
    core_bld_add(out, name.wire, name.len);
    dnsmsg_bld_u16(out, qtype);
    dnsmsg_bld_u16(out, DNA_DNS_CLASS_IN);
    // OPT (RFC 6891 §6.1.2): root owner, CLASS = UDP payload size, TTL = extended rcode 0,
    // version 0, flags DO; RDLENGTH 0.
    core_bld_add_u8(out, 0);
    dnsmsg_bld_u16(out, DNA_DNS_TYPE_OPT);
    dnsmsg_bld_u16(out, DNA_DNSMSG_UDP_SIZE);
    core_bld_add_u8(out, 0);
    core_bld_add_u8(out, 0);
    dnsmsg_bld_u16(out, DNSMSG_EDNS_DO);
    dnsmsg_bld_u16(out, 0);
    return core_bld_finish(out);
}

// dnsmsg_find_cname looks in the answer section (|num| records at |answers|) for a CNAME of
// class IN owned by |owner|. Returns 1 and fills |target|/|ttl| when found, 0 when not, -1 on a
// malformed CNAME RDATA.
static int dnsmsg_find_cname(const uint8_t *msg, size_t msg_len, core_cur_t answers, size_t num,
                             const dnsmsg_name_t *owner, dnsmsg_name_t *target, uint32_t *ttl) {
    for (size_t i = 0; i < num; i++) {
        dnsmsg_rr_t rr;
        if (!dnsmsg_read_rr(msg, msg_len, &answers, &rr)) {
            return -1; // cannot happen: the section was checked before
        }
        if (rr.type != DNA_DNS_TYPE_CNAME || rr.cls != DNA_DNS_CLASS_IN ||
            !dnsmsg_name_eq(&rr.owner, owner)) {
            continue;
        }
        if (!dnsmsg_read_cname(msg, msg_len, &rr.rdata, target)) {
            return -1;
        }
        *ttl = dnsmsg_ttl(rr.ttl);
        return 1;
    }
    return 0;
}

rc_t dna_dnsmsg_parse(dna_dnsmsg_t *out, const uint8_t *msg, size_t len, uint16_t want_id,
                      const char *qname, uint16_t qtype) {
    rc_t rc = RC_PROTO;
    core_cur_t cur;
    core_cur_t answers;
    dnsmsg_name_t want;
    dnsmsg_name_t owner;
    uint16_t id, flags, qdcount, ancount, nscount, arcount;
    uint16_t q_type, q_class;
    dnsmsg_name_t q_name;
    bool have_ttl = false;

    core_memset(out, 0, sizeof(*out));
    rc = dnsmsg_name_from_text(&want, qname);
    if (rc != RC_OK) {
        goto out;
    }
    rc = RC_PROTO;
    core_cur_init(&cur, msg, len);
    if (!core_cur_get_u16(&cur, &id) || !core_cur_get_u16(&cur, &flags) ||
        !core_cur_get_u16(&cur, &qdcount) || !core_cur_get_u16(&cur, &ancount) ||
        !core_cur_get_u16(&cur, &nscount) || !core_cur_get_u16(&cur, &arcount)) {
        goto out;
    }
    if (id != want_id || (flags & DNSMSG_FLAG_QR) == 0 || ((flags >> 11) & 0xF) != 0 ||
        qdcount != 1) {
        goto out;
    }
    out->id = id;
    out->rcode = flags & 0xF;
    out->ad = (flags & DNSMSG_FLAG_AD) != 0;
    out->tc = (flags & DNSMSG_FLAG_TC) != 0;
    out->msg = msg;
    out->msg_len = len;

    if (!dnsmsg_read_name(msg, len, &cur, &q_name) || !core_cur_get_u16(&cur, &q_type) ||
        !core_cur_get_u16(&cur, &q_class)) {
        goto out;
    }
    if (!dnsmsg_name_eq(&q_name, &want) || q_type != qtype || q_class != DNA_DNS_CLASS_IN) {
        goto out;
    }
    if (!dnsmsg_name_to_text(out->owner, &want)) {
        goto out; // cannot happen: |want| came from checked text
    }
    if (out->tc) {
        // A truncated answer may end anywhere: report it without answers (retry over TCP).
        rc = RC_OK;
        goto out;
    }

    // Check every record of the three sections; remember the answer section.
    answers = cur;
    for (size_t i = 0; i < (size_t)ancount + nscount + arcount; i++) {
        dnsmsg_rr_t rr;
        if (!dnsmsg_read_rr(msg, len, &cur, &rr)) {
            goto out;
        }
        if (i < (size_t)ancount && rr.type == DNA_DNS_TYPE_CNAME) {
            dnsmsg_name_t target;
            if (!dnsmsg_read_cname(msg, len, &rr.rdata, &target)) {
                goto out;
            }
        }
        if (rr.type == DNA_DNS_TYPE_OPT) {
            // RFC 6891 §6.1.1: only in the additional section, once, with the root owner.
            if (i < (size_t)ancount + nscount || out->edns || rr.owner.len != 1) {
                goto out;
            }
            out->edns = true;
            out->rcode = (uint16_t)(((rr.ttl >> 24) << 4) | out->rcode);
        }
    }
    if (!core_cur_empty(&cur)) {
        goto out; // trailing bytes after the declared sections
    }

    // Follow the CNAME chain from the question name.
    owner = want;
    if (qtype != DNA_DNS_TYPE_CNAME) {
        for (;;) {
            dnsmsg_name_t target;
            uint32_t ttl = 0;
            int found = dnsmsg_find_cname(msg, len, answers, ancount, &owner, &target, &ttl);
            if (found < 0) {
                goto out;
            }
            if (found == 0) {
                break;
            }
            if (out->num_cnames == DNA_DNSMSG_MAX_CNAMES) {
                goto out; // too long a chain, or a loop
            }
            out->num_cnames++;
            out->min_ttl = have_ttl && out->min_ttl < ttl ? out->min_ttl : ttl;
            have_ttl = true;
            owner = target;
        }
        if (out->num_cnames > 0 && !dnsmsg_name_to_text(out->owner, &owner)) {
            goto out; // a CNAME target that is no host name
        }
    }

    // Collect the records of |qtype| at the final owner.
    for (size_t i = 0; i < ancount; i++) {
        dnsmsg_rr_t rr;
        if (!dnsmsg_read_rr(msg, len, &answers, &rr)) {
            goto out; // cannot happen: the section was checked before
        }
        if (rr.type != qtype || rr.cls != DNA_DNS_CLASS_IN || !dnsmsg_name_eq(&rr.owner, &owner)) {
            continue;
        }
        if (out->num_answers == DNA_DNSMSG_MAX_ANSWERS) {
            out->num_dropped++;
            continue;
        }
        uint32_t ttl = dnsmsg_ttl(rr.ttl);
        out->answers[out->num_answers++] = (dna_dnsmsg_rr_t){
            .ttl = ttl,
            .rdata = rr.rdata.ptr,
            .rdata_len = rr.rdata.len,
        };
        out->min_ttl = have_ttl && out->min_ttl < ttl ? out->min_ttl : ttl;
        have_ttl = true;
    }
    rc = RC_OK;
out:
    if (rc != RC_OK) {
        core_memset(out, 0, sizeof(*out));
    }
    return rc;
}

rc_t dna_dnsmsg_srv(dna_dnsmsg_srv_t *out, const dna_dnsmsg_t *msg, const dna_dnsmsg_rr_t *rr) {
    rc_t rc = RC_PROTO;
    core_cur_t cur;
    dnsmsg_name_t target;
    core_memset(out, 0, sizeof(*out));
    if (msg->msg == NULL || rr->rdata == NULL || rr->rdata < msg->msg ||
        (size_t)(rr->rdata - msg->msg) > msg->msg_len ||
        rr->rdata_len > msg->msg_len - (size_t)(rr->rdata - msg->msg)) {
        rc = RC_EINVAL;
        goto out;
    }
    core_cur_init(&cur, rr->rdata, rr->rdata_len);
    if (!core_cur_get_u16(&cur, &out->priority) || !core_cur_get_u16(&cur, &out->weight) ||
        !core_cur_get_u16(&cur, &out->port) ||
        !dnsmsg_read_name(msg->msg, msg->msg_len, &cur, &target) || !core_cur_empty(&cur) ||
        !dnsmsg_name_to_text(out->target, &target)) {
        goto out;
    }
    rc = RC_OK;
out:
    if (rc != RC_OK) {
        core_memset(out, 0, sizeof(*out));
    }
    return rc;
}

rc_t dna_dnsmsg_a(uint8_t out[4], const dna_dnsmsg_rr_t *rr) {
    if (rr->rdata_len != 4) {
        return RC_PROTO;
    }
    core_memcpy(out, rr->rdata, 4);
    return RC_OK;
}

rc_t dna_dnsmsg_aaaa(uint8_t out[16], const dna_dnsmsg_rr_t *rr) {
    if (rr->rdata_len != 16) {
        return RC_PROTO;
    }
    core_memcpy(out, rr->rdata, 16);
    return RC_OK;
}

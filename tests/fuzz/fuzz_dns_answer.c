// fuzz_dns_answer.c: DNS response parsing (dna/dnsmsg.c) on arbitrary bytes.
//
// Input: byte 0 selects the question (low 2 bits: name, next 2 bits: type, from the tables
// below); the rest is the response, whose own ID (bytes 0-1, when present) is the wanted ID so
// that the fuzzer gets past the ID check. Checked (abort on violation):
// - on RC_PROTO the output is zeroed; on RC_OK every kept RDATA lies inside the message, at most
//   DNA_DNSMSG_MAX_ANSWERS are kept, min_ttl is the minimum of the kept TTLs when there is no
//   CNAME, the owner is NUL-terminated text of at most 253 characters, |tc| means no answers;
// - dna_dnsmsg_srv / _a / _aaaa on every kept record: a parsed SRV target is NUL-terminated
//   and at most 253 characters, and a failed parse leaves a zeroed output;
// - the whole input parsed with a wrong ID is rejected.
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dna/dnsmsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const fz_names[] = {
    "example.com",
    "_xmpp-server._tcp.example.com",
    "_5269._tcp.xmpp1.example.net",
    "a.example",
};
static const uint16_t fz_types[] = {DNA_DNS_TYPE_A, DNA_DNS_TYPE_AAAA, DNA_DNS_TYPE_SRV,
                                    DNA_DNS_TYPE_TLSA};

static dna_dnsmsg_t fz_out;

static int fz_zeroed(const void *p, size_t len) {
    const uint8_t *b = p;
    for (size_t i = 0; i < len; i++) {
        if (b[i] != 0) {
            return 0;
        }
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) {
        return 0;
    }
    const char *qname = fz_names[data[0] & 3];
    uint16_t qtype = fz_types[(data[0] >> 2) & 3];
    const uint8_t *msg = data + 1;
    size_t len = size - 1;
    uint16_t id = len >= 2 ? (uint16_t)((msg[0] << 8) | msg[1]) : 0;

    rc_t rc = dna_dnsmsg_parse(&fz_out, msg, len, id, qname, qtype);
    if (rc != RC_OK) {
        if (rc != RC_PROTO || !fz_zeroed(&fz_out, sizeof(fz_out))) {
            abort();
        }
    } else {
        if (fz_out.num_answers > DNA_DNSMSG_MAX_ANSWERS || fz_out.msg != msg ||
            fz_out.msg_len != len || fz_out.id != id || fz_out.num_cnames > DNA_DNSMSG_MAX_CNAMES ||
            memchr(fz_out.owner, '\0', 254) == NULL || fz_out.rcode > 0xFFF ||
            (fz_out.tc && fz_out.num_answers != 0)) {
            abort();
        }
        uint32_t min = 0;
        for (size_t i = 0; i < fz_out.num_answers; i++) {
            const dna_dnsmsg_rr_t *rr = &fz_out.answers[i];
            if (rr->rdata < msg || rr->rdata_len > len ||
                (size_t)(rr->rdata - msg) > len - rr->rdata_len || rr->ttl > 0x7FFFFFFFu) {
                abort();
            }
            min = (i == 0 || rr->ttl < min) ? rr->ttl : min;
            dna_dnsmsg_srv_t srv;
            if (dna_dnsmsg_srv(&srv, &fz_out, rr) == RC_OK) {
                if (memchr(srv.target, '\0', 254) == NULL) {
                    abort();
                }
            } else if (!fz_zeroed(&srv, sizeof(srv))) {
                abort();
            }
            uint8_t a[16];
            if ((dna_dnsmsg_a(a, rr) == RC_OK) != (rr->rdata_len == 4) ||
                (dna_dnsmsg_aaaa(a, rr) == RC_OK) != (rr->rdata_len == 16)) {
                abort();
            }
        }
        if (fz_out.num_cnames == 0 && fz_out.min_ttl != min) {
            abort();
        }
        if (fz_out.num_cnames > 0 && fz_out.num_answers > 0 && fz_out.min_ttl > min) {
            abort();
        }
        if (dna_dnsmsg_parse(&fz_out, msg, len, (uint16_t)(id + 1), qname, qtype) != RC_PROTO) {
            abort();
        }
    }
    return 0;
}

// dnsmsg.h: the DNS messages of DANE resolution (SPEC.md §8, DESIGN.md "DNS"): build a query with
// AD=1 and EDNS0 DO=1 for the configured validating resolver, and parse its answer into a typed,
// bounded struct. No I/O, no logging: the router's c-ares driver (ares_send) carries the bytes.
//
// The trust rule (SPEC.md DANE-1/DANE-2): only answers from the configured validating resolver
// with |ad| set are DNSSEC "secure". dna_dnsmsg_parse reports |ad| and |rcode|; it never decides
// trust itself. A caller that wants TLSA records must check |ad| first and drop the records when
// it is false (dna/tlsa.h); an rcode of SERVFAIL means "bogus or indeterminate".
//
// Limits enforced on untrusted bytes (RFC 1035 §3.1, §4.1.4): labels of at most 63 octets, names
// of at most 255 wire octets, compression pointers only backwards (strictly before the pointer,
// never into the header) and at most DNA_DNSMSG_MAX_PTRS of them per name, every RDATA taken
// as a child cursor of its RDLENGTH, at most DNA_DNSMSG_MAX_CNAMES CNAMEs followed.
#ifndef RT_DNA_DNSMSG_H
#define RT_DNA_DNSMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "router/core/bytes.h"
#include "router/core/rc.h"

#define DNA_DNSMSG_MAX_ANSWERS 64 // answer records kept; more are counted in num_dropped
#define DNA_DNSMSG_MAX_CNAMES 8   // CNAME hops followed from the question name
#define DNA_DNSMSG_MAX_PTRS 64    // compression pointers followed per name
#define DNA_DNSMSG_NAME_WIRE_MAX 255 // RFC 1035 §2.3.4, wire octets incl. the root label
#define DNA_DNSMSG_NAME_TEXT_MAX 256 // a presentation name (<= 253 chars) + NUL fits
#define DNA_DNSMSG_UDP_SIZE 1232     // EDNS0 UDP payload size we announce (DNS flag day 2020)

// RR types and rcodes used by fedrouter (RFC 1035, 2782, 3596, 6698, 6891).
enum {
    DNA_DNS_TYPE_A = 1,
    DNA_DNS_TYPE_CNAME = 5,
    DNA_DNS_TYPE_AAAA = 28,
    DNA_DNS_TYPE_SRV = 33,
    DNA_DNS_TYPE_OPT = 41,
    DNA_DNS_TYPE_RRSIG = 46,
    DNA_DNS_TYPE_TLSA = 52,
    DNA_DNS_CLASS_IN = 1,
    DNA_DNS_RCODE_NOERROR = 0,
    DNA_DNS_RCODE_FORMERR = 1,
    DNA_DNS_RCODE_SERVFAIL = 2,
    DNA_DNS_RCODE_NXDOMAIN = 3,
    DNA_DNS_RCODE_REFUSED = 5,
    DNA_DNS_RCODE_BADVERS = 16, // extended (needs the OPT record)
};

// dna_dnsmsg_rr_t is one answer record of the asked type. |rdata| borrows the message given to
// dna_dnsmsg_parse.
typedef struct dna_dnsmsg_rr {
    uint32_t ttl; // RFC 2181 §8: a TTL with the top bit set is read as 0
    const uint8_t *rdata;
    size_t rdata_len;
} dna_dnsmsg_rr_t;

// dna_dnsmsg_t is a parsed response. Fields are read-only for everyone after dna_dnsmsg_parse.
typedef struct dna_dnsmsg {
    uint16_t id;
    uint16_t rcode; // 12 bits: the header's 4 plus the OPT record's extended 8 (RFC 6891 §6.1.3)
    bool ad;        // Authentic Data: DNSSEC-secure per the (trusted) validating resolver
    bool tc;        // truncated: no answers are collected, retry over TCP
    bool edns;      // an OPT record was present
    // Answers of the asked type and class IN whose owner is the question name or the end of the
    // CNAME chain from it, in message order, at most DNA_DNSMSG_MAX_ANSWERS.
    dna_dnsmsg_rr_t answers[DNA_DNSMSG_MAX_ANSWERS];
    size_t num_answers;
    size_t num_dropped; // matching answers over DNA_DNSMSG_MAX_ANSWERS (ignored: fail closed)
    size_t num_cnames;  // CNAME hops followed
    // The owner of |answers|: the question name, or the last CNAME target, lower case, no
    // trailing dot (RFC 7671 §7: the TLSA base domain may be the CNAME target).
    char owner[DNA_DNSMSG_NAME_TEXT_MAX];
    // Smallest TTL of |answers| and the CNAMEs followed; 0 when there are none.
    uint32_t min_ttl;
    // The whole message, borrowed, for dna_dnsmsg_srv's name decompression.
    const uint8_t *msg;
    size_t msg_len;
} dna_dnsmsg_t;

// dna_dnsmsg_srv_t is one parsed SRV RDATA (RFC 2782).
typedef struct dna_dnsmsg_srv {
    uint16_t priority;
    uint16_t weight;
    uint16_t port;
    // Decompressed target, lower case, no trailing dot; "." for the root ("no service").
    char target[DNA_DNSMSG_NAME_TEXT_MAX];
} dna_dnsmsg_srv_t;

// dna_dnsmsg_query appends a query to |out|: a 12-byte header with |id|, opcode QUERY, RD=1 and
// AD=1 (RFC 6840 §5.7: ask for the AD bit), QDCOUNT=1 and ARCOUNT=1; one question |qname| |qtype|
// class IN; an EDNS0 OPT record (root owner, UDP size DNA_DNSMSG_UDP_SIZE, version 0, DO=1, no
// options). |qname| is a normalised A-label name ("_5269._tcp.example.com"); one trailing dot is
// allowed. Returns RC_OK; RC_DNA_BAD_NAME when |qname| is NULL, empty, has an empty label, a
// label over 63 octets, a byte outside [A-Za-z0-9-_], or is over 255 wire octets (nothing is
// appended then); RC_ENOBUFS when |out| cannot grow (its error is sticky). Borrows |qname|.
// Thread: the owner of |out|.
RT_MUSTCHECK rc_t dna_dnsmsg_query(core_bld_t *out, uint16_t id, const char *qname,
                                   uint16_t qtype);

// dna_dnsmsg_parse parses the response |msg| (|len| bytes, untrusted) to the query |want_id|
// |qname| |qtype| into |out| (never NULL). Checks: a full header with QR=1, opcode QUERY and ID
// |want_id|; exactly one question equal to |qname| (case-insensitive), |qtype|, class IN; every
// record of the answer, authority and additional sections well formed (names per the limits
// above; CNAME RDATA is one name exactly); at most one OPT record, with the root owner, in the
// additional section. Bytes after the declared sections are rejected (RC_PROTO): a resolver
// never sends them and a message is parsed to its end.
// With TC=1 only the header and question are checked and no answers are collected (|tc| true).
// Otherwise CNAMEs of class IN are followed from |qname| through the answer section (at most
// DNA_DNSMSG_MAX_CNAMES hops, more is RC_PROTO) unless |qtype| is CNAME, and the records of
// |qtype| and class IN owned by the final name are collected; records for other names (and
// RRSIGs) are ignored. The rcode is reported, not judged: NXDOMAIN and SERVFAIL return RC_OK.
// Returns RC_OK or RC_PROTO (then |out| is zeroed); RC_DNA_BAD_NAME when |qname| is not a valid
// name as for dna_dnsmsg_query. Borrows |msg|: |out->answers[i].rdata| and |out->msg| point
// into it and are valid while it is. Thread: any.
RT_MUSTCHECK rc_t dna_dnsmsg_parse(dna_dnsmsg_t *out, const uint8_t *msg, size_t len,
                                   uint16_t want_id, const char *qname, uint16_t qtype);

// dna_dnsmsg_srv parses the SRV RDATA |rr| (an answer of |msg|, whose whole message is needed
// for the target's compression pointers) into |out|. Returns RC_OK, or RC_PROTO when the RDATA
// is short, the target name is malformed or does not end exactly at the RDATA's end, or a target
// label holds a byte outside [A-Za-z0-9-_] (|out| is zeroed then); RC_EINVAL when |rr->rdata|
// does not lie inside |msg->msg|. Borrows both. Thread: any.
RT_MUSTCHECK rc_t dna_dnsmsg_srv(dna_dnsmsg_srv_t *out, const dna_dnsmsg_t *msg,
                                 const dna_dnsmsg_rr_t *rr);

// dna_dnsmsg_a / dna_dnsmsg_aaaa copy the address of an A (4 bytes) / AAAA (16 bytes) RDATA into
// |out| (network byte order). Return RC_OK, or RC_PROTO when the RDATA length is wrong (|out|
// unchanged). Thread: any.
RT_MUSTCHECK rc_t dna_dnsmsg_a(uint8_t out[4], const dna_dnsmsg_rr_t *rr);
RT_MUSTCHECK rc_t dna_dnsmsg_aaaa(uint8_t out[16], const dna_dnsmsg_rr_t *rr);

#endif

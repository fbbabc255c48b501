// admin.h: the admin socket fedctl talks to (AF_UNIX stream, mode 0600, config admin.socket).
//
// One thread accepts a connection, reads one request line, writes one JSON object and closes.
// Commands: "peers", "pairs", "verdicts [--domain D] [--peer IP[:PORT]]", "verdicts-flush ADDR",
// "flush-peer ADDR", "drain-peer ADDR", "undrain-peer ADDR", "stats", "reload" (rt_reload_run:
// answers ok, or the reason the new configuration was refused). The verdict table has its own
// shard locks and is read by the admin thread itself. Pool state belongs to the workers:
// the admin thread never reads it; it posts an RT_MSG_ADMIN to every worker's inbox and waits
// (bounded) for each worker to append its part (rt_pool_admin_dump) to the request's buffer.
#ifndef RT_ROUTER_ADMIN_H
#define RT_ROUTER_ADMIN_H

#include <stddef.h>
#include <sys/socket.h>

#include "router/core/bytes.h"

typedef struct rt_admin rt_admin_t;
struct rt_router;
struct rt_worker;
struct rt_msg;

// rt_admin_start binds |path| (a stale socket there is removed first), makes it mode 0600 and
// starts the admin thread serving router |rt|. Returns an owned handle, or NULL with a reason in
// |err|. Thread: main, after the workers started.
rt_admin_t *rt_admin_start(struct rt_router *rt, const char *path, char *err, size_t err_len);

// rt_admin_stop stops the thread, removes the socket and frees |a| (NULL is fine). Call it after
// the workers have been joined: requests they never answered are freed here. Thread: main.
void rt_admin_stop(rt_admin_t *a);

// rt_admin_worker_answer handles RT_MSG_ADMIN |m| on worker |w|: appends the worker's part of the
// answer and signals the admin thread. Never blocks beyond the request's short mutex. Takes |m|.
// Thread: worker |w|.
void rt_admin_worker_answer(struct rt_worker *w, struct rt_msg *m);

// rt_admin_json_str appends |s| as a quoted JSON string (", \ and control bytes escaped; bytes
// >= 0x80 are passed through, so UTF-8 stays UTF-8). NULL appends null. Thread: any.
void rt_admin_json_str(core_bld_t *b, const char *s);

// What fedctl flush-peer / drain-peer / undrain-peer ask of a worker's peers.
typedef enum rt_admin_peer_op {
    RT_ADMIN_PEER_FLUSH = 1, // end its streams now (</stream:stream>); queued stanzas: new one
    RT_ADMIN_PEER_DRAIN,     // no new pairs; end each stream once quiet (s2s.shutdown_timeout)
    RT_ADMIN_PEER_UNDRAIN,   // back to normal
} rt_admin_peer_op_t;

// rt_pool_admin_peer (peer.c) applies |op| to worker |w|'s peers at |sa| (family, address and
// port; plain and direct-TLS alike) and appends one JSON object per peer acted on to |b|
// (comma-separated, no brackets). Thread: worker |w|.
void rt_pool_admin_peer(struct rt_worker *w, rt_admin_peer_op_t op,
                        const struct sockaddr_storage *sa, core_bld_t *b);

#endif

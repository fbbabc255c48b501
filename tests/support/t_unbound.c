// t_unbound.c: see t_unbound.h.
#include "tests/support/t_unbound.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

const char *t_unbound_path(void) {
    static const char *const paths[] = {"/usr/sbin/unbound", "/usr/local/sbin/unbound",
                                        "/usr/bin/unbound"};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        if (access(paths[i], X_OK) == 0) {
            return paths[i];
        }
    }
    return NULL;
}

static int bind_lo(int type, uint16_t port, uint16_t *out_port) {
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -1;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
        close(fd);
        return -1;
    }
    if (out_port != NULL) {
        *out_port = ntohs(sa.sin_port);
    }
    return fd;
}

uint16_t t_free_udp_port(void) {
    for (int attempt = 0; attempt < 20; attempt++) {
        uint16_t port = 0;
        int u = bind_lo(SOCK_DGRAM, 0, &port);
        if (u < 0) {
            return 0;
        }
        int t = bind_lo(SOCK_STREAM, port, NULL);
        close(u);
        if (t >= 0) {
            close(t);
            return port;
        }
    }
    return 0;
}

// probe sends one DNS query (A ready.test.) to 127.0.0.1:|port| and waits |ms| for any answer.
static int probe(uint16_t port, int ms) {
    static const unsigned char q[] = {0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
                                      0x00, 0x00, 5,    'r',  'e',  'a',  'd',  'y',  4,    't',
                                      'e',  's',  't',  0,    0x00, 0x01, 0x00, 0x01};
    struct sockaddr_in sa;
    unsigned char buf[512];
    int ok = -1;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -1;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (sendto(fd, q, sizeof(q), 0, (struct sockaddr *)&sa, sizeof(sa)) == (ssize_t)sizeof(q)) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, ms) == 1 && recv(fd, buf, sizeof(buf), 0) >= 12 && buf[0] == 0x12 &&
            buf[1] == 0x34) {
            ok = 0;
        }
    }
    close(fd);
    return ok;
}

int t_unbound_start(t_unbound_t *u, const char *zone_conf, uint16_t port) {
    const char *bin = t_unbound_path();
    char conf[256], logf[256];
    FILE *f = NULL;
    if (bin == NULL) {
        fprintf(stderr, "t_unbound: unbound not installed\n");
        return -1;
    }
    if (u->dir[0] == '\0') {
        snprintf(u->dir, sizeof(u->dir), "/tmp/t_unbound.XXXXXX");
        if (mkdtemp(u->dir) == NULL) {
            fprintf(stderr, "t_unbound: mkdtemp: %s\n", strerror(errno));
            u->dir[0] = '\0';
            return -1;
        }
    }
    u->port = port != 0 ? port : t_free_udp_port();
    if (u->port == 0) {
        fprintf(stderr, "t_unbound: no free port\n");
        return -1;
    }
    if (snprintf(conf, sizeof(conf), "%s/unbound.conf", u->dir) >= (int)sizeof(conf) ||
        snprintf(logf, sizeof(logf), "%s/unbound.log", u->dir) >= (int)sizeof(logf)) {
        return -1;
    }
    f = fopen(conf, "w");
    if (f == NULL) {
        fprintf(stderr, "t_unbound: %s: %s\n", conf, strerror(errno));
        return -1;
    }
    fprintf(f,
            "server:\n"
            "  verbosity: 1\n"
            "  interface: 127.0.0.1\n"
            "  port: %u\n"
            "  do-ip6: no\n"
            "  do-daemonize: no\n"
            "  chroot: \"\"\n"
            "  username: \"\"\n"
            "  directory: \"%s\"\n"
            "  pidfile: \"%s/unbound.pid\"\n"
            "  use-syslog: no\n"
            "  logfile: \"\"\n"
            "  num-threads: 1\n"
            "  outgoing-range: 32\n"
            "  module-config: \"iterator\"\n"
            "  do-not-query-localhost: no\n"
            "  access-control: 127.0.0.0/8 allow\n"
            "  local-zone: \"test.\" static\n"
            "%s\n"
            "remote-control:\n"
            "  control-enable: no\n",
            (unsigned)u->port, u->dir, u->dir, zone_conf != NULL ? zone_conf : "");
    if (fclose(f) != 0) {
        return -1;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "t_unbound: fork: %s\n", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        // unbound must not outlive a test that crashes or is killed by the ctest timeout
        if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent) {
            _exit(127);
        }
        int fd = open(logf, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
        }
        execl(bin, bin, "-d", "-c", conf, (char *)NULL);
        _exit(127);
    }
    u->pid = pid;
    for (int i = 0; i < 100; i++) { // up to ~10 s
        int status;
        if (probe(u->port, 100) == 0) {
            return 0;
        }
        if (waitpid(pid, &status, WNOHANG) == pid) {
            u->pid = 0;
            fprintf(stderr, "t_unbound: unbound exited (status %d), see %s\n", status, logf);
            return -1;
        }
    }
    fprintf(stderr, "t_unbound: unbound did not answer on port %u\n", (unsigned)u->port);
    t_unbound_stop(u);
    return -1;
}

void t_unbound_stop(t_unbound_t *u) {
    if (u->pid > 0) {
        int status;
        kill(u->pid, SIGTERM);
        while (waitpid(u->pid, &status, 0) < 0 && errno == EINTR) {
        }
        u->pid = 0;
    }
}

void t_unbound_cleanup(t_unbound_t *u) {
    char path[256];
    static const char *const files[] = {"unbound.conf", "unbound.log", "unbound.pid"};
    t_unbound_stop(u);
    if (u->dir[0] == '\0') {
        return;
    }
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        if (snprintf(path, sizeof(path), "%s/%s", u->dir, files[i]) < (int)sizeof(path)) {
            unlink(path);
        }
    }
    rmdir(u->dir);
    u->dir[0] = '\0';
}

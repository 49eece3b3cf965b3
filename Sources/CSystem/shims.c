#define _GNU_SOURCE
#include "CSystem.h"
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

const uint32_t CGW_EPOLLIN = EPOLLIN;
const uint32_t CGW_EPOLLOUT = EPOLLOUT;
const uint32_t CGW_EPOLLERR = EPOLLERR;
const uint32_t CGW_EPOLLHUP = EPOLLHUP;
const uint32_t CGW_EPOLLRDHUP = EPOLLRDHUP;

const int CGW_EPOLL_CTL_ADD = EPOLL_CTL_ADD;
const int CGW_EPOLL_CTL_MOD = EPOLL_CTL_MOD;
const int CGW_EPOLL_CTL_DEL = EPOLL_CTL_DEL;

int cgw_errno(void) { return errno; }

int cgw_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }

int cgw_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t data) {
    struct epoll_event ev;
    ev.events = events;
    ev.data.u64 = data;
    return epoll_ctl(epfd, op, fd, &ev);
}

int cgw_epoll_wait(int epfd, cgw_event *out, int maxEvents, int timeoutMs) {
    struct epoll_event evs[1024];
    if (maxEvents > 1024) maxEvents = 1024;
    int n = epoll_wait(epfd, evs, maxEvents, timeoutMs);
    for (int i = 0; i < n; i++) {
        out[i].events = evs[i].events;
        out[i].data = evs[i].data.u64;
    }
    return n;
}

int cgw_eventfd(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }

int cgw_eventfd_signal(int fd) {
    uint64_t one = 1;
    ssize_t r;
    do { r = write(fd, &one, sizeof one); } while (r < 0 && errno == EINTR);
    /* EAGAIN means the counter is saturated: the loop is already going to wake. */
    return (r == sizeof one || (r < 0 && errno == EAGAIN)) ? 0 : -1;
}

int cgw_eventfd_drain(int fd) {
    uint64_t value;
    ssize_t r;
    do { r = read(fd, &value, sizeof value); } while (r < 0 && errno == EINTR);
    return r == sizeof value ? 0 : -1;
}

int cgw_listen_tcp(const char *host, int port, int backlog, int reusePort, int *boundPort) {
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    /* Numeric hosts never touch DNS; "localhost" is resolved from /etc/hosts at start-up only. */
    if (strcmp(host, "localhost") != 0) hints.ai_flags |= AI_NUMERICHOST;
    char portText[16];
    snprintf(portText, sizeof portText, "%d", port);
    int rc = getaddrinfo(host, portText, &hints, &res);
    if (rc != 0 || res == NULL) { errno = EINVAL; return -1; }
    int fd = -1;
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) continue;
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (reusePort) setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, backlog) == 0) break;
        int saved = errno;
        close(fd);
        errno = saved;
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) return -1;
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET) *boundPort = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        else if (ss.ss_family == AF_INET6) *boundPort = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    }
    return fd;
}

int cgw_port_is_free(const char *host, int port) {
    int bound = 0;
    int fd = cgw_listen_tcp(host, port, 1, 0, &bound);
    if (fd < 0) return -1;
    close(fd);
    return 0;
}

int cgw_accept(int listenFd) {
    int fd;
    do { fd = accept4(listenFd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC); } while (fd < 0 && errno == EINTR);
    if (fd >= 0) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    return fd;
}

ssize_t cgw_sendmsg(int fd, const struct iovec *iov, int iovcnt) {
    /* One buffer (the usual fan-out case: one event per subscriber per pass): send() skips
       copying and checking a msghdr and an iovec array in the kernel. */
    if (iovcnt == 1) return send(fd, iov[0].iov_base, iov[0].iov_len, MSG_NOSIGNAL | MSG_DONTWAIT);
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = (struct iovec *)iov;
    msg.msg_iovlen = (size_t)iovcnt;
    return sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
}

ssize_t cgw_send(int fd, const void *buf, size_t len) { return send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT); }
ssize_t cgw_recv(int fd, void *buf, size_t len) { return recv(fd, buf, len, MSG_DONTWAIT); }
int cgw_shutdown_write(int fd) { return shutdown(fd, SHUT_WR); }
int cgw_close(int fd) { return close(fd); }

int cgw_peer_name(int fd, char *buf, size_t len) {
    struct sockaddr_storage ss;
    socklen_t slen = sizeof ss;
    if (getpeername(fd, (struct sockaddr *)&ss, &slen) != 0) return -1;
    char ip[INET6_ADDRSTRLEN];
    int port = 0;
    if (ss.ss_family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
        port = ntohs(a->sin_port);
        snprintf(buf, len, "%s:%d", ip, port);
    } else if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
        port = ntohs(a->sin6_port);
        snprintf(buf, len, "[%s]:%d", ip, port);
    } else {
        return -1;
    }
    return 0;
}

uint64_t cgw_monotonic_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t cgw_monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int64_t cgw_wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long cgw_raise_nofile_limit(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return -1;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) return -1;
    }
    return (long)rl.rlim_cur;
}

void cgw_prepare_signals(void) {
    signal(SIGPIPE, SIG_IGN);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
}

int cgw_wait_termination(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    int sig = 0;
    while (sigwait(&set, &sig) != 0) {}
    return sig;
}

void cgw_raise_termination(void) { kill(getpid(), SIGTERM); }

long cgw_rss_kib(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long kib = -1;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "VmRSS:", 6) == 0) { kib = strtol(line + 6, NULL, 10); break; }
    }
    fclose(f);
    return kib;
}

int cgw_set_thread_niceness(int n) { return setpriority(PRIO_PROCESS, (id_t)gettid(), n); }

int cgw_thread_niceness(void) {
    errno = 0;
    return getpriority(PRIO_PROCESS, (id_t)gettid());
}

int cgw_set_thread_idle_policy(void) {
    struct sched_param p = {.sched_priority = 0};
    return sched_setscheduler((pid_t)gettid(), SCHED_IDLE, &p);
}

int cgw_set_thread_normal_policy(void) {
    struct sched_param p = {.sched_priority = 0};
    return sched_setscheduler((pid_t)gettid(), SCHED_OTHER, &p);
}

int cgw_thread_is_idle_policy(void) { return sched_getscheduler((pid_t)gettid()) == SCHED_IDLE ? 1 : 0; }

void cgw_set_thread_name(const char *name) { pthread_setname_np(pthread_self(), name); }

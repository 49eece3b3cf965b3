#ifndef QV_CSYSTEM_H
#define QV_CSYSTEM_H
/* Linux syscalls for the reactor. Swift's Glibc module does not expose <sys/epoll.h>,
 * epoll_event is packed (awkward from Swift) and several flags are macros, so the few
 * calls the reactor needs are wrapped here. Every function prefixed cgw_ is C. */
#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

/* Interest/readiness bits, as plain integers. */
extern const uint32_t CGW_EPOLLIN;
extern const uint32_t CGW_EPOLLOUT;
extern const uint32_t CGW_EPOLLERR;
extern const uint32_t CGW_EPOLLHUP;
extern const uint32_t CGW_EPOLLRDHUP;

/* One ready event, unpacked. */
typedef struct {
    uint32_t events;
    uint64_t data;
} cgw_event;

int cgw_errno(void);
int cgw_epoll_create(void);
/* The kernel's epoll_ctl operations (macros, invisible to Swift). */
extern const int CGW_EPOLL_CTL_ADD;
extern const int CGW_EPOLL_CTL_MOD;
extern const int CGW_EPOLL_CTL_DEL;
/* epoll_ctl with one of the ops above; returns 0 or -1 (errno). */
int cgw_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t data);
/* At most 1024 events per call. */
int cgw_epoll_wait(int epfd, cgw_event *out, int maxEvents, int timeoutMs);

int cgw_eventfd(void);
int cgw_eventfd_signal(int fd);
int cgw_eventfd_drain(int fd);

/* Listening TCP socket on a numeric host (or "localhost"), non-blocking, SO_REUSEADDR, and
 * SO_REUSEPORT when reusePort != 0. port 0 picks one; *boundPort receives the port.
 * Returns the fd, or -1 with errno set. */
int cgw_listen_tcp(const char *host, int port, int backlog, int reusePort, int *boundPort);
/* 0 when nobody listens on host:port, else -1 with errno (EADDRINUSE when another socket —
 * maybe another process's SO_REUSEPORT listener — holds it). A plain bind without
 * SO_REUSEPORT, so a second gateway cannot silently share a port that is already serving. */
int cgw_port_is_free(const char *host, int port);
/* accept4(SOCK_NONBLOCK|SOCK_CLOEXEC) + TCP_NODELAY. Returns fd or -1 (errno). */
int cgw_accept(int listenFd);
/* sendmsg with MSG_NOSIGNAL. */
ssize_t cgw_sendmsg(int fd, const struct iovec *iov, int iovcnt);
ssize_t cgw_send(int fd, const void *buf, size_t len);
ssize_t cgw_recv(int fd, void *buf, size_t len);
int cgw_shutdown_write(int fd);
int cgw_close(int fd);
/* Textual peer address "ip:port" into buf; returns 0 or -1. */
int cgw_peer_name(int fd, char *buf, size_t len);

/* Milliseconds since an arbitrary point, monotonic. Coarse clock (~4 ms), cheap. */
uint64_t cgw_monotonic_ms(void);
/* Nanoseconds, precise monotonic clock. */
uint64_t cgw_monotonic_ns(void);
/* Milliseconds since the Unix epoch. */
int64_t cgw_wall_ms(void);

/* Raise RLIMIT_NOFILE soft limit to the hard limit; returns the new soft limit. */
long cgw_raise_nofile_limit(void);
/* Ignore SIGPIPE process-wide, and block SIGTERM/SIGINT in the calling thread (new threads
 * inherit the mask) so that one thread can take them with cgw_wait_termination(). */
void cgw_prepare_signals(void);
/* Waits for SIGTERM or SIGINT; returns the signal number. */
int cgw_wait_termination(void);
/* Sends SIGTERM to this process (tests and programmatic stop). */
void cgw_raise_termination(void);
/* VmRSS of this process in KiB, or -1. */
long cgw_rss_kib(void);
/* The calling thread's nice value (setpriority(PRIO_PROCESS, gettid(), n): on Linux niceness is
 * per thread). Returns 0 or -1 (errno). cgw_thread_niceness reads it back (tests). */
int cgw_set_thread_niceness(int n);
int cgw_thread_niceness(void);
/* Moves the calling thread to SCHED_IDLE: it runs only when no normal thread wants the CPU, and
 * a waking normal thread preempts it at once. Returns 0 or -1 (errno). cgw_thread_is_idle_policy
 * reads it back (1 when SCHED_IDLE; tests). */
int cgw_set_thread_idle_policy(void);
/* Back to the normal policy (SCHED_OTHER) from SCHED_IDLE. Returns 0 or -1 (errno). */
int cgw_set_thread_normal_policy(void);
int cgw_thread_is_idle_policy(void);
/* Name the calling thread (visible in top/perf). */
void cgw_set_thread_name(const char *name);

/* Hint that the `bytes` from `p` will be read soon: fan-out walks thousands of cold objects,
 * one socket write apart, so asking a few subscribers ahead hides the cache misses. */
static inline void cgw_prefetch(const void *p, long bytes) {
    for (long off = 0; off < bytes; off += 64) __builtin_prefetch((const char *)p + off, 0, 3);
}

/* Relaxed atomic load and store of a 64-bit word: per-loop counter slots have one writer
 * (its loop), so a plain load+store replaces a locked read-modify-write, and readers on
 * other threads still see whole values. */
static inline uint64_t cgw_atomic_load_relaxed(const uint64_t *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }
static inline void cgw_atomic_store_relaxed(uint64_t *p, uint64_t v) { __atomic_store_n(p, v, __ATOMIC_RELAXED); }

#endif

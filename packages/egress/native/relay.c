/*
 * perimeter-relay: the byte relay behind an established egress tunnel, in the kernel.
 *
 *   perimeter-relay IDLE_SECONDS      (fd 0: the client's socket, fd 1: the upstream's)
 *
 * The proxy (Node.js) decides the tunnel, checks the client's first bytes (the TLS ClientHello),
 * then hands both sockets to this process, which moves the bytes with splice(2) through a pipe:
 * they never enter user space. A half-close is passed on (shutdown of the other side's write
 * half); the relay ends when both directions have ended, on an error, or after IDLE_SECONDS with
 * no byte either way. On exit it writes "BYTES_IN BYTES_OUT\n" to fd 2 (in: upstream to client).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

struct direction {
  int from, to;
  int pipe[2];
  size_t pending; /* bytes in the pipe, not yet written to `to` */
  int is_open;    /* `from` has not ended */
  unsigned long long bytes;
};

static int step(struct direction *d, short from_events, short to_events) {
  if (d->pending > 0 && (to_events & (POLLOUT | POLLERR | POLLHUP))) {
    ssize_t n = splice(d->pipe[0], NULL, d->to, NULL, d->pending, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (n > 0) {
      d->pending -= (size_t)n;
      d->bytes += (unsigned long long)n;
    } else if (n < 0 && errno != EAGAIN && errno != EINTR)
      return -1;
  }
  if (d->is_open && d->pending == 0 && (from_events & (POLLIN | POLLHUP | POLLERR))) {
    ssize_t n = splice(d->from, NULL, d->pipe[1], NULL, 1 << 16, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (n > 0)
      d->pending = (size_t)n;
    else if (n == 0) {
      d->is_open = 0;
      shutdown(d->to, SHUT_WR);
    } else if (errno != EAGAIN && errno != EINTR)
      return -1;
  }
  return 0;
}

int main(int argc, char **argv) {
  int idle_ms = (argc > 1 ? atoi(argv[1]) : 300) * 1000;
  struct direction out = {.from = 0, .to = 1, .is_open = 1}; /* client to upstream */
  struct direction in = {.from = 1, .to = 0, .is_open = 1};  /* upstream to client */
  if (pipe2(out.pipe, O_CLOEXEC | O_NONBLOCK) != 0 || pipe2(in.pipe, O_CLOEXEC | O_NONBLOCK) != 0) return 1;
  fcntl(out.pipe[1], F_SETPIPE_SZ, 1 << 16);
  fcntl(in.pipe[1], F_SETPIPE_SZ, 1 << 16);
  fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
  fcntl(1, F_SETFL, fcntl(1, F_GETFL) | O_NONBLOCK);
  int status = 0;
  while (out.is_open || in.is_open || out.pending > 0 || in.pending > 0) {
    /* fd 0 and fd 1 each appear once, with what either direction waits for on them. */
    struct pollfd p[2] = {{.fd = 0}, {.fd = 1}};
    if (out.is_open && out.pending == 0) p[0].events |= POLLIN;
    if (in.pending > 0) p[0].events |= POLLOUT;
    if (in.is_open && in.pending == 0) p[1].events |= POLLIN;
    if (out.pending > 0) p[1].events |= POLLOUT;
    if (p[0].events == 0 && p[1].events == 0) break;
    int r = poll(p, 2, idle_ms);
    if (r == 0) break; /* idle */
    if (r < 0) {
      if (errno == EINTR) continue;
      status = 1;
      break;
    }
    if (step(&out, p[0].revents, p[1].revents) != 0 || step(&in, p[1].revents, p[0].revents) != 0) {
      status = 1;
      break;
    }
    /* A direction whose reader is gone for good cannot drain: stop. */
    if (((p[0].revents | p[1].revents) & (POLLERR | POLLNVAL)) != 0) {
      status = 1;
      break;
    }
  }
  dprintf(2, "%llu %llu\n", in.bytes, out.bytes);
  return status;
}

/* Host port: the firmware as a Linux process, its "UART" a TCP connection or a pty.
 *
 *   hil_fw [--port N]   listen on 127.0.0.1:N (0 = ephemeral), print "HIL-HOST listening 127.0.0.1:<port>"
 *   hil_fw --pty        serve a pseudo-terminal, print "HIL-HOST pty <slave path>"
 *
 * A boot is what the link sees: every accepted connection starts a fresh process image (the listener is handed
 * over by exec), and a reboot (RESET mode 1, or SIGHUP from the harness = the reset line) re-execs with the
 * connection kept open, as an MCU reset keeps its UART attached. Either way main() runs from the start and prints
 * its banner on the link. The descriptors survive exec through the private options --listen-fd, --fd,
 * --pty-fd and --pty-slave-fd.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "hil/hil_port.h"
#include "hil/hil_proto.h"

#define HIL_HOST_MAX_ARGS 16

static int hil_link_fd = -1;      /* connection or pty master */
static int hil_listen_fd = -1;    /* TCP listener, -1 in pty mode */
static int hil_pty_slave_fd = -1; /* held open by us so the master never sees a hang-up while the harness is away */
static int hil_is_pty;
static char hil_argv0[256] = "hil_fw";
static char hil_cpu[65] = "unknown";
static volatile sig_atomic_t hil_reset_line;

static void hil_on_sighup(int sig)
{
    (void)sig;
    hil_reset_line = 1;
}

static void hil_die(const char *what)
{
    fprintf(stderr, "hil_fw (host): %s: %s\n", what, strerror(errno));
    exit(2);
}

/* exec ourselves with the given descriptors kept open; does not return */
static void hil_reexec(int with_connection)
{
    char bufs[4][16];
    char *argv[HIL_HOST_MAX_ARGS];
    int argc = 0;
    argv[argc++] = hil_argv0;
    if (hil_is_pty) {
        snprintf(bufs[0], sizeof(bufs[0]), "%d", hil_link_fd);
        snprintf(bufs[1], sizeof(bufs[1]), "%d", hil_pty_slave_fd);
        argv[argc++] = "--pty-fd";
        argv[argc++] = bufs[0];
        argv[argc++] = "--pty-slave-fd";
        argv[argc++] = bufs[1];
    } else {
        snprintf(bufs[2], sizeof(bufs[2]), "%d", hil_listen_fd);
        argv[argc++] = "--listen-fd";
        argv[argc++] = bufs[2];
        if (with_connection && hil_link_fd >= 0) {
            snprintf(bufs[3], sizeof(bufs[3]), "%d", hil_link_fd);
            argv[argc++] = "--fd";
            argv[argc++] = bufs[3];
        } else if (hil_link_fd >= 0) {
            close(hil_link_fd);
        }
    }
    argv[argc] = NULL;
    fflush(NULL);
    execv("/proc/self/exe", argv);
    hil_die("re-exec /proc/self/exe");
}

static void hil_set_nonblocking(int fd)
{
    const int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
        hil_die("fcntl O_NONBLOCK");
    }
}

static void hil_accept(void)
{
    for (;;) {
        const int fd = accept(hil_listen_fd, NULL, NULL);
        if (fd >= 0) {
            const int one = 1;
            /* frames are small and answered one by one: Nagle would add 40 ms to every answer */
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
            hil_link_fd = fd;
            hil_set_nonblocking(fd);
            return;
        }
        if (errno != EINTR) {
            hil_die("accept");
        }
        if (hil_reset_line) {
            hil_reexec(0);
        }
    }
}

static void hil_listen(unsigned port)
{
    hil_listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    if (hil_listen_fd < 0) {
        hil_die("socket");
    }
    const int one = 1;
    setsockopt(hil_listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons((uint16_t)port);
    if (bind(hil_listen_fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        hil_die("bind 127.0.0.1");
    }
    if (listen(hil_listen_fd, 1) < 0) {
        hil_die("listen");
    }
    socklen_t len = sizeof(addr);
    getsockname(hil_listen_fd, (struct sockaddr *)&addr, &len);
    printf("HIL-HOST listening 127.0.0.1:%u\n", (unsigned)ntohs(addr.sin_port));
    fflush(stdout);
}

static void hil_open_pty(void)
{
    hil_link_fd = posix_openpt(O_RDWR | O_NOCTTY);
    if (hil_link_fd < 0 || grantpt(hil_link_fd) < 0 || unlockpt(hil_link_fd) < 0) {
        hil_die("posix_openpt");
    }
    const char *path = ptsname(hil_link_fd);
    if (path == NULL) {
        hil_die("ptsname");
    }
    hil_pty_slave_fd = open(path, O_RDWR | O_NOCTTY);
    if (hil_pty_slave_fd < 0) {
        hil_die("open pty slave");
    }
    /* raw: no echo, no CR/LF translation, no signals from 0x03 in a float payload */
    struct termios t;
    if (tcgetattr(hil_pty_slave_fd, &t) < 0) {
        hil_die("tcgetattr");
    }
    cfmakeraw(&t);
    if (tcsetattr(hil_pty_slave_fd, TCSANOW, &t) < 0) {
        hil_die("tcsetattr");
    }
    printf("HIL-HOST pty %s\n", path);
    fflush(stdout);
}

/* /proc/self/cmdline: main() is portable and takes no arguments, so the port reads its own */
static int hil_read_args(char *buf, size_t cap, char **argv, int max)
{
    int fd = open("/proc/self/cmdline", O_RDONLY);
    if (fd < 0) {
        hil_die("open /proc/self/cmdline");
    }
    ssize_t n = read(fd, buf, cap - 1);
    close(fd);
    if (n < 0) {
        hil_die("read /proc/self/cmdline");
    }
    buf[n] = '\0';
    int argc = 0;
    for (ssize_t i = 0; i < n && argc < max; i += (ssize_t)strlen(buf + i) + 1) {
        argv[argc++] = buf + i;
    }
    return argc;
}

static int hil_arg_int(int argc, char **argv, int i)
{
    if (i + 1 >= argc) {
        fprintf(stderr, "hil_fw (host): %s needs a number\n", argv[i]);
        exit(2);
    }
    char *end = NULL;
    const long v = strtol(argv[i + 1], &end, 10);
    if (*end != '\0' || v < 0 || v > 65535) {
        fprintf(stderr, "hil_fw (host): %s %s: not a number in 0..65535\n", argv[i], argv[i + 1]);
        exit(2);
    }
    return (int)v;
}

void hil_port_init(void)
{
    char buf[1024];
    char *argv[HIL_HOST_MAX_ARGS];
    const int argc = hil_read_args(buf, sizeof(buf), argv, HIL_HOST_MAX_ARGS);
    int port = 0;
    int pty = 0;
    int fd = -1;
    if (argc > 0) {
        snprintf(hil_argv0, sizeof(hil_argv0), "%s", argv[0]);
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--port") == 0) {
            port = hil_arg_int(argc, argv, i++);
        } else if (strcmp(argv[i], "--pty") == 0) {
            pty = 1;
        } else if (strcmp(argv[i], "--fd") == 0) {
            fd = hil_arg_int(argc, argv, i++);
        } else if (strcmp(argv[i], "--listen-fd") == 0) {
            hil_listen_fd = hil_arg_int(argc, argv, i++);
        } else if (strcmp(argv[i], "--pty-fd") == 0) {
            hil_link_fd = hil_arg_int(argc, argv, i++);
            hil_is_pty = 1;
        } else if (strcmp(argv[i], "--pty-slave-fd") == 0) {
            hil_pty_slave_fd = hil_arg_int(argc, argv, i++);
        } else {
            fprintf(stderr, "usage: %s [--port N | --pty]\n", argv[0]);
            exit(2);
        }
    }

    struct utsname u;
    if (uname(&u) == 0) {
        snprintf(hil_cpu, sizeof(hil_cpu), "%s", u.machine);
    }
    signal(SIGPIPE, SIG_IGN); /* a vanished peer is an EPIPE we handle, not a death */
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = hil_on_sighup; /* no SA_RESTART: a blocked accept() must see the reset */
    sigaction(SIGHUP, &sa, NULL);

    if (hil_is_pty) {
        hil_set_nonblocking(hil_link_fd);
        return;
    }
    if (pty) {
        hil_is_pty = 1;
        hil_open_pty();
        hil_set_nonblocking(hil_link_fd);
        return;
    }
    if (hil_listen_fd < 0) {
        hil_listen((unsigned)port);
    }
    if (fd >= 0) {
        hil_link_fd = fd;
        hil_set_nonblocking(fd);
        return;
    }
    hil_accept();
}

/* The peer closed: the next connection is a new boot. */
static void hil_peer_gone(void)
{
    hil_reexec(0);
}

size_t hil_port_read(uint8_t *dst, size_t max)
{
    if (hil_reset_line) {
        hil_port_reboot();
    }
    const ssize_t n = read(hil_link_fd, dst, max);
    if (n > 0) {
        return (size_t)n;
    }
    if (n == 0 && !hil_is_pty) {
        hil_peer_gone();
    }
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        if (hil_is_pty && errno == EIO) {
            return 0u;
        }
        hil_peer_gone();
    }
    return 0u;
}

void hil_port_write(const uint8_t *src, size_t len)
{
    while (len > 0u) {
        const ssize_t n = hil_is_pty ? write(hil_link_fd, src, len) : send(hil_link_fd, src, len, MSG_NOSIGNAL);
        if (n > 0) {
            src += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
            struct pollfd p = {hil_link_fd, POLLOUT, 0};
            poll(&p, 1, 100);
            continue;
        }
        if (!hil_is_pty) {
            hil_peer_gone();
        }
        return; /* pty with nobody reading and a full queue: the harness is gone, drop the answer */
    }
}

uint64_t hil_port_counter(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void hil_port_idle(void)
{
    struct pollfd p = {hil_link_fd, POLLIN, 0};
    poll(&p, 1, 50);
}

void hil_port_reboot(void)
{
    hil_reexec(1);
}

void hil_port_facts(hil_port_facts_t *facts)
{
    facts->ram_bytes = 0u; /* no budget: the process takes what it needs */
    facts->flash_bytes = 0u;
    facts->stack_bytes = 0u;
    facts->stack_high_water = 0u;
    facts->counter_hz = 1000000000u;
    facts->counter_kind = HIL_COUNTER_WALL_NS;
    facts->board_name = HIL_BOARD_NAME;
    facts->cpu_name = hil_cpu;
}

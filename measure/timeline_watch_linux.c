/* timeline_watch_linux: the timeline of a command that iopsd runs. A sampler
 * thread samples the measured tree on absolute deadlines and, in a separate
 * code path of the same poll loop, drains the command's stdout and stderr
 * (pipes put in place of iopsd's own fds 1 and 2 for the run), passes every
 * byte on to the real stdout and stderr at once, and parses EVENT lines.
 *
 * Sampling never waits for output: a wake-up reads at most one chunk per
 * pipe before the deadline is checked again, and the command never blocks on
 * a full pipe for longer than one chunk's relay. */
#include "measure/timeline_watch.h"
#include "util/clock.h"
#include "util/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define CHUNK 65536
/* After the run: how long output is still drained from processes left
 * running (they may keep the pipes open forever). */
#define DRAIN_NS 200000000ull

struct tl_watch {
    struct timeline *tl;
    struct tl_tree tree;
    FILE *jsonl;
    bool capture;
    int pipe_r[2]; /* read ends: stdout, stderr (-1: not captured) */
    int saved[2];  /* the real stdout and stderr, where output goes */
    int stopfd;    /* eventfd: the run is over */
    pthread_t thread;
    bool started;
    bool have_prev;
    struct tl_sample prev;
    struct tl_eventfeed feed[2];
    uint64_t t0;
    bool have_exact;
    uint64_t exact[4]; /* the run's exact totals, for the last sample */
};

static void write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return; /* the reader is gone: output is dropped, draining goes on */
        }
        p += w;
        n -= (size_t)w;
    }
}

static void emit_new_events(struct tl_watch *w, size_t before)
{
    if (!w->jsonl)
        return;
    for (size_t i = before; i < w->tl->nevents; i++)
        tl_jsonl_event(w->jsonl, &w->tl->events[i]);
    fflush(w->jsonl);
}

static void take_sample(struct tl_watch *w, bool final)
{
    struct tl_sample s;
    tl_sample_tree(&w->tree, &s);
    if (w->tree.fast)
        w->tl->fast_count = true;
    if (final) {
        timeline_add_final_sample(w->tl, &s);
        if (w->have_exact) {
            timeline_set_final_io(w->tl, w->exact);
            s = *timeline_last(w->tl);
        }
    } else {
        timeline_add_sample(w->tl, &s);
    }
    if (w->jsonl) {
        tl_jsonl_sample(w->jsonl, &s, w->have_prev ? &w->prev : NULL);
        fflush(w->jsonl);
    }
    w->prev = s;
    w->have_prev = true;
}

/* Reads one chunk of stream k; false at EOF or error. */
static bool relay(struct tl_watch *w, int k)
{
    char buf[CHUNK];
    ssize_t n = read(w->pipe_r[k], buf, sizeof(buf));
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return true;
    if (n <= 0)
        return false;
    write_all(w->saved[k], buf, (size_t)n);
    size_t before = w->tl->nevents;
    w->feed[k].received = (double)(clock_mono_ns() - w->t0) / 1e9;
    tl_eventfeed_feed(&w->feed[k], buf, (size_t)n);
    emit_new_events(w, before);
    return true;
}

static void close_stream(struct tl_watch *w, int k)
{
    size_t before = w->tl->nevents;
    tl_eventfeed_finish(&w->feed[k]);
    emit_new_events(w, before);
    close(w->pipe_r[k]);
    w->pipe_r[k] = -1;
}

static void *watch_main(void *arg)
{
    struct tl_watch *w = arg;
    uint64_t step = (uint64_t)(w->tl->interval * 1e9), next = w->t0;
    bool stopping = false;
    uint64_t drain_until = 0;
    for (;;) {
        uint64_t now = clock_mono_ns();
        if (!stopping && now >= next) {
            take_sample(w, false);
            while (next <= now) /* absolute deadlines: missed ones are skipped */
                next += step;
        }
        struct pollfd pf[3];
        int np = 0, which[3];
        for (int k = 0; k < 2; k++)
            if (w->pipe_r[k] >= 0) {
                pf[np] = (struct pollfd){.fd = w->pipe_r[k], .events = POLLIN};
                which[np++] = k;
            }
        if (!stopping) {
            pf[np] = (struct pollfd){.fd = w->stopfd, .events = POLLIN};
            which[np++] = -1;
        }
        if (stopping && (np == 0 || now >= drain_until))
            break;
        uint64_t until = stopping ? drain_until : next;
        uint64_t wait = until > now ? until - now : 0;
        struct timespec ts = {(time_t)(wait / 1000000000ull), (long)(wait % 1000000000ull)};
        int r = ppoll(pf, (nfds_t)np, &ts, NULL);
        if (r < 0 && errno != EINTR)
            break;
        for (int i = 0; r > 0 && i < np; i++) {
            if (!pf[i].revents)
                continue;
            if (which[i] < 0) {
                stopping = true;
                drain_until = clock_mono_ns() + DRAIN_NS;
                for (int k = 0; k < 2; k++)
                    if (w->pipe_r[k] >= 0)
                        fcntl(w->pipe_r[k], F_SETFL, O_NONBLOCK);
                continue;
            }
            if (!relay(w, which[i]))
                close_stream(w, which[i]);
        }
    }
    for (int k = 0; k < 2; k++)
        if (w->pipe_r[k] >= 0)
            close_stream(w, k);
    take_sample(w, true);
    return NULL;
}

int tl_watch_prepare(struct tl_watch **out, struct timeline *tl, bool capture, FILE *jsonl,
                     char *err, size_t errlen)
{
    struct tl_watch *w = xcalloc(1, sizeof(*w));
    w->tl = tl;
    w->jsonl = jsonl;
    w->capture = capture;
    w->pipe_r[0] = w->pipe_r[1] = w->saved[0] = w->saved[1] = -1;
    w->tree.root = getpid();
    w->tree.include_root = false;
    w->tree.kinds = true;
    w->tree.have_base = true; /* a new tree: its counters start at 0 */
    /* The start is now, before the command is started: a line it prints at
     * once is after it; the first sample comes once it has been executed. */
    w->t0 = w->tree.t0_mono = clock_mono_ns();
    tl->t0_wall = clock_wall_seconds();
    timeline_add_event(tl, tl->t0_wall, 0, TL_SRC_START, "start", 5);
    emit_new_events(w, 0);
    tl_eventfeed_init(&w->feed[0], tl, TL_SRC_STDOUT);
    tl_eventfeed_init(&w->feed[1], tl, TL_SRC_STDERR);
    w->stopfd = eventfd(0, EFD_CLOEXEC);
    if (w->stopfd < 0) {
        snprintf(err, errlen, "eventfd: %s", strerror(errno));
        free(w);
        return -errno;
    }
    if (capture) {
        fflush(stdout);
        fflush(stderr);
        for (int k = 0; k < 2; k++) {
            int p[2];
            if (pipe2(p, O_CLOEXEC) < 0 || (w->saved[k] = fcntl(k + 1, F_DUPFD_CLOEXEC, 3)) < 0 ||
                dup2(p[1], k + 1) < 0) {
                int e = errno;
                snprintf(err, errlen, "capturing output: %s", strerror(e));
                tl_watch_finish(w, NULL);
                return -e;
            }
            close(p[1]);
            w->pipe_r[k] = p[0];
        }
        /* Python writes its output at once when it goes to a pipe, as fdprof
         * asks too, so EVENT lines arrive when they are written. */
        setenv("PYTHONUNBUFFERED", "1", 0);
    }
    *out = w;
    return 0;
}

void tl_watch_started(void *arg, pid_t helper)
{
    struct tl_watch *w = arg;
    if (w->started)
        return;
    w->tree.helper = helper;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    w->started = pthread_create(&w->thread, NULL, watch_main, w) == 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

void tl_watch_finish(struct tl_watch *w, const uint64_t exact_io[4])
{
    if (!w)
        return;
    if (exact_io) {
        memcpy(w->exact, exact_io, sizeof(w->exact));
        w->have_exact = true;
    }
    /* iopsd's own fds 1 and 2 back: the pipes' write ends are then held only
     * by processes of the tree, so they reach EOF when the tree is done. */
    for (int k = 0; k < 2; k++)
        if (w->saved[k] >= 0)
            dup2(w->saved[k], k + 1);
    if (w->started) {
        uint64_t one = 1;
        if (write(w->stopfd, &one, sizeof(one)) < 0)
            perror("iopsd: timeline");
        pthread_join(w->thread, NULL);
        double end = clock_wall_seconds();
        timeline_add_event(w->tl, end, (double)(clock_mono_ns() - w->t0) / 1e9, TL_SRC_END, "end",
                           3);
        emit_new_events(w, w->tl->nevents - 1);
    }
    for (int k = 0; k < 2; k++) {
        if (w->pipe_r[k] >= 0)
            close(w->pipe_r[k]);
        if (w->saved[k] >= 0)
            close(w->saved[k]);
    }
    close(w->stopfd);
    free(w);
}

/* live: the watcher of a spawned run (see live.h). One thread of iopsd's,
 * with every signal blocked, waits in sigtimedwait for SIGUSR1 with the next
 * tick's deadline as its timeout: a SIGUSR1 prints the status block, a tick
 * samples for the live alerts. The command never sees SIGUSR1: it is sent
 * to iopsd, which blocks it in all its threads, and the command starts with
 * the mask iopsd itself was given (spawn_set_child_mask). */
#include "measure/live.h"
#include "measure/spawn.h"
#include "util/clock.h"
#include "util/xalloc.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NLIVE 3
static const enum finding_rule live_rules[NLIVE] = {FR_FD_COUNT, FR_IOPS, FR_THROUGHPUT};

struct meas_live {
    pthread_mutex_t lock; /* guards fn, ctx, backend, published, pending */
    meas_live_fn fn;
    void *ctx;
    char backend[16];
    bool published; /* a source came (the command runs, or ran) */
    bool pending;   /* a SIGUSR1 came before the source: answered when it comes */
    pthread_t thread;
    atomic_bool stop;
    int out;
    uint64_t t0; /* CLOCK_MONOTONIC ns at start (before a source exists) */
    struct live_alert alert[NLIVE];
    bool ticking; /* a live rule is on: sample every LIVE_TICK_NS */
    unsigned statuses, alerts;
    const struct meas_backend *win_be; /* meas_live_publish_window */
    struct meas_window *win;
};

/* ---- the watcher ---- */

/* Under l->lock: a source is there. A status asked for while the command was
 * being started (between the fork and iopsd's noting the exec, which under
 * load can be after the command's first calls) is answered now. */
static void published(struct meas_live *l)
{
    l->published = true;
    if (l->pending) {
        l->pending = false;
        pthread_kill(l->thread, SIGUSR1);
    }
}

void meas_live_publish(struct meas_live *l, meas_live_fn fn, void *ctx, const char *backend)
{
    if (!l)
        return;
    pthread_mutex_lock(&l->lock);
    l->fn = fn;
    l->ctx = ctx;
    snprintf(l->backend, sizeof l->backend, "%s", backend);
    published(l);
    pthread_mutex_unlock(&l->lock);
}

/* Called under l->lock (take), like every source. */
static int window_source(void *ctx, struct meas_progress *p)
{
    struct meas_live *l = ctx;
    return l->win_be->window_sample(l->win, p);
}

int meas_live_window_sample(struct meas_live *l, const struct meas_backend *be,
                            struct meas_window *w, struct meas_progress *p)
{
    if (!be->window_sample)
        return -ENOTSUP;
    if (!l)
        return be->window_sample(w, p);
    pthread_mutex_lock(&l->lock);
    int rc = be->window_sample(w, p);
    pthread_mutex_unlock(&l->lock);
    return rc;
}

void meas_live_publish_window(struct meas_live *l, const struct meas_backend *be,
                              struct meas_window *w)
{
    if (!l || !be->window_sample)
        return;
    pthread_mutex_lock(&l->lock);
    l->win_be = be;
    l->win = w;
    l->fn = window_source;
    l->ctx = l;
    snprintf(l->backend, sizeof l->backend, "%s", be->name);
    published(l);
    pthread_mutex_unlock(&l->lock);
}

void meas_live_withdraw(struct meas_live *l)
{
    if (!l)
        return;
    pthread_mutex_lock(&l->lock);
    l->fn = NULL;
    l->ctx = NULL;
    pthread_mutex_unlock(&l->lock);
}

/* The source's totals now; false when there is none (yet, or any more).
 * defer: a status request; with no source yet it is kept for the source. */
static bool take(struct meas_live *l, struct meas_progress *p, char *backend, size_t blen,
                 bool defer, bool *deferred)
{
    pthread_mutex_lock(&l->lock);
    bool ok = false;
    if (deferred)
        *deferred = false;
    if (!l->fn && !l->published && defer) {
        l->pending = true;
        *deferred = true;
    }
    if (l->fn) {
        memset(p, 0, sizeof *p);
        p->open_fds = -1;
        ok = l->fn(l->ctx, p) == 0;
        snprintf(backend, blen, "%s", l->backend);
    }
    pthread_mutex_unlock(&l->lock);
    return ok;
}

static void emit(struct meas_live *l, const char *s, size_t len)
{
    while (len > 0) {
        ssize_t w = write(l->out, s, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        s += w;
        len -= (size_t)w;
    }
}

static void check(struct meas_live *l, enum finding_rule rule, double value, double elapsed,
                  double window)
{
    for (int i = 0; i < NLIVE; i++) {
        if (live_rules[i] != rule || !live_alert_step(&l->alert[i], value))
            continue;
        char line[256];
        size_t n = live_format_alert(line, sizeof line, rule, value, l->alert[i].threshold, elapsed,
                                     window);
        emit(l, line, n);
        l->alerts++;
    }
}

static void *live_thread(void *arg)
{
    struct meas_live *l = arg;
    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    /* last: the latest tick's sample (or status's, when not ticking); before:
     * the one before it, for a rate over a window of at least 0.1 s */
    struct meas_progress last = {0}, before = {0}, cur = {0};
    bool have_last = false, have_before = false;
    uint64_t next = clock_mono_ns() + LIVE_TICK_NS;
    char backend[16];
    while (!atomic_load(&l->stop)) {
        struct timespec ts = {0, 0};
        if (l->ticking) {
            uint64_t now = clock_mono_ns();
            uint64_t left = next > now ? next - now : 0;
            ts.tv_sec = (time_t)(left / 1000000000ull);
            ts.tv_nsec = (long)(left % 1000000000ull);
        }
        int s = sigtimedwait(&usr1, NULL, l->ticking ? &ts : NULL);
        if (atomic_load(&l->stop))
            break;
        if (s == SIGUSR1) {
            char text[1024];
            size_t n;
            bool deferred;
            if (take(l, &cur, backend, sizeof backend, true, &deferred)) {
                const struct meas_progress *ref = NULL;
                if (have_last && cur.elapsed_seconds - last.elapsed_seconds >= 0.1)
                    ref = &last;
                else if (have_before)
                    ref = &before;
                static const struct meas_progress zero = {0}; /* since the start */
                n = live_format_status(text, sizeof text, backend, &cur, ref ? ref : &zero);
                emit(l, text, n);
                if (cur.open_fds >= 0)
                    check(l, FR_FD_COUNT, (double)cur.open_fds, cur.elapsed_seconds, 0);
                if (!l->ticking) {
                    before = last;
                    have_before = have_last;
                    last = cur;
                    have_last = true;
                }
            } else if (deferred) {
                continue; /* answered when the command runs */
            } else {
                n = (size_t)snprintf(text, sizeof text,
                                     "iopsd: status at %.2f s: no totals (the command has "
                                     "ended)\n",
                                     (double)(clock_mono_ns() - l->t0) / 1e9);
                emit(l, text, n);
            }
            l->statuses++;
            continue;
        }
        if (s < 0 && errno != EAGAIN)
            continue; /* EINTR */
        /* a tick */
        uint64_t now = clock_mono_ns();
        do
            next += LIVE_TICK_NS; /* a deadline missed under load is skipped */
        while (next <= now);
        if (!take(l, &cur, backend, sizeof backend, false, NULL))
            continue;
        if (cur.open_fds >= 0)
            check(l, FR_FD_COUNT, (double)cur.open_fds, cur.elapsed_seconds, 0);
        double iops, bps;
        if (have_last && live_rates(&last, &cur, &iops, &bps)) {
            double win = cur.elapsed_seconds - last.elapsed_seconds;
            check(l, FR_IOPS, iops, cur.elapsed_seconds, win);
            check(l, FR_THROUGHPUT, bps, cur.elapsed_seconds, win);
        }
        before = last;
        have_before = have_last;
        last = cur;
        have_last = true;
    }
    pthread_mutex_lock(&l->lock);
    bool pending = l->pending;
    pthread_mutex_unlock(&l->lock);
    if (pending) { /* the command never ran (its exec failed) */
        static const char never[] = "iopsd: status: no totals (the command did not start)\n";
        emit(l, never, sizeof never - 1);
        l->statuses++;
    }
    return NULL;
}

struct meas_live *meas_live_start(const struct findings_opts *fo, int out, char *err, size_t errlen)
{
    struct meas_live *l = xcalloc(1, sizeof *l);
    pthread_mutex_init(&l->lock, NULL);
    l->out = out;
    l->t0 = clock_mono_ns();
    snprintf(l->backend, sizeof l->backend, "?");
    for (int i = 0; i < NLIVE; i++) {
        l->alert[i].threshold = fo->threshold[live_rules[i]];
        l->alert[i].off = fo->off[live_rules[i]];
        if (!l->alert[i].off)
            l->ticking = true;
    }
    /* Blocked from now on in iopsd; the command gets the mask we had. */
    sigset_t usr1, all, before;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &usr1, &before);
    spawn_set_child_mask(&before);
    /* The watcher blocks everything: no signal meant for another thread
     * (SIGCHLD for proc's sampler) is ever taken by it. */
    sigfillset(&all);
    sigset_t mine;
    pthread_sigmask(SIG_SETMASK, &all, &mine);
    int rc = pthread_create(&l->thread, NULL, live_thread, l);
    pthread_sigmask(SIG_SETMASK, &mine, NULL);
    if (rc) {
        snprintf(err, errlen, "pthread_create: %s", strerror(rc));
        pthread_sigmask(SIG_SETMASK, &before, NULL);
        spawn_set_child_mask(NULL);
        pthread_mutex_destroy(&l->lock);
        free(l);
        return NULL;
    }
    return l;
}

void meas_live_stop(struct meas_live *l, unsigned *statuses, unsigned *alerts)
{
    if (!l)
        return;
    atomic_store(&l->stop, true);
    pthread_kill(l->thread, SIGUSR1); /* wakes it; the stop flag says why */
    pthread_join(l->thread, NULL);
    spawn_set_child_mask(NULL);
    if (statuses)
        *statuses = l->statuses;
    if (alerts)
        *alerts = l->alerts;
    pthread_mutex_destroy(&l->lock);
    free(l);
}

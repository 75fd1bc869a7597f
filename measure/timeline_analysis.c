/* timeline_analysis: plateaus, jumps and the leak verdict over the descriptor
 * series.
 *
 * Compatibility mode is fdprof's detect_plateaus plus its plotting code, pass
 * for pass (seed-tools.md §1.5): samples below 0 are removed but the first k
 * times are kept (its misalignment, reproduced); fewer values than min_length
 * give nothing; pass 1 grows a region while each next value is within
 * `tolerance` of the mean of the region's last (up to) 5 values and keeps it
 * when it has min_length values, resuming at the rejected value (else at the
 * next one); pass 2 of fdprof does nothing; pass 3 merges a plateau into the
 * running one while their levels (medians) differ by less than
 * merge_threshold; a jump's size is the level difference truncated toward
 * zero, kept when |size| >= jump_threshold.
 *
 * Our mode fixes fdprof's failures: samples below 0 are dropped with their
 * times; a region is a plateau when it spans min_duration seconds (not a
 * number of samples, which depends on the interval); a final region that
 * follows a plateau (at most one transition sample between) is kept when it
 * has two samples or more (the run ended there, it is a step, not a ramp);
 * a jump's size is the exact difference, shown rounded. The leak
 * detector is common to both. */
#include "measure/timeline.h"
#include "util/xalloc.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define WINDOW 5

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* numpy's median and (population) variance. */
static void median_var(const double *v, size_t n, double *median, double *var)
{
    double *s = xmalloc(n * sizeof(*s));
    memcpy(s, v, n * sizeof(*s));
    qsort(s, n, sizeof(*s), cmp_double);
    *median = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    double mean = 0;
    for (size_t i = 0; i < n; i++)
        mean += v[i];
    mean /= (double)n;
    double acc = 0;
    for (size_t i = 0; i < n; i++)
        acc += (v[i] - mean) * (v[i] - mean);
    *var = acc / (double)n;
    free(s);
}

/* A plateau under construction: its values (for the median after merges). */
struct region {
    struct tl_plateau p;
    double *vals;
    size_t n;
};

static void region_finish(struct region *r)
{
    median_var(r->vals, r->n, &r->p.level, &r->p.variance);
    r->p.nvalues = r->n;
}

size_t tl_detect_plateaus(const double *t, const double *v, size_t n, const struct tl_params *p,
                          struct tl_plateau **out)
{
    *out = NULL;
    /* The series without its negative values; idx maps back to the input. */
    double *tv = xmalloc((n ? n : 1) * sizeof(*tv)), *vv = xmalloc((n ? n : 1) * sizeof(*vv));
    size_t *idx = xmalloc((n ? n : 1) * sizeof(*idx));
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < 0)
            continue;
        /* fdprof keeps the first m times, whatever was dropped. */
        tv[m] = p->compat ? t[m] : t[i];
        vv[m] = v[i];
        idx[m] = p->compat ? m : i;
        m++;
    }
    struct region *regs = NULL;
    size_t nregs = 0, regs_cap = 0;
    if (p->compat && m < p->min_length)
        goto out;

    /* Pass 1: stable regions, greedy. prev_end: one past the last kept. */
    size_t prev_end = 0;
    bool have_prev = false;
    for (size_t i = 0; i < m;) {
        size_t j = i + 1;
        while (j < m) {
            size_t len = j - i, w = len < WINDOW ? len : WINDOW;
            double mean = 0;
            for (size_t k = j - w; k < j; k++)
                mean += vv[k];
            mean /= (double)w;
            if (fabs(vv[j] - mean) <= p->tolerance)
                j++;
            else
                break;
        }
        size_t len = j - i;
        bool keep;
        if (p->compat)
            keep = len >= p->min_length;
        else /* a short final region counts right after a plateau (a step) */
            keep = len >= 2 && (tv[j - 1] - tv[i] >= p->min_duration - 1e-9 ||
                                (j == m && have_prev && i <= prev_end + 1));
        if (!keep) {
            i++;
            continue;
        }
        regs = xgrow(regs, &regs_cap, nregs + 1, sizeof(*regs));
        struct region *r = &regs[nregs++];
        memset(r, 0, sizeof(*r));
        r->p.start_time = tv[i];
        r->p.end_time = tv[j - 1];
        r->p.start_idx = idx[i];
        r->p.end_idx = idx[j - 1];
        r->n = len;
        r->vals = xmalloc(len * sizeof(*r->vals));
        memcpy(r->vals, vv + i, len * sizeof(*r->vals));
        region_finish(r);
        have_prev = true;
        prev_end = j;
        i = j;
    }

    /* Pass 3: merge neighbours whose levels are close (running median). */
    if (p->merge && nregs > 1) {
        size_t k = 0;
        for (size_t i = 0; i < nregs;) {
            struct region cur = regs[i];
            size_t j = i + 1;
            while (j < nregs && fabs(cur.p.level - regs[j].p.level) < p->merge_threshold) {
                cur.vals = xrealloc(cur.vals, (cur.n + regs[j].n) * sizeof(*cur.vals));
                memcpy(cur.vals + cur.n, regs[j].vals, regs[j].n * sizeof(*cur.vals));
                cur.n += regs[j].n;
                cur.p.end_time = regs[j].p.end_time;
                cur.p.end_idx = regs[j].p.end_idx;
                free(regs[j].vals);
                region_finish(&cur);
                j++;
            }
            regs[k++] = cur;
            i = j;
        }
        nregs = k;
    }

out:;
    struct tl_plateau *pl = nregs ? xmalloc(nregs * sizeof(*pl)) : NULL;
    for (size_t i = 0; i < nregs; i++) {
        pl[i] = regs[i].p;
        free(regs[i].vals);
    }
    free(regs);
    free(tv);
    free(vv);
    free(idx);
    *out = pl;
    return nregs;
}

size_t tl_detect_jumps(const struct tl_plateau *pl, size_t npl, const struct tl_params *p,
                       struct tl_jump **out)
{
    *out = NULL;
    if (npl < 2)
        return 0;
    struct tl_jump *j = xcalloc(npl - 1, sizeof(*j));
    size_t n = 0;
    for (size_t i = 0; i + 1 < npl; i++) {
        double d = pl[i + 1].level - pl[i].level;
        long shown = p->compat ? (long)trunc(d) : lround(d);
        bool keep = p->compat ? labs(shown) >= p->jump_threshold : fabs(d) >= p->jump_threshold;
        if (!keep)
            continue;
        struct tl_jump *x = &j[n++];
        x->from_time = pl[i].end_time;
        x->to_time = pl[i + 1].start_time;
        x->time = (x->from_time + x->to_time) / 2;
        x->size = d;
        x->rounded = shown;
        x->from_level = pl[i].level;
        x->to_level = pl[i + 1].level;
        x->event = -1;
    }
    if (!n) {
        free(j);
        return 0;
    }
    *out = j;
    return n;
}

void tl_leak_check(const double *t, const double *v, size_t n, const struct tl_params *p,
                   struct tl_leak *out)
{
    bool has = out->has_opens;
    int64_t omc = out->opens_minus_closes;
    memset(out, 0, sizeof(*out));
    out->has_opens = has;
    out->opens_minus_closes = omc;
    double st = 0, sv = 0;
    size_t m = 0, first = 0, last = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < 0)
            continue;
        if (!m)
            first = i;
        last = i;
        st += t[i];
        sv += v[i];
        m++;
    }
    if (m < 2)
        return;
    double tm = st / (double)m, vm = sv / (double)m, num = 0, den = 0, vv = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < 0)
            continue;
        num += (t[i] - tm) * (v[i] - vm);
        den += (t[i] - tm) * (t[i] - tm);
        vv += (v[i] - vm) * (v[i] - vm);
    }
    out->computed = true;
    out->slope = den > 0 ? num / den : 0;
    /* r^2 of a least-squares line: cov^2 / (var t * var v); a flat series
     * fits no line (0). A single step scores at most 0.75, a ramp near 1. */
    out->r2 = den > 0 && vv > 0 ? num * num / (den * vv) : 0;
    out->nvalid = m;
    out->first = lround(v[first]);
    out->last = lround(v[last]);
    out->duration = t[last] - t[first];
    out->growth = out->slope * out->duration;
    out->net = lround(v[last] - v[first]);
    /* opens - closes is shown beside it, not used: the tracer's open count
     * leaves out sockets, pipes and dups, which leak as well. */
    out->flagged = out->growth >= p->leak_threshold && out->net >= 1;
}

/* Seconds from the interval [a, b] to x (0 inside). */
static double gap_distance(double a, double b, double x)
{
    return x < a ? a - x : x > b ? x - b : 0;
}

void timeline_analyse(struct timeline *tl, const struct tl_params *p, bool has_opens,
                      int64_t opens_minus_closes)
{
    free(tl->plateaus);
    free(tl->jumps);
    tl->plateaus = NULL;
    tl->jumps = NULL;
    tl->params = *p;
    size_t n = tl->nsamples;
    double *t = xmalloc((n ? n : 1) * sizeof(*t)), *v = xmalloc((n ? n : 1) * sizeof(*v));
    for (size_t i = 0; i < n; i++) {
        t[i] = (double)tl->samples[i].mono_ns / 1e9;
        v[i] = tl->samples[i].open_fds;
    }
    tl->nplateaus = tl_detect_plateaus(t, v, n, p, &tl->plateaus);
    tl->njumps = tl_detect_jumps(tl->plateaus, tl->nplateaus, p, &tl->jumps);
    for (size_t i = 0; i < tl->njumps; i++) {
        struct tl_jump *j = &tl->jumps[i];
        for (size_t e = 0; e < tl->nevents; e++) {
            double d = gap_distance(j->from_time, j->to_time, tl->events[e].elapsed);
            if (j->event < 0 || d < j->event_distance) {
                j->event = (long)e;
                j->event_distance = d;
            }
        }
    }
    tl->leak.has_opens = has_opens;
    tl->leak.opens_minus_closes = opens_minus_closes;
    tl_leak_check(t, v, n, p, &tl->leak);
    tl->analysed = true;
    free(t);
    free(v);
}

/* fmt: numbers as people read them: thousands separators, binary units with
 * the exact count beside them, rates, durations, bucket labels. */
#include "render/render_int.h"
#include "util/numfmt.h"

#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

char *render__count(char *s, size_t n, uint64_t v)
{
    return numfmt_count(s, n, v);
}

char *render__scount(char *s, size_t n, long v)
{
    char tmp[40];
    uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    render__count(tmp, sizeof(tmp), mag);
    snprintf(s, n, "%s%s", v < 0 ? "-" : "", tmp);
    return s;
}

static const char *const bin_units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};

char *render__bytes_short(char *s, size_t n, uint64_t v)
{
    return numfmt_bytes(s, n, v);
}

char *render__bytes(char *s, size_t n, uint64_t v)
{
    char shortv[32], exact[40];
    render__bytes_short(shortv, sizeof(shortv), v);
    if (v < 1024) {
        snprintf(s, n, "%s", shortv);
        return s;
    }
    render__count(exact, sizeof(exact), v);
    snprintf(s, n, "%s (%s B)", shortv, exact);
    return s;
}

/* A non-negative finite double with two decimals and thousands separators. */
static char *fixed2(char *s, size_t n, double v)
{
    if (!isfinite(v) || v < 0) {
        snprintf(s, n, "n/a");
        return s;
    }
    if (v >= 1e18) { /* beyond any real rate: keep it short */
        snprintf(s, n, "%.3g", v);
        return s;
    }
    double ip = floor(v);
    unsigned cents = (unsigned)llround((v - ip) * 100.0);
    if (cents >= 100) {
        ip += 1;
        cents -= 100;
    }
    char whole[40];
    render__count(whole, sizeof(whole), (uint64_t)ip);
    snprintf(s, n, "%s.%02u", whole, cents);
    return s;
}

char *render__rate(char *s, size_t n, double v)
{
    return fixed2(s, n, v);
}

char *render__throughput(char *s, size_t n, double v)
{
    if (!isfinite(v) || v < 0) {
        snprintf(s, n, "n/a");
        return s;
    }
    if (v < 1023.995) {
        snprintf(s, n, "%.2f B/s", v);
        return s;
    }
    unsigned u = 0;
    while (u < 6 && v >= 1023.995) {
        v /= 1024.0;
        u++;
    }
    if (v >= 1e6) {
        snprintf(s, n, "%.3g %s/s", v, bin_units[u]);
        return s;
    }
    char num[48];
    fixed2(num, sizeof(num), v);
    snprintf(s, n, "%s %s/s", num, bin_units[u]);
    return s;
}

char *render__seconds(char *s, size_t n, double v)
{
    if (!isfinite(v) || v < 0)
        snprintf(s, n, "n/a");
    else if (v == 0)
        snprintf(s, n, "0 s");
    else if (v < 1e-3)
        snprintf(s, n, "%.1f \xc2\xb5s", v * 1e6);
    else if (v < 1)
        snprintf(s, n, "%.2f ms", v * 1e3);
    else if (v < 60)
        snprintf(s, n, "%.3f s", v);
    else if (v < 3600)
        snprintf(s, n, "%d min %04.1f s", (int)(v / 60), fmod(v, 60));
    else if (v < 1e9)
        snprintf(s, n, "%.0f h %02d min %02d s", floor(v / 3600), (int)fmod(v / 60, 60),
                 (int)fmod(v, 60));
    else
        snprintf(s, n, "%.3g s", v);
    return s;
}

char *render__si(char *s, size_t n, double v)
{
    static const char suffix[] = {'\0', 'K', 'M', 'G', 'T', 'P', 'E', 'Z', 'Y'};
    if (!isfinite(v) || v < 0) {
        snprintf(s, n, "?");
        return s;
    }
    unsigned u = 0;
    while (u < sizeof(suffix) - 1 && v >= 999.5) {
        v /= 1000.0;
        u++;
    }
    if (u == 0 || v >= 9.95 || fabs(v - round(v)) < 0.05)
        snprintf(s, n, "%.0f%.1s", v, &suffix[u]);
    else
        snprintf(s, n, "%.1f%.1s", v, &suffix[u]);
    return s;
}

char *render__size_label(char *s, size_t n, unsigned bucket)
{
    static const char units[] = {'\0', 'K', 'M', 'G', 'T', 'P', 'E'};
    if (bucket == 0 || bucket > 64) {
        snprintf(s, n, "0");
        return s;
    }
    unsigned p = bucket - 1; /* lower bound is 2^p */
    snprintf(s, n, "%u%.1s", 1u << (p % 10), &units[p / 10]);
    return s;
}

char *render__lat_label(char *s, size_t n, unsigned bucket, bool ascii)
{
    uint64_t lo, hi;
    report_lat_bucket_range(bucket, &lo, &hi);
    double ns = (double)lo;
    const char *us = ascii ? "us" : "\xc2\xb5s";
    if (ns < 1000)
        snprintf(s, n, "%.0fns", ns);
    else if (ns < 1e6)
        snprintf(s, n, ns < 1e4 ? "%.1f%s" : "%.0f%s", ns / 1e3, us);
    else if (ns < 1e9)
        snprintf(s, n, ns < 1e7 ? "%.1fms" : "%.0fms", ns / 1e6);
    else
        snprintf(s, n, ns < 1e10 ? "%.1fs" : "%.0fs", ns / 1e9);
    return s;
}

size_t render__width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xc0) != 0x80)
            w++;
    return w;
}

const char *render__signame(int sig)
{
    switch (sig) {
    case SIGHUP:
        return "SIGHUP";
    case SIGINT:
        return "SIGINT";
    case SIGQUIT:
        return "SIGQUIT";
    case SIGILL:
        return "SIGILL";
    case SIGTRAP:
        return "SIGTRAP";
    case SIGABRT:
        return "SIGABRT";
    case SIGBUS:
        return "SIGBUS";
    case SIGFPE:
        return "SIGFPE";
    case SIGKILL:
        return "SIGKILL";
    case SIGUSR1:
        return "SIGUSR1";
    case SIGSEGV:
        return "SIGSEGV";
    case SIGUSR2:
        return "SIGUSR2";
    case SIGPIPE:
        return "SIGPIPE";
    case SIGALRM:
        return "SIGALRM";
    case SIGTERM:
        return "SIGTERM";
    case SIGCHLD:
        return "SIGCHLD";
    case SIGCONT:
        return "SIGCONT";
    case SIGSTOP:
        return "SIGSTOP";
    case SIGTSTP:
        return "SIGTSTP";
    case SIGTTIN:
        return "SIGTTIN";
    case SIGTTOU:
        return "SIGTTOU";
    case SIGURG:
        return "SIGURG";
    case SIGXCPU:
        return "SIGXCPU";
    case SIGXFSZ:
        return "SIGXFSZ";
    case SIGVTALRM:
        return "SIGVTALRM";
    case SIGPROF:
        return "SIGPROF";
    case SIGWINCH:
        return "SIGWINCH";
    case SIGSYS:
        return "SIGSYS";
    default:
        return NULL;
    }
}

/* timeline_sample_linux: one sample of a process tree from /proc —
 * descriptors (fast count: the size of /proc/<pid>/fd, Linux >= 6.2), by
 * kind, live processes, and the I/O counters of /proc/<pid>/io.
 *
 * The I/O sum is over every process of the tree, zombies included: a child
 * reaped inside the tree moves its counters into its parent, so the sum is
 * conserved; the store clamps it so it never decreases. */
#include "measure/procfs.h"
#include "measure/timeline.h"
#include "util/clock.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TREE_MAX 4096
/* Above this many descriptors in one process, kinds are not counted (one
 * readlink each). */
#define KINDS_MAX_FDS 4096

static enum fd_kind kind_of_link(pid_t pid, const char *name, const char *target)
{
    if (!strncmp(target, "pipe:", 5))
        return FDK_PIPE;
    if (!strncmp(target, "socket:", 7))
        return FDK_SOCKET;
    if (target[0] != '/')
        return FDK_ANON; /* anon_inode:..., and anything else without a path */
    if (strncmp(target, "/dev/", 5))
        return FDK_FILE;
    char path[320];
    struct stat st;
    snprintf(path, sizeof(path), "/proc/%d/fd/%s", (int)pid, name);
    if (stat(path, &st) == 0) {
        if (S_ISCHR(st.st_mode))
            return FDK_CHARDEV;
        if (S_ISBLK(st.st_mode))
            return FDK_BLOCKDEV;
        if (S_ISFIFO(st.st_mode))
            return FDK_PIPE;
        if (S_ISSOCK(st.st_mode))
            return FDK_SOCKET;
    }
    return FDK_FILE;
}

long tl_count_fds(pid_t pid, int32_t kinds[FDK__COUNT], bool *fast)
{
    char path[64];
    struct stat st;
    snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
    if (stat(path, &st) < 0)
        return -errno;
    long count = (long)st.st_size;
    *fast = count > 0;
    if (kinds && count > KINDS_MAX_FDS)
        kinds = NULL;
    if (*fast && !kinds)
        return count;
    DIR *d = opendir(path);
    if (!d)
        return -errno;
    long n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        n++;
        if (kinds) {
            char lp[352], target[256];
            snprintf(lp, sizeof(lp), "%s/%s", path, de->d_name);
            ssize_t k = readlink(lp, target, sizeof(target) - 1);
            if (k < 0)
                continue; /* closed meanwhile */
            target[k] = '\0';
            kinds[kind_of_link(pid, de->d_name, target)]++;
        }
    }
    closedir(d);
    return *fast ? count : n;
}

int tl_sample_tree(struct tl_tree *tree, struct tl_sample *s)
{
    pid_t pids[TREE_MAX + 1];
    size_t n = 0;
    if (tree->include_root)
        pids[n++] = tree->root;
    long d = procfs_descendants(tree->root, pids + n, TREE_MAX);
    if (d > 0)
        n += d > TREE_MAX ? TREE_MAX : (size_t)d;

    memset(s, 0, sizeof(*s));
    uint64_t now = clock_mono_ns();
    s->mono_ns = now > tree->t0_mono ? now - tree->t0_mono : 0;
    s->wall = clock_wall_seconds();
    for (int k = 0; k < FDK__COUNT; k++)
        s->by_kind[k] = tree->kinds ? 0 : -1;
    long fds = 0;
    bool any = false, all_fast = true;
    uint64_t io[4] = {0, 0, 0, 0};
    pid_t helper = tree->helper;
    for (size_t i = 0; i < n; i++) {
        struct proc_io one;
        if (procfs_read_io(pids[i], &one) == 0) {
            io[0] += one.syscr;
            io[1] += one.syscw;
            io[2] += one.rchar;
            io[3] += one.wchar;
        }
        if (pids[i] == helper)
            continue;
        bool fast;
        int32_t kinds[FDK__COUNT] = {0};
        long c = tl_count_fds(pids[i], tree->kinds ? kinds : NULL, &fast);
        if (c < 0)
            continue; /* a zombie, or gone */
        any = true;
        all_fast &= fast;
        fds += c;
        s->processes++;
        if (tree->kinds && s->by_kind[0] >= 0) {
            long sum = 0;
            for (int k = 0; k < FDK__COUNT; k++)
                sum += kinds[k];
            if (sum == 0 && c > 0) /* too many to classify */
                for (int k = 0; k < FDK__COUNT; k++)
                    s->by_kind[k] = -1;
            else
                for (int k = 0; k < FDK__COUNT; k++)
                    s->by_kind[k] += kinds[k];
        }
    }
    if (!tree->have_base) {
        memcpy(tree->base, io, sizeof(io));
        tree->have_base = true;
    }
    uint64_t *dst[4] = {&s->read_ops, &s->write_ops, &s->read_bytes, &s->write_bytes};
    for (int k = 0; k < 4; k++)
        *dst[k] = io[k] > tree->base[k] ? io[k] - tree->base[k] : 0;
    if (!any) {
        s->open_fds = -1;
        for (int k = 0; k < FDK__COUNT; k++)
            s->by_kind[k] = -1;
        return -ESRCH;
    }
    s->open_fds = fds > INT32_MAX ? INT32_MAX : (int32_t)fds;
    tree->fast = all_fast;
    return 0;
}

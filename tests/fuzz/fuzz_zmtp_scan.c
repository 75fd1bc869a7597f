/* fuzz_zmtp_scan: the front's ZMTP scanner on any byte stream. Input: one
 * byte of options (bit 0: a subscription channel; bits 1-7: the chunk size
 * for the second pass), then the stream. The stream is scanned whole and
 * again in chunks: both passes must agree (result, reason, bytes consumed,
 * messages, live subscriptions; bytes consumed when valid), stay within the caps and the budget
 * of messages in progress, and return the budget to zero when released. */
#include "protocol/zmtp_scan.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct zmtp_caps caps[2] = {
    {.frame_max = 300, .msg_max = 700, .frames_max = 6, .command_max = 200, .handshake_max = 400},
    {.frame_max = 64,
     .msg_max = 256,
     .frames_max = 4,
     .command_max = 128,
     .handshake_max = 400,
     .subscriptions = true,
     .subs_max = 5,
     .sub_bytes_max = 40},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const struct zmtp_caps *c = &caps[data[0] & 1];
    size_t chunk = (size_t)(data[0] >> 1) + 1;
    data++, size--;
    static struct zmtp_scan a, b;
    /* one budget per pass (a shared one would count a's unfinished message
     * against b), under the message cap so that its cut is exercised */
    struct zmtp_budget ba = {0, 500}, bb = {0, 500};
    zmtp_scan_init(&a, c, &ba);
    zmtp_scan_init(&b, c, &bb);
    int ra = zmtp_scan_feed(&a, data, size), rb = 0;
    for (size_t i = 0; i < size && !rb; i += chunk)
        rb = zmtp_scan_feed(&b, data + i, size - i < chunk ? size - i : chunk);
    if (ra != rb || (!ra && a.consumed != b.consumed) || a.messages != b.messages ||
        a.nsubs != b.nsubs || a.sub_bytes != b.sub_bytes || strcmp(a.reason, b.reason))
        abort();
    if (ra == 0 && a.consumed != size)
        abort();
    if (a.msg_bytes > c->msg_max || ba.used > ba.max || bb.used > bb.max ||
        a.msg_frames > c->frames_max || a.nsubs > c->subs_max || a.sub_bytes > c->sub_bytes_max ||
        (!a.ready && a.consumed > c->handshake_max))
        abort();
    /* after a failure nothing more is accepted */
    if (ra && zmtp_scan_feed(&a, "x", 1) != -1)
        abort();
    zmtp_scan_release(&a);
    zmtp_scan_release(&b);
    if (ba.used != 0 || bb.used != 0)
        abort();
    return 0;
}

"""Hostile: big cells. A 20 MB cell failed with "Argument list too long"
(the engine's cap was 16 MiB). Cells up to 24 MiB run; a bigger one gets a
CellTooLarge error reply saying both sizes, and the kernel goes on."""
import unittest

from hostile import HostileCase, WrapHostileCase, run

CELL_MAX = 24 << 20


class BigCells(HostileCase):
    # a 24 MiB cell is held while it runs (the request, its parsed code, the
    # execute_input echo) and stays in the in-memory history
    rss_limit_kb = 128 * 1024

    def test_20mb_cell_runs(self):
        code = "#" + "x" * 20_000_000 + "\necho ok"
        rep, out, msgs = run(self.k.kc, code, timeout=120)
        self.assertEqual(rep["content"]["status"], "ok", rep["content"])
        self.assertEqual(out, "ok\n")
        self.assert_healthy("after a 20 MB cell")
        self.assert_clean_shutdown()

    def test_cell_over_the_cap(self):
        code = "#" + "x" * CELL_MAX + "\necho ok"  # CELL_MAX + 9 bytes
        rep, out, msgs = run(self.k.kc, code, timeout=120)
        c = rep["content"]
        self.assertEqual((c["status"], c["ename"]), ("error", "CellTooLarge"))
        self.assertEqual(c["evalue"], f"the cell is {CELL_MAX + 9} bytes; the largest cell the "
                         f"kernel runs is {CELL_MAX} bytes (24 MiB)")
        self.assertEqual(out, "")
        self.assertEqual([m["msg_type"] for m in msgs], ["status", "error", "status"])
        # exactly at the cap it runs
        code = "#" + "x" * (CELL_MAX - 9) + "\necho ok"
        self.assertEqual(len(code), CELL_MAX)
        rep, out, _ = run(self.k.kc, code, timeout=120)
        self.assertEqual((rep["content"]["status"], out), ("ok", "ok\n"))
        self.assert_healthy("after a cell over the cap")
        self.assert_clean_shutdown()


class WrapBigCells(WrapHostileCase):
    """The wrap kernel relays a big cell whole: ipykernel runs it, and
    execute_input echoes it (iopsd holds the request and the echo while
    they pass, not the cell's run)."""
    rss_limit_kb = 128 * 1024

    def test_20mb_cell_runs(self):
        code = "#" + "x" * 20_000_000 + "\nprint('ok')"
        rep, out, msgs = run(self.k.kc, code, timeout=120)
        self.assertEqual(rep["content"]["status"], "ok", rep["content"])
        self.assertEqual(out, "ok\n")
        echo = [m for m in msgs if m["msg_type"] == "execute_input"]
        self.assertEqual(len(echo), 1)
        self.assertEqual(echo[0]["content"]["code"], code)
        self.assert_healthy("after a 20 MB cell")
        self.assert_clean_shutdown()


if __name__ == "__main__":
    unittest.main()

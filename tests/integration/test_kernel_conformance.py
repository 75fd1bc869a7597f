"""jupyter_kernel_test's conformance suite against the native bash kernel.

Runs every test a bash kernel can honestly support. Not enabled, and why:
test_pager (the kernel sends no pager payloads), test_execute_result and
test_display_data (shell commands print streams; they have no rich results),
test_clear_output (no way to emit clear_output from bash), and test_history
(it needs code_execute_result; history is covered in test_kernel.py).
Needs JUPYTER_PATH pointing at a data dir holding kernels/iops-bash (ctest
sets it to the build tree)."""
import unittest

import jupyter_kernel_test


class IopsBashKernelTests(jupyter_kernel_test.KernelTests):
    kernel_name = "iops-bash"
    language_name = "bash"
    file_extension = ".sh"

    code_hello_world = "echo hello, world"
    code_stderr = "echo 'something went wrong' >&2"
    # A non-zero status without any output: exactly one `error` message.
    code_generate_error = "exit_status_test() { return 3; }; exit_status_test"

    completion_samples = [
        {"text": "ech", "matches": {"echo"}},
        {"text": "$HOM", "matches": {"$HOME"}},
        {"text": "echo $BASH_VERS", "matches": {"$BASH_VERSINFO", "$BASH_VERSION"}},
        {"text": "ls /us", "matches": {"/usr/"}},
        {"text": "cd /proc/sel", "matches": {"/proc/self/"}},
    ]

    complete_code_samples = [
        "echo hi",
        "if true; then echo y; fi",
        "for i in 1 2 3; do echo $i; done",
        "f() { echo in f; }",
        'echo "quoted \\" text"',
    ]
    incomplete_code_samples = [
        "if true; then",
        "echo 'open quote",
        'echo "open',
        "echo \\",
        "for i in 1 2; do",
        "f() {",
        "while true; do echo x",
    ]
    invalid_code_samples = ["fi", "done", ")", "then echo x"]

    code_inspect_sample = "cd"


if __name__ == "__main__":
    unittest.main()

"""jupyter_kernel_test's conformance suite against iops-python3 (Debian's
ipykernel behind `iopsd kernel --wrap python3`) and, with the same samples,
against the plain python3 kernel: the relay must give the same results.
The samples follow upstream jupyter_kernel_test's test_ipykernel.py; like
upstream, history is tested for tail and search only (ipykernel answers a
range request with session 0, see the protocol notes §5.5).
Needs JUPYTER_PATH pointing at a data dir holding kernels/iops-python3
(ctest sets it to the build tree)."""
import atexit
import os
import shutil
import tempfile
import unittest

# IPython keeps history in $IPYTHONDIR/profile_default/history.sqlite, shared
# by every session of the user: a search with unique=True sees other
# sessions' cells (another test running at the same time, an earlier run).
# This module's kernels get a history of their own.
os.environ["IPYTHONDIR"] = tempfile.mkdtemp(prefix="iopsd-ipython-")
atexit.register(shutil.rmtree, os.environ["IPYTHONDIR"], True)

import jupyter_kernel_test  # noqa: E402


class PythonSamples:
    language_name = "python"
    file_extension = ".py"
    code_hello_world = "print('hello, world')"
    code_stderr = "import sys; print('test', file=sys.stderr)"
    completion_samples = [{"text": "zi", "matches": {"zip"}}]
    complete_code_samples = ["1", "print('hello, world')", "def f(x):\n  return x*2\n\n\n"]
    incomplete_code_samples = ["print('''hello", "def f(x):\n  x*2"]
    invalid_code_samples = ["import = 7q"]
    code_page_something = "zip?"
    code_generate_error = "raise"
    code_execute_result = [
        {"code": "1+2+3", "result": "6"},
        {"code": "[n*n for n in range(1, 4)]", "result": "[1, 4, 9]"},
        {"code": "1.1", "result": "1.1"},
        {"code": "2**64", "result": "18446744073709551616"},
    ]
    code_display_data = [
        {"code": "from IPython.display import HTML, display; display(HTML('<b>test</b>'))",
         "mime": "text/html"},
        {"code": "from IPython.display import Math, display; display(Math('\\\\frac{1}{2}'))",
         "mime": "text/latex"},
    ]
    code_history_pattern = "1?2*"
    supported_history_operations = ("tail", "search")
    code_inspect_sample = "zip"
    code_clear_output = "from IPython.display import clear_output; clear_output()"


class WrappedPython3Tests(PythonSamples, jupyter_kernel_test.KernelTests):
    kernel_name = "iops-python3"


class DirectPython3Tests(PythonSamples, jupyter_kernel_test.KernelTests):
    kernel_name = "python3"


if __name__ == "__main__":
    unittest.main()

"""The two backends: make python-test names the compiled module
($IPCQ_CFFI_MODULE), so the suite runs on it; the same API tests pass in
ABI mode (IPCQ_CFFI_MODULE=none), and a module path that does not load
is an ImportError, not a silent fallback."""

import os
import subprocess
import sys

import ipcq

HERE = os.path.dirname(os.path.abspath(__file__))


def _python(code, **env):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=dict(os.environ, **env), timeout=60)


def test_suite_runs_on_the_compiled_module():
    path = os.environ.get("IPCQ_CFFI_MODULE")
    assert path and path != "none", "make python-test names the compiled module"
    assert ipcq.backend() == "api"
    assert os.path.samefile(ipcq._module.__file__, path)


def test_abi_mode_passes_the_api_tests():
    res = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "test_api.py", "test_numpy.py"], cwd=HERE, capture_output=True,
                         text=True, env=dict(os.environ, IPCQ_CFFI_MODULE="none"), timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    res = _python("import ipcq; print(ipcq.backend())", IPCQ_CFFI_MODULE="none")
    assert res.stdout.strip() == "abi", res.stderr


def test_a_named_module_that_does_not_load_is_an_error(tmp_path):
    res = _python("import ipcq", IPCQ_CFFI_MODULE=str(tmp_path / "missing.so"))
    assert res.returncode != 0 and "ImportError" in res.stderr

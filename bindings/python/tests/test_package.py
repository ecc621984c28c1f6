"""The package itself: typed stubs (mypy stubtest), doctests of the native docstrings, the docs."""

from __future__ import annotations

import doctest
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

import crmkit
from crmkit import _crmkit

HERE = Path(__file__).resolve().parent


def test_stubs_match_the_native_module() -> None:
    allowlist = HERE / "stubtest-allowlist.txt"
    result = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "crmkit._crmkit", "--allowlist", str(allowlist)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_typed_package_passes_mypy() -> None:
    package = Path(crmkit.__file__).parent
    assert (package / "py.typed").exists()
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--ignore-missing-imports", "--no-error-summary", "-p", "crmkit"],
        capture_output=True,
        text=True,
        cwd=package.parent,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def native_docstrings():
    for name, obj in vars(_crmkit).items():
        if name.startswith("_") or not getattr(obj, "__doc__", None):
            continue
        yield name, obj
        if inspect.isclass(obj):
            for attr, member in vars(obj).items():
                if not attr.startswith("_") and getattr(member, "__doc__", None):
                    yield f"{name}.{attr}", member


def test_native_docstring_examples_run() -> None:
    parser = doctest.DocTestParser()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    ran = 0
    for name, obj in native_docstrings():
        test = parser.get_doctest(obj.__doc__, {}, name, None, 0)
        if test.examples:
            runner.run(test)
            ran += len(test.examples)
    assert ran >= 5
    assert runner.failures == 0


def test_version() -> None:
    assert crmkit.__version__ == _crmkit.__version__
    assert crmkit.__version__.count(".") == 2


def test_cdnow_example_runs() -> None:
    script = HERE.parents[2] / "examples" / "python" / "cdnow.py"
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "69,659 transactions, 23,570 customers" in result.stdout
    assert "RFM segments" in result.stdout and "lifetimes API" in result.stdout
    assert "Segments in the CRM" in result.stdout and "win-back playbook" in result.stdout

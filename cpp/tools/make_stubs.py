"""Regenerate python/nnkernels/_core.pyi from the installed extension with pybind11-stubgen.

``python cpp/tools/make_stubs.py`` writes the stub; ``--check`` fails (exit 1, with a diff) when
the committed stub differs from what the extension says now (CI runs this). Module constants
keep their type only: their values (compiler, flags, ISA levels) are facts of one build, not of
the interface; the module defines no ``__all__``, so the stub declares none.
"""

from __future__ import annotations

import argparse
import difflib
import pathlib
import re
import subprocess
import sys
import tempfile

STUB = pathlib.Path(__file__).resolve().parents[2] / "python" / "nnkernels" / "_core.pyi"
CONSTANT = re.compile(r"^([A-Z][A-Z0-9_]*: [^=]+?) = .*$", re.M)
ALL = re.compile(r"^__all__: .*\n", re.M)  # the module has no __all__ (stubtest checks that)


def generate() -> str:
    with tempfile.TemporaryDirectory() as out:
        subprocess.run(
            [sys.executable, "-m", "pybind11_stubgen", "nnkernels._core", "-o", out, "--exit-code"],
            check=True,
            cwd=out,  # import the installed package, not a source tree
        )
        text = (pathlib.Path(out) / "nnkernels" / "_core.pyi").read_text()
    return ALL.sub("", CONSTANT.sub(r"\1", text))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the stub is not current")
    args = parser.parse_args()
    text = generate()
    if not args.check:
        STUB.write_text(text)
        return 0
    current = STUB.read_text() if STUB.exists() else ""
    if current == text:
        return 0
    sys.stdout.writelines(
        difflib.unified_diff(current.splitlines(True), text.splitlines(True), str(STUB), "new")
    )
    print(f"{STUB.name} is stale: run `python cpp/tools/make_stubs.py` and commit it")
    return 1


if __name__ == "__main__":
    sys.exit(main())

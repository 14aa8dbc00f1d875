"""The cffi declarations (ipcq/_cdef.py) against include/ipcq.h: a C file
that includes the header and repeats every declared function (a
conflicting type does not compile), asserts every constant, and asserts
the size and offset of every structure and field as cffi's ABI mode lays
them out (the fallback backend; the compiled one takes them from the
compiler).  Every public function of the header is declared or listed in
NOT_BOUND."""

import os
import re
import subprocess

import cffi

import ipcq
from ipcq._cdef import CDEF, NOT_BOUND

ffi = cffi.FFI()
ffi.cdef(CDEF)
lib = ffi.dlopen(ipcq.library_path())


def _header():
    return os.path.join(os.environ["IPCQ_INCLUDE"], "ipcq.h")


def _functions():
    """The function declarations of the cdef, one string each."""
    body = re.sub(r"#define[^\n]*\n", "", CDEF)
    decls = []
    depth = 0
    start = 0
    for i, ch in enumerate(body):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif ch == ";" and depth == 0:
            decl = body[start:i].strip()
            start = i + 1
            if "(" in decl and not decl.startswith(("struct", "enum")):
                decls.append(decl + ";")
    return decls


def _structs():
    return re.findall(r"^struct (\w+) \{", CDEF, re.M)


def test_every_header_function_is_declared():
    with open(_header()) as f:
        public = set(re.findall(r"IPCQ_API[^(;]*?\b(ipcq_\w+)\s*\(", f.read()))
    declared = {re.search(r"\b(ipcq_\w+)\s*\(", d).group(1) for d in _functions()}
    assert public, "no IPCQ_API function found in ipcq.h"
    missing = public - declared - set(NOT_BOUND)
    assert not missing, "functions of ipcq.h missing from _cdef.py: %s" % sorted(missing)
    assert not declared - public, "declared but not in ipcq.h: %s" % sorted(declared - public)


def test_declarations_compile_against_the_header(tmp_path):
    lines = ['#include "ipcq.h"', "#include <stddef.h>"]
    lines += _functions()
    for name in re.findall(r"#define (\w+)", CDEF):
        value = getattr(lib, name)
        literal = "%dull" % value if value > 0 else "(%d)" % value
        lines.append("_Static_assert((%s) == %s, \"%s\");" % (name, literal, name))
    for name in re.findall(r"^\s+(IPCQ_\w+) = ", CDEF, re.M):
        lines.append("_Static_assert(%s == %d, \"%s\");" % (name, getattr(lib, name), name))
    for s in _structs():
        ctype = ffi.typeof("struct %s" % s)
        lines.append("_Static_assert(sizeof(struct %s) == %d, \"sizeof %s\");"
                     % (s, ffi.sizeof(ctype), s))
        for field, cf in ctype.fields:
            lines.append("_Static_assert(offsetof(struct %s, %s) == %d, \"%s.%s\");"
                         % (s, field, cf.offset, s, field))
            lines.append("_Static_assert(sizeof(((struct %s *)0)->%s) == %d, \"%s.%s size\");"
                         % (s, field, ffi.sizeof(cf.type), s, field))
    src = tmp_path / "cdef_check.c"
    src.write_text("\n".join(lines) + "\n")
    cc = os.environ.get("IPCQ_CC", "cc")
    res = subprocess.run([cc, "-std=c11", "-Wall", "-Wextra", "-Werror", "-I",
                          os.environ["IPCQ_INCLUDE"], "-fsyntax-only", str(src)],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_library_version_matches():
    assert lib.ipcq_version() == lib.IPCQ_VERSION
    assert ipcq.version().count(".") == 2

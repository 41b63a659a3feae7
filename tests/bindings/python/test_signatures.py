# Copyright (c) Canopy authors.
"""The ctypes table of the binding (bindings/python/canopy/_signatures.py)
against the C header: every ``CANOPY_EXPORT`` prototype of
include/canopy/c.h is parsed, and each function's return type and
parameter types, mapped by the table below, must be the ones the binding
declares; the binding must declare no function the header lacks. A
prototype that disagreed would corrupt memory at run time instead of
failing here.

The binding's table is compared as written (``_U64``, ``_SZ``...), not
only as the ctypes types it names: on 64-bit Linux ``c_size_t`` and
``c_uint64`` are the same type, so a size_t declared as uint64_t would
slip past a comparison of types, and break on a 32-bit platform. The
aliases themselves are checked to be the ctypes types they stand for.

The header is $CANOPY_C_HEADER when set (CTest sets it), else the one in
this source tree. The table is read from this source tree by path, without
importing the package, so no libcanopy is needed.
"""

import ast
import ctypes
import importlib.util
import os
import re
import unittest

_HERE = os.path.dirname(os.path.abspath(__file__))
_ROOT = os.path.join(_HERE, "..", "..", "..")
_DEFAULT_HEADER = os.path.join(_ROOT, "include", "canopy", "c.h")
_TABLE = os.path.join(_ROOT, "bindings", "python", "canopy", "_signatures.py")

#: C type (spaces normalised, see _normalise) -> the alias of
#: _signatures.py the binding must declare it with. Opaque handles
#: (canopy_*_t) follow the rule in _alias. A C type missing here fails the
#: test: extend the table on purpose.
C_TO_ALIAS = {
    "void": "None",
    "void*": "_P",
    "int": "_I",
    "canopy_code_t": "_I",
    "uint32_t": "_U32",
    "uint64_t": "_U64",
    "int64_t": "_I64",
    "size_t": "_SZ",
    "const char*": "_S",
    "const char* const*": "_SA",
    # char** out-parameters (error messages, texts) receive memory the
    # binding frees with canopy_free: it reads them as void*.
    "char**": "_PP",
    "int*": "_PI",
    "size_t*": "_PSZ",
    "const size_t*": "_PSZ",
    "uint64_t*": "_PU64",
    "const uint64_t*": "_PU64",
    # A malloc'd id array freed with canopy_free.
    "uint64_t**": "_PP",
    # Opaque byte strings (log entries), read with ctypes.string_at.
    "const uint8_t*": "_P",
    "const uint8_t* const*": "_PP",
    "canopy_progress_fn": "_PROGRESS",
    "canopy_log_fn": "_LOG",
}

#: What each alias must be.
ALIASES = {
    "_P": ctypes.c_void_p,
    "_PP": ctypes.POINTER(ctypes.c_void_p),
    "_S": ctypes.c_char_p,
    "_SA": ctypes.POINTER(ctypes.c_char_p),
    "_I": ctypes.c_int,
    "_PI": ctypes.POINTER(ctypes.c_int),
    "_U32": ctypes.c_uint32,
    "_U64": ctypes.c_uint64,
    "_PU64": ctypes.POINTER(ctypes.c_uint64),
    "_I64": ctypes.c_int64,
    "_SZ": ctypes.c_size_t,
    "_PSZ": ctypes.POINTER(ctypes.c_size_t),
}

_DECL = re.compile(r"CANOPY_EXPORT\s+([^;(]*?)\s*\b(canopy_[a-z0-9_]+)\s*\(([^;]*?)\)\s*;", re.S)
_HANDLE = re.compile(r"^(?:const )?canopy_[a-z0-9_]+_t(\*+)$")


def _normalise(c_type):
    """'const  char *const *' -> 'const char* const*'."""
    c_type = " ".join(c_type.split())
    c_type = re.sub(r"\s*\*", "*", c_type)
    return re.sub(r"\*(?=[A-Za-z_])", "* ", c_type)


def _alias(c_type, where):
    """The alias a normalised C type must be declared with."""
    handle = _HANDLE.match(c_type)
    if handle:
        # A handle is a void*; a handle out-parameter a void**.
        return "_P" if len(handle.group(1)) == 1 else "_PP"
    if c_type not in C_TO_ALIAS:
        raise AssertionError("%s: no ctypes mapping for the C type '%s'; add it to "
                             "C_TO_ALIAS in %s" % (where, c_type, os.path.basename(__file__)))
    return C_TO_ALIAS[c_type]


def _parameter_type(parameter, where):
    """The C type of one parameter declaration ('const char* key')."""
    parameter = _normalise(parameter)
    match = re.match(r"^(.*?[\w*])\s*\b([a-z_][a-z0-9_]*)$", parameter)
    if not match or match.group(1) == "const":
        raise AssertionError("%s: cannot parse the parameter '%s'" % (where, parameter))
    return _normalise(match.group(1))


def parse_header(text):
    """{name: (return alias, [parameter aliases])} of every exported
    function declared in the header text."""
    out = {}
    for ret, name, params in _DECL.findall(text):
        if name in out:
            raise AssertionError("%s is declared twice" % name)
        params = " ".join(params.split())
        aliases = []
        if params != "void":
            for i, parameter in enumerate(params.split(",")):
                where = "%s parameter %d" % (name, i + 1)
                aliases.append(_alias(_parameter_type(parameter, where), where))
        out[name] = (_alias(_normalise(ret), name + " return type"), aliases)
    return out


def _name(node):
    """An alias (a Name) or None (a Constant) of the table, as text."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Constant) and node.value is None:
        return "None"
    raise AssertionError("%s:%d: not an alias: %s" % (_TABLE, node.lineno, ast.dump(node)))


def parse_table(source):
    """{name: (return alias, [parameter aliases])} of the SIGNATURES dict
    literal in _signatures.py, as written."""
    for node in ast.parse(source).body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1 and
                getattr(node.targets[0], "id", None) == "SIGNATURES"):
            out = {}
            for key, value in zip(node.value.keys, node.value.values):
                if key.value in out:
                    raise AssertionError("%s is in the table twice" % key.value)
                ret, params = value.elts
                out[key.value] = (_name(ret), [_name(p) for p in params.elts])
            return out
    raise AssertionError("no SIGNATURES = {...} in " + _TABLE)


def _load_module():
    spec = importlib.util.spec_from_file_location("canopy_signatures_under_test", _TABLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class SignatureTest(unittest.TestCase):

    def setUp(self):
        path = os.environ.get("CANOPY_C_HEADER") or _DEFAULT_HEADER
        with open(path) as f:
            self.declared = parse_header(f.read())
        with open(_TABLE) as f:
            self.table = parse_table(f.read())

    def test_parser_sees_the_whole_header(self):
        # A pattern gone stale would see (almost) nothing and pass vacuously.
        self.assertGreater(len(self.declared), 300)
        self.assertEqual(self.declared["canopy_account_create"],
                         ("_I", ["_P", "_U64", "_P", "_PU64", "_PP"]))
        self.assertEqual(self.declared["canopy_entity_reassign"],
                         ("_I", ["_P", "_U64", "_I", "_I", "_SA", "_SZ", "_U64", "_PP", "_PP"]))
        self.assertEqual(self.declared["canopy_version"], ("_S", []))
        self.assertEqual(self.declared["canopy_free"], ("None", ["_P"]))

    def test_same_functions(self):
        missing = sorted(set(self.declared) - set(self.table))
        extra = sorted(set(self.table) - set(self.declared))
        self.assertEqual((missing, extra), ([], []),
                         "ctypes table vs c.h: (declared in c.h but missing from the table, "
                         "in the table but not declared in c.h)")

    def test_same_types(self):
        wrong = []
        for name, (ret, params) in sorted(self.declared.items()):
            if name not in self.table:
                continue  # test_same_functions says so
            got_ret, got_params = self.table[name]
            if (got_ret, got_params) != (ret, params):
                wrong.append("%s: c.h says %s(%s), the table %s(%s)" % (
                    name, ret, ", ".join(params), got_ret, ", ".join(got_params)))
        self.assertEqual(wrong, [], "\n" + "\n".join(wrong))

    def test_aliases_are_their_ctypes(self):
        module = _load_module()
        for alias, ctype in ALIASES.items():
            self.assertIs(getattr(module, alias), ctype, alias)
        self.assertIs(module._PROGRESS, module.PROGRESS_FN)
        self.assertIs(module.PROGRESS_FN._restype_, ctypes.c_int)
        self.assertEqual(module.PROGRESS_FN._argtypes_,
                         (ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint64))
        self.assertIs(module._LOG, module.LOG_FN)
        self.assertIs(module.LOG_FN._restype_, None)
        self.assertEqual(module.LOG_FN._argtypes_,
                         (ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t))
        # The table as loaded is the table as written.
        self.assertEqual(sorted(module.SIGNATURES), sorted(self.table))

    def test_parser_refuses_what_it_does_not_know(self):
        with self.assertRaisesRegex(AssertionError, "no ctypes mapping for the C type 'double'"):
            parse_header("CANOPY_EXPORT double canopy_x(void);")
        self.assertEqual(parse_header("CANOPY_EXPORT canopy_code_t canopy_y(const canopy_db_t *db,"
                                      " canopy_account_t ** out, const char *const *refs,"
                                      " char **errmsg);"),
                         {"canopy_y": ("_I", ["_P", "_PP", "_SA", "_PP"])})
        with self.assertRaisesRegex(AssertionError, "twice"):
            parse_table('SIGNATURES = {"a": (None, []), "a": (None, [])}')


if __name__ == "__main__":
    unittest.main()

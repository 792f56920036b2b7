"""Lists a WebAssembly module's imports and exports without extra tools.

Only the import (id 2) and export (id 7) sections are decoded; the format is in the
WebAssembly core spec, "Binary Format" -> "Modules" -> "Import Section".
"""

from __future__ import annotations

import sys

KINDS = {0: "func", 1: "table", 2: "memory", 3: "global", 4: "tag"}


def _uleb(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    for _ in range(10):
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
    raise ValueError("LEB128 too long")


def _name(data: bytes, pos: int) -> tuple[str, int]:
    n, pos = _uleb(data, pos)
    return data[pos : pos + n].decode("utf-8"), pos + n


def imports(data: bytes) -> list[tuple[str, str, str]]:
    if data[:4] != b"\0asm" or data[4:8] != b"\x01\0\0\0":
        raise ValueError("not a WebAssembly 1.0 module")
    pos, out = 8, []
    while pos < len(data):
        section, pos = data[pos], pos + 1
        size, pos = _uleb(data, pos)
        end = pos + size
        if section == 2:
            count, p = _uleb(data, pos)
            for _ in range(count):
                module, p = _name(data, p)
                name, p = _name(data, p)
                kind = data[p]
                p += 1
                # Skip the import's type description.
                if kind == 0:  # func: type index
                    _, p = _uleb(data, p)
                elif kind == 1:  # table: reftype + limits
                    p += 1
                    flags, p = _uleb(data, p + 0)
                    _, p = _uleb(data, p)
                    if flags & 1:
                        _, p = _uleb(data, p)
                elif kind == 2:  # memory: limits
                    flags, p = _uleb(data, p)
                    _, p = _uleb(data, p)
                    if flags & 1:
                        _, p = _uleb(data, p)
                elif kind == 3:  # global: valtype + mut
                    p += 2
                elif kind == 4:  # tag: attribute + type index
                    p += 1
                    _, p = _uleb(data, p)
                else:
                    raise ValueError(f"unknown import kind {kind}")
                out.append((module, name, KINDS[kind]))
        pos = end
    return out


def exports(data: bytes) -> list[tuple[str, str]]:
    if data[:4] != b"\0asm":
        raise ValueError("not a WebAssembly module")
    pos, out = 8, []
    while pos < len(data):
        section, pos = data[pos], pos + 1
        size, pos = _uleb(data, pos)
        if section == 7:
            count, p = _uleb(data, pos)
            for _ in range(count):
                name, p = _name(data, p)
                kind = data[p]
                _, p = _uleb(data, p + 1)
                out.append((name, KINDS[kind]))
        pos += size
    return out


if __name__ == "__main__":
    module_bytes = open(sys.argv[1], "rb").read()
    for module, name, kind in imports(module_bytes):
        print(f"import\t{module}\t{name}\t{kind}")
    for name, kind in exports(module_bytes):
        print(f"export\t{name}\t{kind}")

#!/usr/bin/env python3
"""Where a wasm module's code bytes go: the size of each function's body, by function and by
crate, read from the code section and the `name` custom section (a build that keeps names, such
as `cargo build --release --target wasm32-unknown-unknown --config profile.release.strip=false`;
bench/baseline.sh sizes-by-crate builds one). No dependencies beyond Python 3.

usage: bench/wasm_sizes.py MODULE.wasm [TOP]
"""
import re
import sys
from collections import Counter


def leb(data, pos):
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return result, pos


def sections(data):
    if data[:4] != b"\0asm":
        sys.exit("not a wasm module")
    pos = 8
    while pos < len(data):
        sid = data[pos]
        size, pos = leb(data, pos + 1)
        yield sid, data[pos : pos + size]
        pos += size


def name_of(body):
    n, pos = leb(body, 0)
    return body[pos : pos + n].decode("utf-8", "replace"), pos + n


def imported_functions(body):
    count, pos = leb(body, 0)
    funcs = 0
    for _ in range(count):
        for _ in range(2):  # module, field
            n, pos = leb(body, pos)
            pos += n
        kind = body[pos]
        pos += 1
        if kind == 0:  # function: type index
            _, pos = leb(body, pos)
            funcs += 1
        elif kind == 1:  # table: reftype, limits
            pos += 1
            flags, pos = leb(body, pos)
            _, pos = leb(body, pos)
            if flags & 1:
                _, pos = leb(body, pos)
        elif kind == 2:  # memory: limits
            flags, pos = leb(body, pos)
            _, pos = leb(body, pos)
            if flags & 1:
                _, pos = leb(body, pos)
        elif kind == 3:  # global: valtype, mutability
            pos += 2
        elif kind == 4:  # tag
            pos += 1
            _, pos = leb(body, pos)
    return funcs


def legacy_segments(name):
    """The path segments of a legacy-mangled Rust symbol (`_ZN3foo3bar17h...E`), decoded."""
    pos, out = 3, []
    while pos < len(name) and name[pos].isdigit():
        end = pos
        while name[end].isdigit():
            end += 1
        n = int(name[pos:end])
        seg = name[end : end + n]
        for a, b in (("$LT$", "<"), ("$GT$", ">"), ("$RF$", "&"), ("$u20$", " "), ("$C$", ","),
                     ("$u7b$", "{"), ("$u7d$", "}"), ("$BP$", "*"), ("..", "::")):
            seg = seg.replace(a, b)
        out.append(seg.lstrip("_") if seg.startswith("_<") else seg)
        pos = end + n
    return out


def demangle(name):
    if name.startswith("_ZN"):
        segs = legacy_segments(name)
        if segs and re.fullmatch(r"h[0-9a-f]{16}", segs[-1]):
            segs = segs[:-1]
        return "::".join(segs)
    return name


def crate(name):
    # v0 symbols (`_R...`): the first crate root, `C[s<disambiguator>_]<len><name>`.
    if name.startswith("_R"):
        m = re.search(r"C(?:s[0-9a-zA-Z]*_)?(\d+)([A-Za-z_][A-Za-z0-9_]*)", name)
        return m.group(2)[: int(m.group(1))] if m else "?"
    # `<a::B as c::D>::f` counts for the crate of the type; `a::b::f` for `a`.
    name = name.lstrip("<&*").removeprefix("mut ").removeprefix("dyn ").lstrip("<&*")
    m = re.match(r"[A-Za-z_][A-Za-z0-9_]*", name)
    return m.group(0) if m else name[:20]


def main():
    path = sys.argv[1]
    top = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    data = open(path, "rb").read()
    imports = 0
    bodies = []
    names = {}
    data_bytes = 0
    for sid, body in sections(data):
        if sid == 2:
            imports = imported_functions(body)
        elif sid == 10:
            count, pos = leb(body, 0)
            for _ in range(count):
                size, pos = leb(body, pos)
                bodies.append(size)
                pos += size
        elif sid == 11:
            data_bytes += len(body)
        elif sid == 0:
            section, pos = name_of(body)
            if section != "name":
                continue
            while pos < len(body):
                sub = body[pos]
                size, pos = leb(body, pos + 1)
                end = pos + size
                if sub == 1:
                    count, p = leb(body, pos)
                    for _ in range(count):
                        index, p = leb(body, p)
                        n, p = leb(body, p)
                        names[index] = body[p : p + n].decode("utf-8", "replace")
                        p += n
                pos = end
    if not names:
        sys.exit(f"{path} has no function names (build it with strip = false)")
    by_fn = Counter()
    by_crate = Counter()
    for i, size in enumerate(bodies):
        name = names.get(imports + i, f"func{imports + i}")
        short = re.sub(r"::h[0-9a-f]{16}$", "", demangle(name))
        by_fn[short] += size
        by_crate[crate(short)] += size
    code = sum(bodies)
    print(f"{path}: {len(data)} B; code {code} B in {len(bodies)} functions; data {data_bytes} B")
    print(f"\nby crate (code bytes)")
    for name, size in by_crate.most_common(top):
        print(f"{size:9} {100 * size / code:5.1f}%  {name}")
    print(f"\nby function (code bytes)")
    for name, size in by_fn.most_common(top):
        print(f"{size:9}  {name[:140]}")


main()

#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fail when a source file with translatable strings is missing from
po/POTFILES.in, or when POTFILES.in names a file that is gone.

Usage: check-potfiles.py SOURCE_ROOT
"""

import pathlib
import re
import sys

# What xgettext extracts with meson's 'glib' preset: _(), N_(), C_(), NC_(),
# g_dngettext() in C; translatable="yes" in GtkBuilder and GSettings XML;
# the translatable keys of desktop and metainfo files.
MARKERS = {
    ".c": re.compile(r'\b(?:_|N_|C_|NC_|g_dngettext|ngettext)\s*\('),
    ".ui": re.compile(r'translatable="yes"'),
    ".xml": re.compile(r'<(?:summary|description)>'),
    ".in": re.compile(r'^(?:Name|GenericName|Comment|Keywords)=|<(?:name|summary|p|li|caption)>', re.M),
}
SOURCE_DIRS = ("engine", "src", "ui", "data")


def main():
    root = pathlib.Path(sys.argv[1])
    listed = set()
    for line in (root / "po" / "POTFILES.in").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            listed.add(line)

    marked = set()
    for top in SOURCE_DIRS:
        for path in sorted((root / top).rglob("*")):
            pattern = MARKERS.get(path.suffix)
            if pattern and path.is_file() and pattern.search(path.read_text(encoding="utf-8")):
                marked.add(str(path.relative_to(root)))

    failures = 0
    for name in sorted(marked - listed):
        print(f"not ok - {name} has translatable strings but is missing from po/POTFILES.in")
        failures += 1
    for name in sorted(listed - marked):
        if not (root / name).exists():
            print(f"not ok - po/POTFILES.in names {name}, which does not exist")
            failures += 1
    if failures == 0:
        print(f"ok - po/POTFILES.in lists all {len(marked)} files with translatable strings")
    print("1..%d" % max(failures, 1))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

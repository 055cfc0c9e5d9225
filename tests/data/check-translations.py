#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Check that every language in po/LINGUAS is complete: the strings of the
sources as they are now (extracted afresh with xgettext, as meson does) all
have a translation that is neither missing nor fuzzy, and msgfmt --check
accepts the catalogue (format strings agree).

Usage: check-translations.py SOURCE_ROOT
"""

import pathlib
import subprocess
import sys
import tempfile

# meson's i18n 'glib' preset.
XGETTEXT_ARGS = [
    "--from-code=UTF-8", "--add-comments",
    "--keyword=_", "--keyword=N_", "--keyword=C_:1c,2", "--keyword=NC_:1c,2",
    "--keyword=g_dcgettext:2", "--keyword=g_dngettext:2,3", "--keyword=g_dpgettext2:2c,3",
    "--flag=N_:1:pass-c-format", "--flag=C_:2:pass-c-format", "--flag=NC_:2:pass-c-format",
    "--flag=g_dngettext:2:pass-c-format", "--flag=g_strdup_printf:1:c-format",
    "--flag=g_string_printf:2:c-format", "--flag=g_string_append_printf:2:c-format",
    "--flag=g_error_new:3:c-format", "--flag=g_set_error:4:c-format",
    "--flag=g_markup_printf_escaped:1:c-format", "--flag=g_printerr:1:c-format",
    "--flag=g_print:1:c-format", "--flag=g_prefix_error:2:c-format",
]


def run(*args, **kwargs):
    return subprocess.run(args, check=True, capture_output=True, text=True, **kwargs)


def main():
    root = pathlib.Path(sys.argv[1])
    po_dir = root / "po"
    languages = [line.strip() for line in (po_dir / "LINGUAS").read_text().splitlines()
                 if line.strip() and not line.startswith("#")]
    failures = 0
    count = 0

    with tempfile.TemporaryDirectory() as tmp:
        pot = pathlib.Path(tmp) / "llm-node.pot"
        run("xgettext", "--package-name=llm-node", "--directory", str(root),
            "--files-from", str(po_dir / "POTFILES.in"), "--output", str(pot),
            *XGETTEXT_ARGS)

        for language in languages:
            count += 1
            po = po_dir / f"{language}.po"
            merged = pathlib.Path(tmp) / f"{language}.po"
            if not po.exists():
                print(f"not ok - {language}: po/{language}.po is missing")
                failures += 1
                continue
            run("msgmerge", "--quiet", "--no-fuzzy-matching", "--output-file", str(merged),
                str(po), str(pot))
            stats = subprocess.run(["msgfmt", "--check", "--statistics", "--output-file",
                                    "/dev/null", str(merged)],
                                   capture_output=True, text=True)
            untranslated = run("msgattrib", "--untranslated", "--no-obsolete", str(merged)).stdout
            fuzzy = run("msgattrib", "--only-fuzzy", "--no-obsolete", str(merged)).stdout
            problems = []
            if stats.returncode != 0:
                problems.append(stats.stderr.strip())
            for label, text in (("untranslated", untranslated), ("fuzzy", fuzzy)):
                ids = [line for line in text.splitlines() if line.startswith("msgid ")][1:]
                if ids:
                    problems.append(f"{len(ids)} {label}: " + "; ".join(ids[:5]))
            if problems:
                print(f"not ok - {language}: " + " | ".join(problems))
                failures += 1
            else:
                print(f"ok - {language}: complete ({stats.stderr.strip()})")

    print(f"1..{max(count, 1)}")
    if count == 0:
        print("not ok - po/LINGUAS lists no language")
        return 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Check the Flatpak manifest of llm-node without building it.

Usage: check-flatpak.py MANIFEST APP_ID

Parses MANIFEST strictly (duplicate keys anywhere are an error), then prints
one TAP line per check ("ok - ..." or "not ok - ..."), a TAP plan, and exits
1 if any check failed (2 on a usage error).
"""

import json
import re
import sys

RUNTIME = "org.gnome.Platform"
SDK = "org.gnome.Sdk"
COMMAND = "llm-node"
REQUIRED_FINISH_ARGS = (
    "--share=network",
    "--system-talk-name=org.freedesktop.Avahi",
)
REQUIRED_MODULES = ("libsodium", "openblas", "avahi", "opendht")
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


class DuplicateKeyError(ValueError):
    pass


def reject_duplicates(pairs):
    obj = {}
    for key, value in pairs:
        if key in obj:
            raise DuplicateKeyError(f"duplicate key {key!r}")
        obj[key] = value
    return obj


class Report:
    def __init__(self):
        self.count = 0
        self.failed = 0

    def check(self, passed, description):
        self.count += 1
        if passed:
            print(f"ok - {description}")
        else:
            self.failed += 1
            print(f"not ok - {description}")
        return passed

    def finish(self):
        print(f"1..{self.count}")
        print(f"# {self.count - self.failed} passed, {self.failed} failed")
        return 1 if self.failed else 0


def walk_modules(modules, path=""):
    """Yield (label, module) for every module, nested ones included."""
    for index, module in enumerate(modules):
        if isinstance(module, dict):
            name = module.get("name")
            label = f"{path}{name if isinstance(name, str) and name else f'#{index}'}"
            yield label, module
            nested = module.get("modules", [])
            if isinstance(nested, list):
                yield from walk_modules(nested, f"{label}/")
        else:
            yield f"{path}#{index}", module


def source_problems(source):
    """Return the list of problems of one source entry (empty if none)."""
    if not isinstance(source, dict):
        return ["is not an object (external source files are not allowed)"]
    kind = source.get("type")
    problems = []
    if kind in ("archive", "file") and ("url" in source or kind == "archive"):
        url = source.get("url")
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            problems.append(f"{kind} source without a url")
        sha = source.get("sha256")
        if not isinstance(sha, str) or not SHA256_RE.match(sha):
            problems.append(f"{kind} source {url!r} without a 64-hex sha256")
    elif kind == "git":
        if not isinstance(source.get("url"), str):
            problems.append("git source without a url")
        if not source.get("tag") and not source.get("commit"):
            problems.append(f"git source {source.get('url')!r} without tag or commit")
    elif kind is None:
        problems.append("source without a type")
    return problems


def main(argv):
    if len(argv) != 3:
        print(f"usage: {argv[0]} MANIFEST APP_ID", file=sys.stderr)
        return 2
    manifest_path, app_id = argv[1], argv[2]
    report = Report()

    try:
        with open(manifest_path, encoding="utf-8") as f:
            manifest = json.load(f, object_pairs_hook=reject_duplicates)
        parsed = isinstance(manifest, dict)
        detail = "" if parsed else " (top level is not an object)"
    except (OSError, ValueError) as e:
        parsed, detail = False, f" ({e})"
    if not report.check(parsed, f"manifest {manifest_path} parses as strict JSON{detail}"):
        return report.finish()

    ident = manifest.get("id", manifest.get("app-id"))
    both_differ = "id" in manifest and "app-id" in manifest and manifest["id"] != manifest["app-id"]
    report.check(ident == app_id and not both_differ, f"id is {app_id} (found {ident!r})")
    report.check(manifest.get("runtime") == RUNTIME,
                 f"runtime is {RUNTIME} (found {manifest.get('runtime')!r})")
    report.check(manifest.get("sdk") == SDK, f"sdk is {SDK} (found {manifest.get('sdk')!r})")
    report.check(isinstance(manifest.get("runtime-version"), str)
                 and bool(manifest.get("runtime-version")),
                 f"runtime-version is set (found {manifest.get('runtime-version')!r})")
    report.check(manifest.get("command") == COMMAND,
                 f"command is {COMMAND} (found {manifest.get('command')!r})")

    finish_args = manifest.get("finish-args")
    if not isinstance(finish_args, list):
        finish_args = []
    for arg in REQUIRED_FINISH_ARGS:
        report.check(arg in finish_args, f"finish-args include {arg}")

    modules = manifest.get("modules")
    if not report.check(isinstance(modules, list) and len(modules) > 0, "modules is a non-empty list"):
        return report.finish()

    all_modules = list(walk_modules(modules))
    inline = [label for label, module in all_modules if not isinstance(module, dict)]
    report.check(not inline, "every module is inline" + (f" (not: {', '.join(inline)})" if inline else ""))

    unnamed = [label for label, module in all_modules
               if isinstance(module, dict)
               and not (isinstance(module.get("name"), str) and module["name"].strip())]
    report.check(not unnamed, "every module has a name" + (f" (missing: {', '.join(unnamed)})" if unnamed else ""))

    no_sources = [label for label, module in all_modules
                  if isinstance(module, dict)
                  and not (isinstance(module.get("sources"), list) and module["sources"])]
    report.check(not no_sources,
                 "every module has sources" + (f" (missing: {', '.join(no_sources)})" if no_sources else ""))

    archive_problems = []
    git_problems = []
    for label, module in all_modules:
        if not isinstance(module, dict) or not isinstance(module.get("sources"), list):
            continue
        for source in module["sources"]:
            for problem in source_problems(source):
                (git_problems if problem.startswith("git") else archive_problems).append(f"{label}: {problem}")
    report.check(not archive_problems,
                 "every archive/file download has a url and a 64-hex sha256"
                 + (f" ({'; '.join(archive_problems)})" if archive_problems else ""))
    report.check(not git_problems,
                 "every git source has a tag or a commit"
                 + (f" ({'; '.join(git_problems)})" if git_problems else ""))

    names = [module["name"].lower() for _, module in all_modules
             if isinstance(module, dict) and isinstance(module.get("name"), str)]
    for wanted in REQUIRED_MODULES:
        report.check(any(wanted in name for name in names), f"a module named like {wanted!r} is built")

    last = modules[-1]
    last_ok = (isinstance(last, dict)
               and last.get("buildsystem") == "meson"
               and isinstance(last.get("sources"), list)
               and any(isinstance(s, dict) and s.get("type") == "dir" for s in last["sources"]))
    last_name = last.get("name") if isinstance(last, dict) else last
    report.check(last_ok, f"the last module ({last_name!r}) is the app, built with meson from a dir source")

    return report.finish()


if __name__ == "__main__":
    sys.exit(main(sys.argv))

#!/bin/sh
# SPDX-License-Identifier: GPL-3.0-or-later
# Installs the pinned reference packages into OUT_DIR/node_modules with npm,
# from the lock file, and writes STAMP when done. A failure (no network, no
# npm) fails the tests that need them: a missing reference is never a skip.
set -eu
lock="$1"; out="$2"; stamp="$(pwd)/$3"
mkdir -p "$out"
cp "$(dirname "$lock")/package.json" "$lock" "$out/"
cd "$out"
npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
touch "$stamp"

/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Scans the UTF-8 sequence at s (at most max bytes, max ≥ 1), by the
 * Unicode table of well-formed sequences (no overlongs, surrogates or code
 * points past U+10FFFF). Returns the sequence's length and sets *complete
 * when it is valid; otherwise returns the length of its maximal subpart,
 * at least 1 — what one U+FFFD replaces (Unicode §3.9, as Rust's
 * from_utf8_lossy) — and clears *complete. */
guint llm_utf8_scan (const guchar *s,
                     gsize         max,
                     gboolean     *complete);

G_END_DECLS

/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* The inference engine: plain C structs over GLib core, json-glib and
 * OpenBLAS. It knows nothing of sockets, GObject signals or GTK, so that it
 * can be embedded alone. */

#include "llm-cpu.h"

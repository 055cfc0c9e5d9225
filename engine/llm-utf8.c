/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "llm-utf8"

#include "llm-utf8.h"

/* One table of well-formed UTF-8 for the JSON reader (which refuses
 * anything else) and the tokenizer (which replaces it). */
guint
llm_utf8_scan (const guchar *s,
               gsize         max,
               gboolean     *complete)
{
  guchar lo = 0x80, hi = 0xbf;
  guint n;

  *complete = FALSE;
  if (s[0] < 0x80)
    {
      *complete = TRUE;
      return 1;
    }
  if (s[0] >= 0xc2 && s[0] <= 0xdf)
    n = 2;
  else if (s[0] >= 0xe0 && s[0] <= 0xef)
    {
      n = 3;
      if (s[0] == 0xe0)
        lo = 0xa0;
      else if (s[0] == 0xed)
        hi = 0x9f;
    }
  else if (s[0] >= 0xf0 && s[0] <= 0xf4)
    {
      n = 4;
      if (s[0] == 0xf0)
        lo = 0x90;
      else if (s[0] == 0xf4)
        hi = 0x8f;
    }
  else
    return 1;

  for (guint i = 1; i < n; i++)
    {
      guchar lower = i == 1 ? lo : 0x80, upper = i == 1 ? hi : 0xbf;

      if (i >= max || s[i] < lower || s[i] > upper)
        return i;
    }
  *complete = TRUE;
  return n;
}


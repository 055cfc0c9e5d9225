/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* What the tokenizer's files share: the Unicode classes of the pre-tokenizers' regexes, and
 * the patterns that split text (hand-written matchers for the regexes of
 * GPT-2, Llama 3 and Qwen, GRegex for any other). Not installed, not API. */

#include "llm-json.h"
#include "llm-tokenizer.h"

G_BEGIN_DECLS

/* ------------------------------------------------------------------------ */
/* Unicode (llm-tokenizer-unicode.c) */

/* Classes of a code point, as the pre-tokenizers' regexes see them. */
enum
{
  LLM_CHAR_LETTER = 1 << 0,       /* \p{L} */
  LLM_CHAR_NUMBER = 1 << 1,       /* \p{N} */
  LLM_CHAR_SPACE = 1 << 2,        /* \s: the White_Space property */
  LLM_CHAR_MARK = 1 << 3,         /* \p{M} */
  LLM_CHAR_PUNCTUATION = 1 << 4,  /* \p{P} */
  LLM_CHAR_DIGIT = 1 << 5,        /* \p{Nd} */
  LLM_CHAR_WORD = 1 << 6,         /* \w: alphabetic, marks, Nd, Pc, joiners */
};

guint llm_unichar_class (gunichar c);

/* Decodes the character at s, which must be valid UTF-8 with at least one
 * byte, and stores its length in *len. */
static inline gunichar
llm_utf8_get_char (const char *s,
                   guint      *len)
{
  const guchar *p = (const guchar *) s;

  if (p[0] < 0x80)
    {
      *len = 1;
      return p[0];
    }
  if (p[0] < 0xe0)
    {
      *len = 2;
      return ((gunichar) (p[0] & 0x1f) << 6) | (p[1] & 0x3f);
    }
  if (p[0] < 0xf0)
    {
      *len = 3;
      return ((gunichar) (p[0] & 0x0f) << 12) | ((gunichar) (p[1] & 0x3f) << 6) | (p[2] & 0x3f);
    }
  *len = 4;
  return ((gunichar) (p[0] & 0x07) << 18) | ((gunichar) (p[1] & 0x3f) << 12) |
         ((gunichar) (p[2] & 0x3f) << 6) | (p[3] & 0x3f);
}

/* The length of the UTF-8 character starting with byte b. */
static inline guint
llm_utf8_char_length (guchar b)
{
  return b < 0xc0 ? 1 : b < 0xe0 ? 2 : b < 0xf0 ? 3 : 4;
}

/* Appends bytes to out, each maximal invalid subpart replaced with U+FFFD
 * (the WHATWG decoder's and Rust's from_utf8_lossy()'s rule). Returns the
 * number of replacements. */
gsize    llm_utf8_append_lossy (GString    *out,
                                const char *bytes,
                                gsize       length);
/* Whether bytes are valid UTF-8 (NUL included). */
gboolean llm_utf8_is_valid     (const char *bytes,
                                gsize       length);

/* ------------------------------------------------------------------------ */
/* Patterns that find the pieces of a text (llm-tokenizer-unicode.c) */

typedef struct _LlmPattern LlmPattern;

typedef struct
{
  gsize start;
  gsize end;
} LlmSpan;

/* A regex in the syntax of Oniguruma, as tokenizer.json has them. The
 * regexes of GPT-2, Llama 3 and Qwen 2/3 get hand-written matchers; any
 * other goes to GRegex, translated where Oniguruma and PCRE differ. */
LlmPattern *llm_pattern_new_regex  (const char  *regex,
                                    GError     **error);
/* A literal string. */
LlmPattern *llm_pattern_new_string (const char  *literal,
                                    gsize        length);
/* For the test of the hand-written matchers: the same regex, by GRegex. */
LlmPattern *llm_pattern_new_gregex (const char  *regex,
                                    GError     **error);
void        llm_pattern_free       (LlmPattern  *pattern);
gboolean    llm_pattern_is_native  (LlmPattern  *pattern);
/* Appends the spans of every match in text (valid UTF-8), left to right,
 * as Oniguruma's find_iter() reports them. */
void        llm_pattern_find_all   (LlmPattern  *pattern,
                                    const char  *text,
                                    gsize        length,
                                    GArray      *spans);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (LlmPattern, llm_pattern_free)

G_END_DECLS

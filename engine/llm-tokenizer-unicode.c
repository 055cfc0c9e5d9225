/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "llm-tokenizer-unicode"

#include "llm-tokenizer-private.h"
#include "llm-utf8.h"

#include <string.h>

/* ------------------------------------------------------------------------ */
/* Character classes
 *
 * From GLib's Unicode tables (g_unichar_type()), for every code point, not
 * ASCII alone. The Basic Multilingual Plane, where nearly all text lives,
 * is looked up in a table built once; the other planes ask GLib each time. */

static guint8 *bmp_classes;  /* (0x10000) */

/* The White_Space property: what \s matches in Oniguruma (and in the
 * reference's translation of the tokenizers' regexes to JavaScript). */
static gboolean
is_white_space (gunichar c)
{
  return (c >= 0x09 && c <= 0x0d) || c == 0x20 || c == 0x85 || c == 0xa0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f ||
         c == 0x205f || c == 0x3000;
}

static guint
compute_class (gunichar c)
{
  guint klass = 0;

  switch (g_unichar_type (c))
    {
    case G_UNICODE_UPPERCASE_LETTER:
    case G_UNICODE_LOWERCASE_LETTER:
    case G_UNICODE_TITLECASE_LETTER:
    case G_UNICODE_MODIFIER_LETTER:
    case G_UNICODE_OTHER_LETTER:
      klass = LLM_CHAR_LETTER | LLM_CHAR_WORD;
      break;
    case G_UNICODE_DECIMAL_NUMBER:
      klass = LLM_CHAR_NUMBER | LLM_CHAR_DIGIT | LLM_CHAR_WORD;
      break;
    case G_UNICODE_LETTER_NUMBER:
      klass = LLM_CHAR_NUMBER | LLM_CHAR_WORD;
      break;
    case G_UNICODE_OTHER_NUMBER:
      klass = LLM_CHAR_NUMBER;
      break;
    case G_UNICODE_SPACING_MARK:
    case G_UNICODE_ENCLOSING_MARK:
    case G_UNICODE_NON_SPACING_MARK:
      klass = LLM_CHAR_MARK | LLM_CHAR_WORD;
      break;
    case G_UNICODE_CONNECT_PUNCTUATION:
      klass = LLM_CHAR_PUNCTUATION | LLM_CHAR_WORD;
      break;
    case G_UNICODE_DASH_PUNCTUATION:
    case G_UNICODE_CLOSE_PUNCTUATION:
    case G_UNICODE_FINAL_PUNCTUATION:
    case G_UNICODE_INITIAL_PUNCTUATION:
    case G_UNICODE_OTHER_PUNCTUATION:
    case G_UNICODE_OPEN_PUNCTUATION:
      klass = LLM_CHAR_PUNCTUATION;
      break;
    default:
      break;
    }
  if (is_white_space (c))
    klass |= LLM_CHAR_SPACE;
  /* The zero-width joiners belong to \w. */
  if (c == 0x200c || c == 0x200d)
    klass |= LLM_CHAR_WORD;
  return klass;
}

static gpointer
build_bmp_classes (gpointer data)
{
  guint8 *table = g_malloc (0x10000);

  for (gunichar c = 0; c < 0x10000; c++)
    table[c] = (guint8) compute_class (c);
  return table;
}

static inline const guint8 *
get_bmp_classes (void)
{
  static GOnce once = G_ONCE_INIT;

  if (G_UNLIKELY (bmp_classes == NULL))
    bmp_classes = g_once (&once, build_bmp_classes, NULL);
  return bmp_classes;
}

guint
llm_unichar_class (gunichar c)
{
  if (c < 0x10000)
    return get_bmp_classes ()[c];
  return compute_class (c);
}

/* ------------------------------------------------------------------------ */
/* UTF-8 */

gsize
llm_utf8_append_lossy (GString    *out,
                       const char *bytes,
                       gsize       length)
{
  const guchar *s = (const guchar *) bytes;
  gsize i = 0, run = 0, replaced = 0;

  while (i < length)
    {
      gboolean complete;
      guint n;

      if (s[i] < 0x80)
        {
          i++;
          continue;
        }
      n = llm_utf8_scan (s + i, length - i, &complete);
      if (!complete)
        {
          g_string_append_len (out, bytes + run, (gssize) (i - run));
          g_string_append (out, "\xef\xbf\xbd");
          replaced++;
          run = i + n;
        }
      i += n;
    }
  g_string_append_len (out, bytes + run, (gssize) (length - run));
  return replaced;
}

gboolean
llm_utf8_is_valid (const char *bytes,
                   gsize       length)
{
  const guchar *s = (const guchar *) bytes;
  gsize i = 0;

  while (i < length)
    {
      gboolean complete;

      /* Eight ASCII bytes at a time, the common case. */
      while (i + 8 <= length)
        {
          guint64 word;

          memcpy (&word, s + i, 8);
          if (word & G_GUINT64_CONSTANT (0x8080808080808080))
            break;
          i += 8;
        }
      if (i >= length)
        break;
      if (s[i] < 0x80)
        {
          i++;
          continue;
        }
      i += llm_utf8_scan (s + i, length - i, &complete);
      if (!complete)
        return FALSE;
    }
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Patterns */

typedef enum
{
  PATTERN_NATIVE,
  PATTERN_GREGEX,
  PATTERN_STRING,
} PatternKind;

/* The family of the GPT-2, Llama 3 and Qwen regexes, alternative by
 * alternative:
 *   contractions   GPT-2 's|'t|…   Llama 3, Qwen (?i:'s|'t|…) (ASCII case
 *                  folding, as the reference translates it)
 *   letters        GPT-2 " ?\p{L}+"   Llama 3, Qwen "[^\r\n\p{L}\p{N}]?\p{L}+"
 *   numbers        GPT-2 " ?\p{N}+"   Llama 3 "\p{N}{1,3}"   Qwen "\p{N}"
 *   other          " ?[^\s\p{L}\p{N}]+", then "[\r\n]*" in Llama 3 and Qwen
 *   line breaks    Llama 3 and Qwen "\s*[\r\n]+"
 *   spaces         "\s+(?!\S)|\s+" */
typedef struct
{
  const char *regex;
  gboolean    contractions_fold_case;
  gboolean    letters_any_prefix;
  guint       max_digits;            /* 0: " ?\p{N}+" */
  gboolean    other_then_line_breaks;
  gboolean    line_breaks;
} NativeSpec;

static const NativeSpec native_specs[] = {
  { "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
    FALSE, FALSE, 0, FALSE, FALSE },
  { "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}|"
    " ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    TRUE, TRUE, 3, TRUE, TRUE },
  { "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}|"
    " ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    TRUE, TRUE, 1, TRUE, TRUE },
};

struct _LlmPattern
{
  PatternKind       kind;
  const NativeSpec *native;
  GRegex           *regex;
  char             *literal;
  gsize             literal_length;
};

void
llm_pattern_free (LlmPattern *pattern)
{
  if (pattern == NULL)
    return;
  g_clear_pointer (&pattern->regex, g_regex_unref);
  g_free (pattern->literal);
  g_free (pattern);
}

gboolean
llm_pattern_is_native (LlmPattern *pattern)
{
  return pattern->kind == PATTERN_NATIVE;
}

/* Oniguruma and PCRE agree on the syntax of the tokenizers' regexes but for
 * a few escapes: \h is a hexadecimal digit in Oniguruma, and \s is the
 * White_Space property, which PCRE's \s exceeds by U+180E. */
static char *
translate_regex (const char *regex)
{
  static const char white_space[] =
    "\\t\\n\\x0B\\f\\r\\x20\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}"
    "\\x{202F}\\x{205F}\\x{3000}";
  GString *out = g_string_new (NULL);
  gboolean in_class = FALSE;

  for (const char *p = regex; *p != '\0'; p++)
    {
      if (*p == '\\' && p[1] != '\0')
        {
          char e = *++p;

          if (e == 's')
            {
              if (in_class)
                g_string_append (out, white_space);
              else
                g_string_append_printf (out, "[%s]", white_space);
            }
          else if (e == 'S' && !in_class)
            g_string_append_printf (out, "[^%s]", white_space);
          else if (e == 'h')
            g_string_append (out, in_class ? "0-9A-Fa-f" : "[0-9A-Fa-f]");
          else if (e == 'H' && !in_class)
            g_string_append (out, "[^0-9A-Fa-f]");
          else
            {
              g_string_append_c (out, '\\');
              g_string_append_c (out, e);
            }
          continue;
        }
      if (!in_class && *p == '[')
        {
          in_class = TRUE;
          g_string_append_c (out, '[');
          /* A leading "^" and a leading "]" belong to the class syntax. */
          if (p[1] == '^')
            g_string_append_c (out, *++p);
          if (p[1] == ']')
            g_string_append_c (out, *++p);
          continue;
        }
      if (in_class && *p == ']')
        in_class = FALSE;
      g_string_append_c (out, *p);
    }
  return g_string_free (out, FALSE);
}

LlmPattern *
llm_pattern_new_gregex (const char  *regex,
                        GError     **error)
{
  g_autoptr(GError) local_error = NULL;
  g_autofree char *translated = translate_regex (regex);
  LlmPattern *pattern;
  GRegex *compiled;

  compiled = g_regex_new (translated,
                          G_REGEX_OPTIMIZE | G_REGEX_MULTILINE | G_REGEX_NEWLINE_LF,
                          0, &local_error);
  if (compiled == NULL)
    {
      g_set_error (error, LLM_TOKENIZER_ERROR, LLM_TOKENIZER_ERROR_UNSUPPORTED,
                   "the regex “%s” is not one GRegex (PCRE2) compiles: %s", regex,
                   local_error->message);
      return NULL;
    }
  pattern = g_new0 (LlmPattern, 1);
  pattern->kind = PATTERN_GREGEX;
  pattern->regex = compiled;
  return pattern;
}

LlmPattern *
llm_pattern_new_regex (const char  *regex,
                       GError     **error)
{
  LlmPattern *pattern;

  for (guint i = 0; i < G_N_ELEMENTS (native_specs); i++)
    if (strcmp (regex, native_specs[i].regex) == 0)
      {
        pattern = g_new0 (LlmPattern, 1);
        pattern->kind = PATTERN_NATIVE;
        pattern->native = &native_specs[i];
        return pattern;
      }
  return llm_pattern_new_gregex (regex, error);
}

LlmPattern *
llm_pattern_new_string (const char *literal,
                        gsize       length)
{
  LlmPattern *pattern = g_new0 (LlmPattern, 1);

  pattern->kind = PATTERN_STRING;
  pattern->literal = g_memdup2 (literal, length + 1);
  pattern->literal_length = length;
  return pattern;
}

/* The class of the character at i, and its end. */
static inline guint
class_at (const char *text,
          gsize       i,
          gsize      *next)
{
  guchar b = (guchar) text[i];
  guint len;
  gunichar c;

  if (b < 0x80)
    {
      *next = i + 1;
      return get_bmp_classes ()[b];
    }
  c = llm_utf8_get_char (text + i, &len);
  *next = i + len;
  return llm_unichar_class (c);
}

/* The end of the run of characters from i whose class has any of want and
 * none of refuse, at most max characters (0: no limit). */
static inline gsize
run_end (const char *text,
         gsize       length,
         gsize       i,
         guint       want,
         guint       refuse,
         guint       max)
{
  guint count = 0;

  while (i < length && (max == 0 || count < max))
    {
      gsize next;
      guint klass = class_at (text, i, &next);

      if ((want != 0 && (klass & want) == 0) || (klass & refuse) != 0)
        break;
      i = next;
      count++;
    }
  return i;
}

#define OTHER_REFUSED (LLM_CHAR_SPACE | LLM_CHAR_LETTER | LLM_CHAR_NUMBER)

/* The end of the match that starts at i < length. The family's regexes
 * match at every position, so matches tile the text. */
static gsize
native_match (const NativeSpec *spec,
              const char       *text,
              gsize             length,
              gsize             i)
{
  gsize next, after_next = 0;
  guint klass, next_class = 0;
  gboolean has_next;
  char c = text[i];

  /* Contractions. */
  if (c == '\'' && i + 1 < length)
    {
      char a = text[i + 1];
      char b = i + 2 < length ? text[i + 2] : '\0';

      if (spec->contractions_fold_case)
        {
          a = g_ascii_tolower (a);
          b = g_ascii_tolower (b);
        }
      if (a == 's' || a == 't' || a == 'm' || a == 'd')
        return i + 2;
      if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))
        return i + 3;
    }

  klass = class_at (text, i, &next);
  has_next = next < length;
  if (has_next)
    next_class = class_at (text, next, &after_next);

  /* Letters. */
  if (klass & LLM_CHAR_LETTER)
    return run_end (text, length, next, LLM_CHAR_LETTER, 0, 0);
  if (has_next && (next_class & LLM_CHAR_LETTER))
    {
      gboolean prefix_ok = spec->letters_any_prefix
                           ? (c != '\r' && c != '\n' && (klass & LLM_CHAR_NUMBER) == 0)
                           : c == ' ';

      if (prefix_ok)
        return run_end (text, length, after_next, LLM_CHAR_LETTER, 0, 0);
    }

  /* Numbers. */
  if (spec->max_digits == 0)
    {
      if (klass & LLM_CHAR_NUMBER)
        return run_end (text, length, next, LLM_CHAR_NUMBER, 0, 0);
      if (c == ' ' && has_next && (next_class & LLM_CHAR_NUMBER))
        return run_end (text, length, after_next, LLM_CHAR_NUMBER, 0, 0);
    }
  else if (klass & LLM_CHAR_NUMBER)
    return spec->max_digits == 1 ? next
                                 : run_end (text, length, next, LLM_CHAR_NUMBER, 0,
                                            spec->max_digits - 1);

  /* Anything else, with an optional space before. */
  {
    gsize end = 0;

    if ((klass & OTHER_REFUSED) == 0)
      end = run_end (text, length, next, 0, OTHER_REFUSED, 0);
    else if (c == ' ' && has_next && (next_class & OTHER_REFUSED) == 0)
      end = run_end (text, length, after_next, 0, OTHER_REFUSED, 0);
    if (end != 0)
      {
        if (spec->other_then_line_breaks)
          while (end < length && (text[end] == '\r' || text[end] == '\n'))
            end++;
        return end;
      }
  }

  /* Only white space is left. */
  g_assert (klass & LLM_CHAR_SPACE);
  {
    gsize end = run_end (text, length, next, LLM_CHAR_SPACE, 0, 0);
    gsize last_start;

    if (spec->line_breaks)
      {
        /* \s*[\r\n]+ ends after the run's last line break, if it has one. */
        for (gsize j = end; j > i; j--)
          if (text[j - 1] == '\r' || text[j - 1] == '\n')
            return j;
      }

    /* \s+(?!\S): the whole run at the end of the text, else all of it but
     * its last character, if that leaves one. */
    if (end == length)
      return end;
    last_start = end - 1;
    while (last_start > i && ((guchar) text[last_start] & 0xc0) == 0x80)
      last_start--;
    if (last_start > i)
      return last_start;
    return end;
  }
}

static const char *
find_bytes (const char *haystack,
            gsize       length,
            const char *needle,
            gsize       needle_length)
{
  const char *end = haystack + length;

  for (const char *p = haystack; (gsize) (end - p) >= needle_length;)
    {
      p = memchr (p, needle[0], (gsize) (end - p) - needle_length + 1);
      if (p == NULL)
        return NULL;
      if (memcmp (p, needle, needle_length) == 0)
        return p;
      p++;
    }
  return NULL;
}

void
llm_pattern_find_all (LlmPattern *pattern,
                      const char *text,
                      gsize       length,
                      GArray     *spans)
{
  switch (pattern->kind)
    {
    case PATTERN_NATIVE:
      for (gsize i = 0; i < length;)
        {
          LlmSpan span = { i, native_match (pattern->native, text, length, i) };

          g_array_append_val (spans, span);
          i = span.end;
        }
      break;

    case PATTERN_STRING:
      if (pattern->literal_length == 0)
        break;
      for (gsize i = 0; i + pattern->literal_length <= length;)
        {
          const char *found = find_bytes (text + i, length - i, pattern->literal,
                                          pattern->literal_length);
          LlmSpan span;

          if (found == NULL)
            break;
          span.start = (gsize) (found - text);
          span.end = span.start + pattern->literal_length;
          g_array_append_val (spans, span);
          i = span.end;
        }
      break;

    case PATTERN_GREGEX:
      {
        g_autoptr(GMatchInfo) info = NULL;

        /* GRegex reports positions as int. */
        if (length > G_MAXINT)
          break;
        g_regex_match_full (pattern->regex, text, (gssize) length, 0, 0, &info, NULL);
        while (g_match_info_matches (info))
          {
            int start, end;
            LlmSpan span;

            if (!g_match_info_fetch_pos (info, 0, &start, &end))
              break;
            span.start = (gsize) start;
            span.end = (gsize) end;
            g_array_append_val (spans, span);
            if (!g_match_info_next (info, NULL))
              break;
          }
      }
      break;

    default:
      g_assert_not_reached ();
    }
}

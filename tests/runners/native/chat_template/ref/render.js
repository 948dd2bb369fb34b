// Renders chat-template cases with @huggingface/jinja (the JavaScript Jinja
// implementation of transformers.js / @lenml/tokenizers).
//   node render.js CASES_JSON OUT_JSON
// CASES_JSON: [{"template": "...", "context": {...}}, ...]
// OUT_JSON:   [{"ok": true, "output": "..."} | {"ok": false, "error": "..."}, ...]
// EVALD_FIXED_TIME_MS pins the clock seen by strftime_now (run with TZ=UTC).
"use strict";
const fs = require("fs");

const fixed = process.env.EVALD_FIXED_TIME_MS;
if (fixed !== undefined) {
  const RealDate = Date;
  const pinned = Number(fixed);
  global.Date = class extends RealDate {
    constructor(...args) {
      if (args.length === 0) super(pinned);
      else super(...args);
    }
    static now() {
      return pinned;
    }
  };
}

const { Template } = require("@huggingface/jinja");
const cases = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const cache = new Map();
const results = cases.map((c) => {
  try {
    let t = cache.get(c.template);
    if (t === undefined) {
      t = new Template(c.template);
      cache.set(c.template, t);
    }
    return { ok: true, output: t.render(c.context) };
  } catch (e) {
    return { ok: false, error: String(e && e.message ? e.message : e) };
  }
});
fs.writeFileSync(process.argv[3], JSON.stringify(results));

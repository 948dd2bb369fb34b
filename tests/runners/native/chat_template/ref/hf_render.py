"""Renders chat-template cases the way transformers' apply_chat_template does.

    python3 hf_render.py CASES_JSON OUT_JSON

Same files as render.js. Uses Python's jinja2 with the environment that
transformers builds: an immutable sandbox, trim_blocks and lstrip_blocks,
the loopcontrols extension, a json.dumps-based tojson, raise_exception and
strftime_now (pinned by EVALD_FIXED_TIME_MS, in UTC).
"""
import datetime
import json
import os
import sys

import jinja2
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def strftime_now(fmt):
    ms = os.environ.get("EVALD_FIXED_TIME_MS")
    now = (datetime.datetime.fromtimestamp(int(ms) / 1000, tz=datetime.timezone.utc)
           if ms is not None else datetime.datetime.now())
    return now.strftime(fmt)


def main():
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    with open(sys.argv[1], encoding="utf-8") as f:
        cases = json.load(f)
    compiled = {}
    results = []
    for case in cases:
        try:
            template = compiled.get(case["template"])
            if template is None:
                template = env.from_string(case["template"])
                compiled[case["template"]] = template
            results.append({"ok": True, "output": template.render(**case["context"])})
        except Exception as e:  # any failure is a rejected case
            results.append({"ok": False, "error": "%s: %s" % (type(e).__name__, e)})
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        json.dump(results, f, ensure_ascii=False)


if __name__ == "__main__":
    main()

#!/usr/bin/python3
# File: tests/tasks/lm_eval/lm_eval_reference.py
"""An independent construction of lm-evaluation-harness's rules for one
task YAML with local JSON Lines data (the shapes of examples/lm-eval-tasks
that the built-in tasks lack): the prompt of every document and, for a
scripted loglikelihood, the task's metrics.

Written from lm-eval's documented behaviour (ConfigurableTask.doc_to_*,
fewshot_context, the default ContextSampler, process_results, the mean /
weighted_perplexity / bits_per_byte aggregations and mean_stderr), not
from evald's code. Prints one JSON object:
  {"docs": [{"context", "continuations"}], "metrics": {...}, "stderr": {...}}
"""
import ast
import json
import math
import os
import random
import re
import sys

import jinja2
import yaml

ENV = jinja2.Environment(
    loader=jinja2.BaseLoader(),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
)


def render(template, doc):
    return ENV.from_string(template).render(**doc)


def read_split(folder, split):
    with open(os.path.join(folder, split + ".jsonl"), encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def scripted_ll(context, continuation):
    # The same scripted model as the C++ test: sum of the continuation's
    # UTF-8 bytes mod 101, over 7, plus a context-length term.
    return -(sum(continuation.encode("utf-8")) % 101) / 7.0 - (
        len(context.encode("utf-8")) % 13
    ) / 10.0


def main(path):
    with open(path, encoding="utf-8") as f:
        cfg = yaml.safe_load(f)
    folder = os.path.join(os.path.dirname(path), cfg["dataset_path"])
    eval_split = cfg.get("test_split") or cfg["validation_split"]
    docs = read_split(folder, eval_split)
    features = set(docs[0].keys())
    has_choice = cfg.get("doc_to_choice") is not None

    def doc_to_text(doc):
        field = cfg.get("doc_to_text", "")
        if field in features:
            return doc[field]
        text = render(field, doc)
        if text.isdigit() and has_choice:
            return ast.literal_eval(text)
        return text

    def doc_to_target(doc):
        field = cfg["doc_to_target"]
        if isinstance(field, int):
            return field
        if field in features:
            return doc[field]
        text = render(field, doc)
        if text.isdigit() and has_choice:
            return ast.literal_eval(text)
        if len(text) >= 2 and text[0] == "[" and text[-1] == "]":
            try:
                return ast.literal_eval(text)
            except (SyntaxError, ValueError):
                return text
        return text

    def doc_to_choice(doc):
        field = cfg["doc_to_choice"]
        if isinstance(field, list):
            return field
        if field in features:
            return doc[field]
        return ast.literal_eval(render(field, doc))

    td = cfg.get("target_delimiter", " ")
    fd = cfg.get("fewshot_delimiter", "\n\n")
    n_shots = cfg.get("num_fewshot") or 0
    pool = []
    if n_shots:
        split = cfg.get("fewshot_split") or cfg.get("training_split")
        pool = read_split(folder, split)
    rnd = random.Random(1234)
    # lm-eval passes the eval document to the sampler (which then draws
    # n+1 and drops it) when the few-shot split equals test_split; both may
    # be None.
    fewshot_split = (cfg.get("fewshot_config") or {}).get("split") or cfg.get(
        "fewshot_split"
    )
    pass_eval_doc = fewshot_split == cfg.get("test_split")
    out_docs = []
    per_doc = []
    for doc in docs:
        if cfg["output_type"] == "loglikelihood_rolling":
            text = doc_to_target(doc)
            out_docs.append({"context": "", "continuations": [text]})
            ll = scripted_ll("", text)
            per_doc.append(
                {
                    "ll": ll,
                    "words": len(re.split(r"\s+", text)),
                    "bytes": len(text.encode("utf-8")),
                }
            )
            continue
        description = render(cfg.get("description", ""), doc)
        context = description
        shots = []
        if n_shots and pass_eval_doc:
            shots = [x for x in rnd.sample(pool, n_shots + 1) if x != doc][:n_shots]
        elif n_shots:
            shots = rnd.sample(pool, n_shots)
        for shot in shots:
            answer = doc_to_target(shot)
            if isinstance(answer, int):
                answer = doc_to_choice(shot)[answer]
            context += doc_to_text(shot) + td + answer + fd
        context += doc_to_text(doc)
        choices = doc_to_choice(doc)
        continuations = [td + c for c in choices]
        out_docs.append({"context": context, "continuations": continuations})
        lls = [scripted_ll(context, c) for c in continuations]
        gold = doc_to_target(doc)
        if isinstance(gold, str):
            gold = choices.index(gold)
        pred = max(range(len(lls)), key=lambda i: (lls[i], -i))
        lens = [float(len(c)) for c in choices]
        pred_norm = max(range(len(lls)), key=lambda i: (lls[i] / lens[i], -i))
        per_doc.append(
            {"acc": float(pred == gold), "acc_norm": float(pred_norm == gold)}
        )

    metrics = {}
    stderr = {}
    names = [m["metric"] for m in cfg["metric_list"]]
    for name in names:
        key = name + ",none"
        if name in ("acc", "acc_norm"):
            xs = [d[name] for d in per_doc]
            mu = sum(xs) / len(xs)
            metrics[key] = mu
            sd = math.sqrt(sum((x - mu) ** 2 for x in xs) / (len(xs) - 1))
            stderr[key] = sd / math.sqrt(len(xs))
        else:
            ll = sum(d["ll"] for d in per_doc)
            words = sum(d["words"] for d in per_doc)
            nbytes = sum(d["bytes"] for d in per_doc)
            if name == "word_perplexity":
                metrics[key] = math.exp(-ll / words)
            elif name == "byte_perplexity":
                metrics[key] = math.exp(-ll / nbytes)
            else:
                metrics[key] = -(ll / nbytes) / math.log(2)
            stderr[key] = None  # lm-eval: N/A for these aggregations
    json.dump({"docs": out_docs, "metrics": metrics, "stderr": stderr}, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1])

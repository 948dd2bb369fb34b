# File: tests/daemon/testdata/lm_eval_check.py
# Reads an lm-evaluation-harness output folder the way lm-eval's consumers do
# (json.load of results_*.json, one json.loads per samples_*.jsonl line) and
# checks it against lm-eval's own rules (evaluator.py, evaluator_utils.py,
# loggers/evaluation_tracker.py at 4e7e0d47f33b), written from those rules:
#   - the files are where lm-eval puts them: DIR/<model_name_sanitized>/
#     results_<date>.json and samples_<task>_<date>.jsonl with the same <date>;
#   - both are byte for byte what Python's json.dumps writes for their content
#     (indent=2 for results, default separators for sample rows,
#     ensure_ascii=False);
#   - the keys lm-eval writes are present, with the types it writes;
#   - doc_hash, prompt_hash, target_hash of every row and task_hashes of every
#     task recomputed;
#   - each task's metric is the mean of its rows, its stderr the sample
#     standard deviation / sqrt(n); a group's is the size-weighted mean with
#     the pooled stderr.
# Usage: lm_eval_check.py DIR   prints "ok <tasks> <rows>" or fails.
import glob
import hashlib
import json
import math
import os
import re
import sys


def sha(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def fail(message):
    print("FAIL: " + message)
    sys.exit(1)


def check(condition, message):
    if not condition:
        fail(message)


out_dir = sys.argv[1]
model_dirs = [d for d in os.listdir(out_dir) if os.path.isdir(os.path.join(out_dir, d))]
check(len(model_dirs) == 1, "one model folder expected, got %r" % model_dirs)
model_dir = os.path.join(out_dir, model_dirs[0])
result_files = glob.glob(os.path.join(model_dir, "results_*.json"))
check(len(result_files) == 1, "one results file expected, got %r" % result_files)
results_path = result_files[0]
date_id = os.path.basename(results_path)[len("results_"):-len(".json")]
check(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{6}", date_id),
      "date id %r is not datetime.isoformat() with ':' -> '-'" % date_id)

with open(results_path, encoding="utf-8") as f:
    text = f.read()
results = json.loads(text)
check(json.dumps(results, indent=2, ensure_ascii=False) == text,
      "results file differs from json.dumps(indent=2, ensure_ascii=False)")

for key in ["results", "group_subtasks", "configs", "versions", "n-shot",
            "higher_is_better", "n-samples", "config", "git_hash", "date",
            "task_hashes", "model_name", "model_name_sanitized", "start_time",
            "end_time", "total_evaluation_time_seconds", "evald"]:
    check(key in results, "results file lacks %r" % key)
check(re.sub(r"[\"<>:/|\\?*\[\]]+", "__", results["model_name"]) ==
      results["model_name_sanitized"] == model_dirs[0],
      "model_name_sanitized is not sanitize_model_name(model_name)")
for key in ["model", "model_args", "batch_size", "limit", "bootstrap_iters",
            "gen_kwargs", "random_seed", "numpy_seed", "torch_seed",
            "fewshot_seed"]:
    check(key in results["config"], "config lacks %r" % key)
check(isinstance(results["total_evaluation_time_seconds"], str),
      "total_evaluation_time_seconds is a str in lm-eval")
check(results["evald"].get("run_id"), "evald.run_id missing")

groups = results["group_subtasks"]
leaves = [t for t in results["results"] if t not in groups]
rows_total = 0
for task in leaves:
    entry = results["results"][task]
    for key in ["name", "alias", "sample_len"]:
        check(key in entry, "results[%r] lacks %r" % (task, key))
    check(task in results["configs"], "configs lacks %r" % task)
    check(task in results["versions"], "versions lacks %r" % task)
    check(task in results["n-shot"], "n-shot lacks %r" % task)
    check(task in results["higher_is_better"], "higher_is_better lacks %r" % task)
    n = results["n-samples"][task]
    check(set(n) == {"original", "effective"}, "n-samples[%r] keys" % task)
    check(n["effective"] == entry["sample_len"], "n-samples effective != sample_len")
    config = results["configs"][task]
    check(config["task"] == task, "configs[%r].task" % task)

    path = os.path.join(model_dir, "samples_%s_%s.jsonl" % (task, date_id))
    check(os.path.exists(path), "no samples file %s" % path)
    rows = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            row = json.loads(line)
            check(json.dumps(row, ensure_ascii=False) + "\n" == line,
                  "%s:%d differs from json.dumps(row, ensure_ascii=False)" % (path, number))
            rows.append(row)
    rows_total += len(rows)
    expected_keys = ["doc_id", "doc", "target", "arguments", "resps",
                     "filtered_resps", "filter", "metrics", "doc_hash",
                     "prompt_hash", "target_hash"]
    hashes = []
    by_filter = {}
    for row in rows:
        check(list(row)[:len(expected_keys)] == expected_keys,
              "row keys %r" % list(row))
        check(isinstance(row["doc_id"], int), "doc_id not an int")
        check(isinstance(row["target"], str), "target not a str")
        args = row["arguments"]
        check(list(args) == ["gen_args_%d" % i for i in range(len(args))],
              "arguments keys %r" % list(args))
        for a in args.values():
            check(list(a) == ["arg_%d" % j for j in range(len(a))], "arg keys")
        check(row["doc_hash"] == sha(json.dumps(row["doc"], indent=2, ensure_ascii=False)),
              "doc_hash of %s doc %d" % (task, row["doc_id"]))
        check(row["prompt_hash"] == sha(args["gen_args_0"]["arg_0"]),
              "prompt_hash of %s doc %d" % (task, row["doc_id"]))
        check(row["target_hash"] == sha(str(row["target"])), "target_hash")
        check(len(row["resps"]) == len(args), "one resps entry per request")
        check(len(row["filtered_resps"]) == len(args), "one filtered_resps entry per request")

        def all_str(v):
            return all(all_str(x) for x in v) if isinstance(v, list) else isinstance(v, str)
        check(all_str(row["resps"]) and all_str(row["filtered_resps"]),
              "resps are sanitize_list()ed strings")
        if config["output_type"] == "multiple_choice":
            for r in row["resps"]:
                check(len(r) == 1 and len(r[0]) == 2 and r[0][1] in ("True", "False"),
                      "loglikelihood resps are [[str(logprob), str(is_greedy)]]")
                check(str(float(r[0][0])) == r[0][0],
                      "logprob %r is not Python's str() of a float" % r[0][0])
            # acc: the argmax of the choices' logprobs is the target.
            lls = [float(r[0]) for r in row["filtered_resps"]]
            gold = int(row["target"])
            check(float(lls.index(max(lls)) == gold) == row["acc"], "acc of a row")
            if isinstance(config["doc_to_choice"], list):  # else a template
                check(row["arguments"]["gen_args_%d" % gold]["arg_1"].endswith(
                    config["doc_to_choice"][gold]), "continuation of the gold choice")
        elif config["output_type"] == "loglikelihood_rolling":
            check(len(args) == 1 and list(args["gen_args_0"]) == ["arg_0"],
                  "a rolling request's one argument is the text")
            for m in row["metrics"]:
                v = row[m]
                check(isinstance(v, list) and len(v) == 2 and isinstance(v[1], int),
                      "%s of a row is lm-eval's (loglikelihood, weight)" % m)
                check(v[0] == float(row["resps"][0][0]), "%s loglikelihood" % m)
        else:
            check(isinstance(row["arguments"]["gen_args_0"]["arg_1"], dict),
                  "generation kwargs are a dict")
            check(row["arguments"]["gen_args_0"]["arg_1"]["until"] ==
                  config["generation_kwargs"]["until"], "until from the config")
        for m in row["metrics"]:
            check(m in row, "row lacks its metric %r" % m)
        by_filter.setdefault(row["filter"], []).append(row)
        hashes.append(row["doc_hash"] + row["prompt_hash"] + row["target_hash"])
    check(results["task_hashes"].get(task) == sha("".join(hashes)),
          "task_hashes[%r] is not sha256 of the rows' hashes" % task)
    for filt, frows in by_filter.items():
        ids = [r["doc_id"] for r in frows]
        check(ids == sorted(ids), "rows of filter %s in doc order" % filt)
        for metric in frows[0]["metrics"]:
            values = [r[metric] for r in frows]
            key = "%s,%s" % (metric, filt)
            skey = "%s_stderr,%s" % (metric, filt)
            check(key in entry, "results[%r] lacks %r" % (task, key))
            check(entry["sample_len"] == len(values), "sample_len of %s" % task)
            if config["output_type"] == "loglikelihood_rolling":
                # weighted_perplexity / bits_per_byte over (ll, weight) pairs.
                ll = sum(v[0] for v in values)
                weight = sum(v[1] for v in values)
                want = (-ll / weight / math.log(2) if metric == "bits_per_byte"
                        else math.exp(-ll / weight))
                check(abs(entry[key] - want) <= 1e-9 * abs(want), "%s %s" % (task, key))
                check(entry[skey] == "N/A", "%s %s is N/A" % (task, skey))
                continue
            if all(isinstance(v, list) for v in values):
                # IFEval's instruction level: the mean over every instruction
                # (utils.agg_inst_level_acc), no stderr.
                flat = [float(x) for v in values for x in v]
                mean = sum(flat) / len(flat)
                check(abs(entry[key] - mean) < 1e-12, "%s %s" % (task, key))
                check(entry[skey] == "N/A", "%s %s is N/A" % (task, skey))
                continue
            xs = [float(v) for v in values]
            mean = sum(xs) / len(xs)
            check(abs(entry[key] - mean) < 1e-12, "%s %s: %r != mean %r" % (task, key, entry[key], mean))
            if len(xs) > 1:
                sd = math.sqrt(sum((x - mean) ** 2 for x in xs) / (len(xs) - 1))
                check(abs(entry[skey] - sd / math.sqrt(len(xs))) < 1e-12,
                      "%s %s: %r" % (task, skey, entry[skey]))
            else:
                check(entry[skey] == "N/A", "one sample: stderr N/A")

# Groups: size-weighted mean and pooled stderr over their leaf tasks.
def leaf_tasks(name):
    out = []
    for child in groups.get(name, []):
        out += leaf_tasks(child) if child in groups else [child]
    return out


for group in groups:
    entry = results["results"][group]
    for key in [k for k in entry if "," in k and "_stderr," not in k]:
        subs = leaf_tasks(group)
        sizes = [results["results"][t]["sample_len"] for t in subs]
        values = [results["results"][t][key] for t in subs]
        mean = sum(v * n for v, n in zip(values, sizes)) / sum(sizes)
        check(abs(entry[key] - mean) < 1e-12, "group %s %s" % (group, key))
        metric, filt = key.split(",")
        ses = [results["results"][t]["%s_stderr,%s" % (metric, filt)] for t in subs]
        pooled = math.sqrt(sum((n - 1) * se * se * n for n, se in zip(sizes, ses))
                           / (sum(sizes) - len(sizes)) / sum(sizes))
        check(abs(entry["%s_stderr,%s" % (metric, filt)] - pooled) < 1e-12,
              "group %s pooled stderr" % group)
        check(entry["sample_count"][key] == sum(sizes), "group sample_count")
        check(results["groups"][group] == entry, "groups[%r]" % group)

print("ok %d %d" % (len(leaves), rows_total))

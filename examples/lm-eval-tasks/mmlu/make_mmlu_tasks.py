#!/usr/bin/env python3
# File: examples/lm-eval-tasks/mmlu/make_mmlu_tasks.py
"""Writes lm-eval's MMLU task files for the subjects of a Hendrycks MMLU
folder (dev/<subject>_dev.csv, test/<subject>_test.csv), with the data as
JSON Lines in cais/mmlu's columns (question, subject, choices, answer 0-3):

    make_mmlu_tasks.py CSV_FOLDER OUT_FOLDER

OUT_FOLDER gets data/<subject>/{dev,test}.jsonl and mmlu_<subject>.yaml per
subject; the shared template and the group files are copied in by hand (see
README.md in this folder). Standard library only."""
import csv
import json
import os
import sys

GROUPS = {
    "stem": "abstract_algebra anatomy astronomy college_biology college_chemistry "
    "college_computer_science college_mathematics college_physics computer_security "
    "conceptual_physics electrical_engineering elementary_mathematics high_school_biology "
    "high_school_chemistry high_school_computer_science high_school_mathematics "
    "high_school_physics high_school_statistics machine_learning",
    "humanities": "formal_logic high_school_european_history high_school_us_history "
    "high_school_world_history international_law jurisprudence logical_fallacies "
    "moral_disputes moral_scenarios philosophy prehistory professional_law world_religions",
    "social_sciences": "econometrics high_school_geography "
    "high_school_government_and_politics high_school_macroeconomics "
    "high_school_microeconomics high_school_psychology human_sexuality "
    "professional_psychology public_relations security_studies sociology us_foreign_policy",
    "other": "business_ethics clinical_knowledge college_medicine global_facts human_aging "
    "management marketing medical_genetics miscellaneous nutrition professional_accounting "
    "professional_medicine virology",
}
GROUP_OF = {s: g for g, subjects in GROUPS.items() for s in subjects.split()}


def rows(path, subject):
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.reader(f):
            if not row:
                continue
            yield {
                "question": row[0],
                "subject": subject,
                "choices": row[1:5],
                "answer": "ABCD".index(row[5].strip()),
            }


def yaml_str(s):
    return json.dumps(s, ensure_ascii=False)


def main(src, out):
    subjects = sorted(
        name[: -len("_test.csv")]
        for name in os.listdir(os.path.join(src, "test"))
        if name.endswith("_test.csv")
    )
    for subject in subjects:
        folder = os.path.join(out, "data", subject)
        os.makedirs(folder, exist_ok=True)
        for split in ("dev", "test"):
            path = os.path.join(src, split, f"{subject}_{split}.csv")
            with open(os.path.join(folder, f"{split}.jsonl"), "w", encoding="utf-8") as f:
                for row in rows(path, subject):
                    f.write(json.dumps(row, ensure_ascii=False) + "\n")
        words = " ".join(subject.split("_"))
        description = (
            f"The following are multiple choice questions (with answers) about {words}.\n\n"
        )
        with open(os.path.join(out, f"mmlu_{subject}.yaml"), "w", encoding="utf-8") as f:
            f.write(f"dataset_name: {yaml_str(subject)}\n")
            f.write(f"description: {yaml_str(description)}\n")
            f.write(f"tag: {yaml_str('mmlu_' + GROUP_OF[subject] + '_tasks')}\n")
            f.write('include: "_default_template_yaml"\n')
            f.write(f"task: {yaml_str('mmlu_' + subject)}\n")
            f.write(f"task_alias: {yaml_str(subject)}\n")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: make_mmlu_tasks.py CSV_FOLDER OUT_FOLDER")
    main(sys.argv[1], sys.argv[2])

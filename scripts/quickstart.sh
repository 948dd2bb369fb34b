#!/usr/bin/env bash
# evald quickstart: installs the packages, builds, starts evald in the
# background, writes a small random-weight Llama-architecture model, submits
# examples/suite.yaml and prints the results table.
#
#   scripts/quickstart.sh
#
# Everything it makes lives under demo/ (the model, the daemon's data dir,
# its log). Stop the daemon afterwards with: kill "$(cat demo/evald.pid)"
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

echo "== 1/5 installing packages"
scripts/install-deps.sh

echo "== 2/5 building (Release)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target evald evalctl evald-make-checkpoint

mkdir -p demo
echo "== 3/5 writing the demo model (random weights, Llama architecture) to demo/model"
if [ ! -f demo/model/config.json ]; then
  build/bin/evald-make-checkpoint --preset tiny --seed 1 --out demo/model
fi

echo "== 4/5 starting evald (data dir demo/data, log demo/evald.log)"
if [ -f demo/evald.pid ] && kill -0 "$(cat demo/evald.pid)" 2>/dev/null; then
  echo "evald already running (pid $(cat demo/evald.pid))"
else
  build/bin/evald --data-dir demo/data >demo/evald.log 2>&1 &
  echo $! > demo/evald.pid
fi
export EVALD_ADDR="unix:$root/demo/data/evald.sock"
for _ in $(seq 1 100); do
  [ -S demo/data/evald.sock ] && break
  sleep 0.1
done

echo "== 5/5 submitting examples/suite.yaml"
echo "   NOTE: the demo model has random weights, so its scores are at chance"
echo "   (about 25% on 4-way MMLU, near 0 on GSM8K). The point is the machinery."
build/bin/evalctl submit examples/suite.yaml --wait
echo
echo "evald is still running (pid $(cat demo/evald.pid)); try:"
echo "  export EVALD_ADDR=$EVALD_ADDR"
echo "  build/bin/evalctl list"
echo "  build/bin/evalctl env <RUN>"
echo "  build/bin/evalctl samples <RUN> gsm8k --limit 2"
echo "  build/bin/evalctl submit examples/judged.yaml --wait   # a judged task (docs/judged.md)"
echo "stop it with: kill \"\$(cat demo/evald.pid)\""

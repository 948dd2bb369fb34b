#!/usr/bin/env bash
# Every GPU check of the CUDA backend in one run, on a machine with an NVIDIA GPU and CUDA 13:
# the per-op and whole-model conformance tests, then the benchmarks (each figure against a
# yardstick measured in the same run) for an 8B BF16 candidate, a 70B-shaped AWQ INT4 judge
# and the two resident together, then the comparison with transformers.
#
#   bench/gpu/run_checks.sh PROGRAMS OUT [all|conformance|bench]
#
# PROGRAMS is a folder with bin/ and lib/: the programs below, built on any machine with the
# CUDA toolkit, and the shared libraries they need (ICU, abseil, ...; not the CUDA ones);
# bench/gpu/pack_programs.sh makes it:
#   evald-cuda-bench evald-make-checkpoint evald-logprobs evald-int4-gemv-bench
#   cuda_model_test kernels_test int4_gemm_test virtual_memory_test launch_shapes_test
#   footprint_test
# OUT receives one log per step and summary.txt, the lines that carry the figures.
#
# The third argument runs one half (conformance: the tests and the transformers comparisons,
# about two minutes; bench: checkpoints and benchmarks), for machines lent by the quarter hour.
# The conformance half checks the CPU-side correctness work of issue 19 on the device: the step
# buffers of a 2,048-token echo against the planner's count (CudaFootprintTest, which prints
# "echo of 2048 tokens: step allocated ... counted ..."), QkvPost at the 405B shape (72 KiB of
# shared memory, opted in), unmatched and cross-device unmaps (virtual_memory_test), the tiled
# and per-row attention bit for bit (cuda_model_test, kernels_test), and an AWQ checkpoint
# against transformers running its weights dequantised with AutoAWQ's layout (hf-compare-awq).
#
# Environment (defaults in brackets): WORK [/tmp/evald-gpu] for the random-weight checkpoints,
# JUDGE_LAYERS [20] layers of the 70B-shaped judge (80 is the real model, 37 GiB to write:
# decode's fraction of the roofline does not depend on the layer count), MMLU_QUESTIONS [1000]
# and GSM8K [200] (14042 and 1319 are the full test sets the wall-time goals are stated for),
# STEP_TIMEOUT [240] seconds per step.
set -uo pipefail
[ $# -ge 2 ] && [ $# -le 3 ] || { sed -n '2,22p' "$0"; exit 2; }
part=${3:-all}
case $part in all|conformance|bench) ;; *) echo "run_checks.sh: unknown part '$part'" >&2; exit 2;; esac
programs=$(cd "$1" && pwd)
out=$2
here=$(cd "$(dirname "$0")" && pwd)
work=${WORK:-/tmp/evald-gpu}
judge_layers=${JUDGE_LAYERS:-20}
mmlu=${MMLU_QUESTIONS:-1000}
gsm8k=${GSM8K:-200}
step_timeout=${STEP_TIMEOUT:-240}
mkdir -p "$out" "$work"
# The programs' libraries come first for them, but not for python3: its torch and ssl must not
# load the packed libstdc++ or libcrypto. hf_compare.py hands EVALD_LD_LIBRARY_PATH to the
# evald programs it starts.
system_ld=${LD_LIBRARY_PATH:-}
export EVALD_LD_LIBRARY_PATH="$programs/lib:/usr/local/cuda/lib64${system_ld:+:$system_ld}"
export LD_LIBRARY_PATH=$EVALD_LD_LIBRARY_PATH
py=(env "LD_LIBRARY_PATH=$system_ld" python3)  # a command, so that timeout can run it
bin=$programs/bin
summary=$out/summary.txt
: > "$summary"
status=0

step() {  # step NAME COMMAND...: runs it under the timeout, logs it, notes its exit status
  local name=$1; shift
  local start=$SECONDS
  timeout "$step_timeout" "$@" > "$out/$name.log" 2>&1
  local rc=$?
  echo "== $name: exit $rc in $((SECONDS - start)) s" | tee -a "$summary"
  [ $rc -eq 0 ] || status=1
  return $rc
}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee -a "$summary"

if [ "$part" != bench ]; then
  # 1. Conformance against the CPU backend; the tests print their measured gaps.
  for t in launch_shapes_test footprint_test kernels_test int4_gemm_test virtual_memory_test \
           cuda_model_test; do
    step "$t" "$bin/$t"
    grep -E "max \||elastic kv|K splits|does not fit|echo of|FAILED|SKIPPED \] [0-9]+ test|PASSED" \
      "$out/$t.log" | head -20 >> "$summary"
  done
  # 2. Against transformers on small random Llamas (and the CPU backend): BF16, and AWQ INT4
  # compared through its weights dequantised with AutoAWQ's layout.
  if "${py[@]}" -c "import torch, transformers" 2> /dev/null; then
    step make-tiny "$bin/evald-make-checkpoint" --preset tiny --out "$work/tiny"
    step hf-compare "${py[@]}" "$here/hf_compare.py" --model "$work/tiny" \
      --evald-logprobs "$bin/evald-logprobs"
    tail -5 "$out/hf-compare.log" >> "$summary"
    step make-tiny-awq "$bin/evald-make-checkpoint" --preset tiny --dtype awq-int4 \
      --awq-group-size 64 --out "$work/tiny-awq"
    step hf-compare-awq "${py[@]}" "$here/hf_compare.py" --model "$work/tiny-awq" \
      --evald-logprobs "$bin/evald-logprobs"
    tail -6 "$out/hf-compare-awq.log" >> "$summary"
  else
    echo "== hf-compare: skipped (python3 cannot import torch and transformers)" | tee -a "$summary"
  fi
fi
[ "$part" = conformance ] && { cat "$summary"; exit $status; }

# 3. Random-weight checkpoints of the real shapes.
[ -f "$work/8b/config.json" ] ||
  step make-8b "$bin/evald-make-checkpoint" --preset llama-3.1-8b --out "$work/8b"
[ -f "$work/70b-awq/config.json" ] ||
  step make-70b "$bin/evald-make-checkpoint" --preset llama-3.1-70b-awq --layers "$judge_layers" \
    --out "$work/70b-awq"

# 4. The candidate: decode vs the HBM roofline, prefill vs the GEMM peak, MMLU and GSM8K wall.
step bench-8b "$bin/evald-cuda-bench" --model "$work/8b" --decode 64 --questions "$mmlu" \
  --gsm8k "$gsm8k"
step bench-8b-fast-gemm "$bin/evald-cuda-bench" --model "$work/8b" --decode 64 --questions 0 \
  --gsm8k 0 --fast-gemm
step bench-8b-tiled-attention "$bin/evald-cuda-bench" --model "$work/8b" --decode 64 --questions 0 \
  --gsm8k 0 --tiled-attention
# 5. The judge's INT4 path, and the kernel alone at 70B shapes.
step bench-70b-awq "$bin/evald-cuda-bench" --model "$work/70b-awq" --decode 32 --questions 0 \
  --gsm8k 0
step int4-gemv "$bin/evald-int4-gemv-bench"
# 6. Both resident, the judge grading while the candidate generates.
step co-resident "$bin/evald-cuda-bench" --model "$work/8b" --decode 0 --questions 0 --gsm8k 0 \
  --judge "$work/70b-awq" --judge-prompts 256
for f in bench-8b bench-8b-fast-gemm bench-8b-tiled-attention bench-70b-awq int4-gemv co-resident; do
  grep -E "^(device|yardsticks|model|attention|prefill|decode|mmlu|gsm8k|co-resident)|GB/s" "$out/$f.log" \
    | sed "s/^/[$f] /" >> "$summary"
done

cat "$summary"
exit $status

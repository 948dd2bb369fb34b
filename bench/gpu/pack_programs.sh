#!/usr/bin/env bash
# Packs the programs run_checks.sh runs, built here, for a GPU machine that has the CUDA
# runtime and cuBLASLt (CUDA 13) but none of evald's other shared libraries:
#
#   bench/gpu/pack_programs.sh BUILD OUT.tar.xz
#
# BUILD is a build folder where these targets are built:
#   make -C BUILD -j2 evald-cuda-bench evald-make-checkpoint evald-logprobs \
#     evald-int4-gemv-bench cuda_model_test kernels_test int4_gemm_test virtual_memory_test \
#     launch_shapes_test footprint_test
# The archive holds bin/ (the programs) and lib/ (every shared library they load except the C
# library, the loader and CUDA's own), so on the GPU machine
#   mkdir -p /tmp/evald-programs && tar -xJf OUT.tar.xz -C /tmp/evald-programs
#   bench/gpu/run_checks.sh /tmp/evald-programs OUT_DIR conformance
# runs them.
set -euo pipefail
[ $# -eq 2 ] || { sed -n '2,16p' "$0"; exit 2; }
build=$(cd "$1" && pwd)
archive=$2
programs=(evald-cuda-bench evald-make-checkpoint evald-logprobs evald-int4-gemv-bench
          cuda_model_test kernels_test int4_gemm_test virtual_memory_test launch_shapes_test
          footprint_test)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin" "$stage/lib"
for p in "${programs[@]}"; do
  found=""
  for dir in "$build/bin" "$build/tests"; do
    [ -x "$dir/$p" ] && { found="$dir/$p"; break; }
  done
  [ -n "$found" ] || { echo "pack_programs.sh: $p is not built in $build" >&2; exit 1; }
  cp "$found" "$stage/bin/"
  # Every resolved library but glibc's, the loader and CUDA's (the GPU machine has its own).
  ldd "$found" | awk '$3 ~ /^\// {print $3}' |
    grep -Ev '/(libc|libm|libdl|librt|libpthread|ld-linux[^/]*)\.so|/libcuda\.so|/libcublas|/libcudart' |
    while read -r lib; do cp -Ln "$lib" "$stage/lib/" 2>/dev/null || true; done
done
tar -cJf "$archive" -C "$stage" bin lib
echo "pack_programs.sh: $(ls "$stage/bin" | wc -l) programs, $(ls "$stage/lib" | wc -l) libraries," \
  "$(du -h "$archive" | cut -f1) in $archive"

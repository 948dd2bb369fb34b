#!/usr/bin/env bash
# Installs the Debian 12 packages evald builds and tests with. Idempotent:
# does nothing when everything is already installed. Needs root (or sudo).
set -euo pipefail

packages=(
  build-essential cmake pkg-config ccache git clang-format
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev librocksdb-dev libyaml-cpp-dev libcli11-dev
  libgtest-dev libgmock-dev
  libpcre2-dev libicu-dev libcld2-dev libcurl4-openssl-dev libssl-dev libarchive-dev libopenblas-dev
  python3 python3-torch python3-numpy python3-jinja2 python3-langdetect
  nodejs
  chromium
  # Sharded runs drive Slurm's own commands; the tests start a real
  # single-node cluster (sbatch, scontrol, scancel, squeue from slurm-client,
  # slurmctld, slurmd, munged: all Depends, none a Recommends).
  slurm-wlm munge
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "install-deps: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"

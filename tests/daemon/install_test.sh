#!/usr/bin/env bash
# `cmake --install` into a temporary prefix puts evald, evalctl, the man
# pages, the shell completions and the systemd units where they belong, and
# what it installed works from there: the binaries run, every man page renders
# without a warning, the bash completion completes, the units verify.
#
# Usage: install_test.sh BUILD_DIR
set -euo pipefail
build="$1"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
prefix="$tmp/prefix"
fail() { echo "FAIL: $*" >&2; exit 1; }

cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" || {
  cat "$tmp/install.log" >&2
  fail "cmake --install"
}

for f in bin/evald bin/evalctl \
         share/bash-completion/completions/evalctl \
         share/zsh/site-functions/_evalctl \
         share/fish/vendor_completions.d/evalctl.fish \
         share/man/man1/evalctl.1 share/man/man1/evalctl-submit.1 share/man/man1/evalctl-prompt.1 \
         share/man/man8/evald.8 \
         lib/systemd/system/evald.service lib/systemd/user/evald.service; do
  [ -f "$prefix/$f" ] || fail "$f is not installed"
done
[ -x "$prefix/bin/evald" ] && [ -x "$prefix/bin/evalctl" ] || fail "the binaries are not executable"

# One man page per command evalctl lists.
commands=$("$prefix/bin/evalctl" --help | sed -n '/^commands:/,/^$/p' | awk 'NR > 1 && NF { print $1 }')
[ -n "$commands" ] || fail "evalctl --help lists no commands"
for c in $commands; do
  [ -f "$prefix/share/man/man1/evalctl-$c.1" ] || fail "no man page for evalctl $c"
done

version_re='^evald [0-9]+\.[0-9]+\.[0-9]+ \(commit ([0-9a-f]+|unknown), [A-Za-z]+\)$'
v1=$("$prefix/bin/evalctl" --version)
v2=$("$prefix/bin/evald" --version)
[[ "$v1" =~ $version_re ]] || fail "evalctl --version printed '$v1'"
[ "$v1" = "$v2" ] || fail "evalctl and evald disagree on the version: '$v1' vs '$v2'"

# Every page renders, and without a warning from groff.
if command -v man >/dev/null; then
  for page in "$prefix"/share/man/man1/*.1 "$prefix"/share/man/man8/evald.8; do
    out=$(MANWIDTH=80 man --warnings -l "$page" 2>"$tmp/man.err") || fail "man -l $page"
    [ -s "$tmp/man.err" ] && fail "man -l $page warns: $(cat "$tmp/man.err")"
    grep -q "SYNOPSIS" <<<"$out" || fail "$page has no SYNOPSIS"
  done
  MANPATH="$prefix/share/man" man -w evalctl-samples >/dev/null || fail "man evalctl-samples not found under the prefix"
else
  echo "SKIP: man pages not rendered: man is not installed"
fi

# The installed bash completion, loaded as bash-completion would.
offered=$(bash --norc --noprofile -c "source '$prefix/share/bash-completion/completions/evalctl'
  COMP_WORDS=(evalctl sub); COMP_CWORD=1; _evalctl; echo \"\${COMPREPLY[*]}\"")
[ "$offered" = "submit" ] || fail "completing 'evalctl sub' offered '$offered'"

# The units: ExecStart under the prefix, SIGTERM with room for the drain.
for unit in "$prefix/lib/systemd/system/evald.service" "$prefix/lib/systemd/user/evald.service"; do
  grep -q "^ExecStart=$prefix/bin/evald --data-dir \${EVALD_DATA_DIR} \$EVALD_FLAGS$" "$unit" ||
    fail "$unit: ExecStart is not $prefix/bin/evald"
  grep -q '^KillSignal=SIGTERM$' "$unit" || fail "$unit: no KillSignal=SIGTERM"
  stop=$(sed -n 's/^TimeoutStopSec=\([0-9]*\)$/\1/p' "$unit")
  [ -n "$stop" ] && [ "$stop" -gt 20 ] || fail "$unit: TimeoutStopSec must exceed the 20 s drain"
done
grep -q '^Environment=EVALD_DATA_DIR=%h/.local/share/evald$' "$prefix/lib/systemd/user/evald.service" ||
  fail "the user unit's data dir is not ~/.local/share/evald"
if command -v systemd-analyze >/dev/null; then
  export MANPATH="$prefix/share/man"  # verify checks the Documentation= pages
  mkdir -m 700 "$tmp/runtime"
  systemd-analyze verify "$prefix/lib/systemd/system/evald.service" >"$tmp/verify.log" 2>&1 ||
    fail "systemd-analyze verify (system unit): $(cat "$tmp/verify.log")"
  XDG_RUNTIME_DIR="$tmp/runtime" systemd-analyze --user verify \
    "$prefix/lib/systemd/user/evald.service" >>"$tmp/verify.log" 2>&1 ||
    fail "systemd-analyze verify (user unit): $(cat "$tmp/verify.log")"
  # verify exits 0 on some complaints; any output is one.
  [ -s "$tmp/verify.log" ] && fail "systemd-analyze verify: $(cat "$tmp/verify.log")"
else
  echo "SKIP: the units are not verified: systemd-analyze is not installed"
fi
echo "PASS: installed and checked under $prefix"

#!/usr/bin/env bash
# Peers side by side: lockcore, kernel flock, Python filelock and Node proper-lockfile, each timed
# by its own small driver (beside this script; the Rust ones are bins of lockcore-benches) on a
# lock in a fresh temp directory:
#   uncontended: one process, N acquire + release of one lock (µs per op);
#   contended:   K processes started together, each M acquire + release rounds on one lock
#                (holds per second over all of them, and the longest single wait).
# Peers are installed from their registries into a scratch folder ($PEERS_DIR, default
# <cargo target dir>/peers: py/ a venv with filelock, node/ proper-lockfile); a peer whose tool
# is missing or whose install fails (offline) gets a "skipped: <why>" row. Writes the markdown
# table to $PEERS_DIR/peers.md and prints it. Run from anywhere:
# The uncontended runs are repeated (PEERS_REPEAT, 3) with the peers in turn, so that each
# sees the same load, and the median is reported.
#   bash benches/peers/run.sh   # PEERS_ITERATIONS=2000 PEERS_REPEAT=3 PEERS_PROCS=4 PEERS_ROUNDS=1000
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
N=${PEERS_ITERATIONS:-2000}
K=${PEERS_PROCS:-4}
M=${PEERS_ROUNDS:-1000}
target=${CARGO_TARGET_DIR:-$root/target}
[[ $target == /* ]] || target=$PWD/$target
out=${PEERS_DIR:-$target/peers}
mkdir -p "$out"
work=$(mktemp -d "${TMPDIR:-/tmp}/lockcore-peers.XXXXXX")
trap 'rm -rf "$work"' EXIT

PEERS=(lockcore flock filelock proper-lockfile)
ROUNDS=${PEERS_REPEAT:-3}
declare -A skip=() version=() runs=() us_per_op=() holds_per_s=() max_wait_ms=() note=()

say() { printf 'peers: %s\n' "$*" >&2; }

setup_rust() {
  if ! command -v cargo >/dev/null; then
    skip[lockcore]="cargo not found"; skip[flock]="cargo not found"; return
  fi
  say "building the Rust drivers (release)"
  if ! (cd "$root" && cargo build --release -q -p lockcore-benches \
      --bin peer-lockcore --bin peer-flock) 2>"$out/rust-setup.log"; then
    skip[lockcore]="cargo build failed (see $out/rust-setup.log)"
    skip[flock]=${skip[lockcore]}
  fi
}

setup_python() {
  local py=$out/py log=$out/py-setup.log
  if ! command -v python3 >/dev/null; then skip[filelock]="python3 not found"; return; fi
  if [[ ! -x $py/bin/python ]] && ! python3 -m venv "$py" >"$log" 2>&1; then
    rm -rf "$py"
    skip[filelock]="python3 -m venv failed (no venv/pip; see $log)"; return
  fi
  if "$py/bin/python" -c 'import filelock' 2>/dev/null; then return; fi
  say "installing filelock into $py"
  if ! "$py/bin/python" -m pip install --quiet --disable-pip-version-check --timeout 30 \
      --retries 1 filelock >>"$log" 2>&1; then
    skip[filelock]="pip install filelock failed (offline? see $log)"
  fi
}

setup_node() {
  local nd=$out/node log=$out/node-setup.log
  if ! command -v node >/dev/null; then skip[proper-lockfile]="node not found"; return; fi
  if [[ -f $nd/node_modules/proper-lockfile/package.json ]]; then return; fi
  if ! command -v npm >/dev/null; then skip[proper-lockfile]="npm not found"; return; fi
  say "installing proper-lockfile into $nd"
  mkdir -p "$nd"
  if ! npm install --prefix "$nd" --no-audit --no-fund --silent --fetch-timeout=30000 \
      --fetch-retries=1 proper-lockfile >"$log" 2>&1; then
    skip[proper-lockfile]="npm install proper-lockfile failed (offline? see $log)"
  fi
}

# driver PEER MODE PATH N [START_MS]: one run of PEER's driver; prints its JSON line.
driver() {
  local peer=$1; shift
  case $peer in
    lockcore) "$target/release/peer-lockcore" "$@" ;;
    flock) "$target/release/peer-flock" "$@" ;;
    filelock) "$out/py/bin/python" "$here/filelock_driver.py" "$@" ;;
    proper-lockfile) NODE_PATH="$out/node/node_modules" node "$here/proper_lockfile_driver.js" "$@" ;;
  esac
}

# field KEY < JSON lines: the value of KEY in each line (numbers or strings, no nesting).
field() {
  sed -n "s/.*\"$1\": *\"\{0,1\}\([^,\"}]*\).*/\1/p"
}

# contended PEER DIR: K processes started together; fills holds_per_s, max_wait_ms, note.
contended() {
  local peer=$1 dir=$2 i pids=() failed=0 spread
  local start=$((($(date +%s) + 3) * 1000))
  for ((i = 0; i < K; i++)); do
    driver "$peer" contended "$dir/session.json" "$M" "$start" >"$dir/c$i.json" 2>"$dir/c$i.err" &
    pids+=($!)
  done
  for i in "${!pids[@]}"; do wait "${pids[$i]}" || failed=1; done
  if ((failed)); then
    note[$peer]="contended run failed: $(cat "$dir"/c*.err | tail -n 1)"; return
  fi
  read -r holds_per_s["$peer"] max_wait_ms["$peer"] spread < <(cat "$dir"/c*.json | awk '
    function f(k,  m) { if (match($0, "\"" k "\": *[0-9.eE+-]+")) { m = substr($0, RSTART, RLENGTH); sub(/.*: */, "", m); return m + 0 } return -1 }
    { r += f("rounds"); s = f("start_us"); e = f("end_us"); w = f("max_wait_us")
      if (NR == 1 || s < s0) s0 = s; if (NR == 1 || s > s1) s1 = s
      if (e > e1) e1 = e; if (w > wm) wm = w }
    END { printf "%.0f %.2f %.1f\n", r / ((e1 - s0) / 1e6), wm / 1e3, (s1 - s0) / 1e3 }')
  if awk -v s="$spread" 'BEGIN { exit !(s > 100) }'; then
    note[$peer]="starts spread over $spread ms"
  fi
}

# uncontended PEER: one run; appends its µs per op to runs[PEER]. A failure marks the peer
# skipped with the driver's last error line.
uncontended() {
  local peer=$1 dir=$work/$1 line
  mkdir -p "$dir"
  if ! line=$(driver "$peer" uncontended "$dir/session.json" "$N" 2>"$dir/u.err"); then
    skip[$peer]="failed: $(tail -n 1 "$dir/u.err")"; return
  fi
  runs[$peer]+=" $(field us_per_op <<<"$line")"
  version[$peer]=$(field version <<<"$line")
}

# median VALUES...: the median of a few numbers.
median() {
  printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

# ratio A B: A / B to two decimals, or "—" when either is missing.
ratio() {
  if [[ -z ${1:-} || -z ${2:-} ]]; then echo "—"; return; fi
  awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "—" }'
}

table() {
  local peer base_us=${us_per_op[lockcore]:-} base_h=${holds_per_s[lockcore]:-}
  echo "Peers, $(date -u +%Y-%m-%d) on $(nproc) cores, Linux $(uname -r), $(stat -f -c %T "$work")" \
    "temp dir, load average $(cut -d' ' -f1-3 /proc/loadavg)."
  echo "Uncontended: $N acquire + release in one process (median of $ROUNDS runs, peers in turn)." \
    "Contended: $K processes x $M rounds."
  echo "Time ratio: lower is faster; throughput ratio: higher is faster."
  echo
  echo "| peer | version | uncontended µs/op | time × lockcore | contended holds/s | throughput × lockcore | longest wait |"
  echo "| --- | --- | ---: | ---: | ---: | ---: | ---: |"
  for peer in "${PEERS[@]}"; do
    if [[ -n ${skip[$peer]:-} ]]; then
      echo "| $peer | — | skipped: ${skip[$peer]} | | | | |"; continue
    fi
    local h=${holds_per_s[$peer]:-} w=${max_wait_ms[$peer]:-}
    printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$peer" "${version[$peer]}" \
      "${us_per_op[$peer]}" "$(ratio "${us_per_op[$peer]}" "$base_us")" "${h:-—}" \
      "$(ratio "$h" "$base_h")" "${w:+$w ms}${note[$peer]:+ (${note[$peer]})}"
  done
}

setup_rust
setup_python
setup_node
for peer in "${PEERS[@]}"; do
  if [[ -n ${skip[$peer]:-} ]]; then say "$peer: skipped: ${skip[$peer]}"; fi
done
say "uncontended: $ROUNDS x $N acquire + release per peer, the peers in turn"
for ((r = 0; r < ROUNDS; r++)); do
  for peer in "${PEERS[@]}"; do
    if [[ -z ${skip[$peer]:-} ]]; then uncontended "$peer"; fi
  done
done
for peer in "${PEERS[@]}"; do
  if [[ -z ${skip[$peer]:-} ]]; then
    # shellcheck disable=SC2086 # the runs are a space-separated list of numbers
    us_per_op[$peer]=$(median ${runs[$peer]})
    say "$peer: contended ($K processes x $M rounds)"
    contended "$peer" "$work/$peer"
  fi
done
table >"$out/peers.md"
cat "$out/peers.md"
say "written to $out/peers.md"

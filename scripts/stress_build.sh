#!/usr/bin/env bash
# Stress the first build on a fresh machine: N consecutive `make clean && ploomber build` runs,
# each in a fresh clone of this repository's HEAD with a fresh, empty HOME (no ~/.ipython,
# ~/.local/share/jupyter, ~/.cache/matplotlib), so every run starts as a new user's first one.
# The grid (4 cells in env.test.yaml, 2 processes) has more cells than the machine has cores.
#
#   scripts/stress_build.sh [N]          # N runs (default 20)
#
# Settings (environment variables):
#   STRESS_ENV   env file of the builds (default env.test.yaml, the sample env; env.yaml: the full one)
#   STRESS_VENV  the virtual environment to run with (default ./.venv; the clone's src/ comes first
#                on PYTHONPATH, so the clone's code is what runs)
#   STRESS_OUT   where the per-run logs and figures go (default /tmp/lab2prod-stress-<time>)
#   STRESS_KEEP  1: keep every clone (default: only the clones of failed runs)
#
# Prints one line per run (exit code, wall time, load average before and after) and a summary;
# a failed run keeps its clone and its full log, including products/logs/build.log. Exit 1 if any
# run failed. Timings depend on the machine's load: the load average is printed beside each figure.
set -uo pipefail

N="${1:-20}"
REPO="$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)"
COMMIT="$(git -C "$REPO" rev-parse HEAD)"
ENV_FILE="${STRESS_ENV:-env.test.yaml}"
VENV="$(cd "${STRESS_VENV:-$REPO/.venv}" && pwd)"
OUT="${STRESS_OUT:-/tmp/lab2prod-stress-$(date -u +%Y%m%dT%H%M%S)}"
KEEP="${STRESS_KEEP:-0}"

if [[ ! -x "$VENV/bin/ploomber" ]]; then
    echo "stress_build: no ploomber in $VENV/bin: run 'make install' first or set STRESS_VENV" >&2
    exit 2
fi
if ! [[ "$N" =~ ^[0-9]+$ ]] || (( N < 1 )); then
    echo "stress_build: N must be a positive whole number, got '$N'" >&2
    exit 2
fi
mkdir -p "$OUT"
echo "stress_build: $N runs of 'make clean && ploomber build' ($ENV_FILE), commit ${COMMIT:0:10}," \
     "$(nproc) cores; logs in $OUT"
echo "run  rc  wall_s  load_before        load_after         uncommitted changes are NOT included"

passed=0; failed=0; streak=0; best_streak=0
times=()
for ((i = 1; i <= N; i++)); do
    run="$OUT/run-$i"
    mkdir -p "$run/home"
    git clone --quiet --no-hardlinks "$REPO" "$run/clone" && git -C "$run/clone" checkout --quiet "$COMMIT"
    load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
    start=$(date +%s.%N)
    (
        cd "$run/clone" &&
        env -u LAB2PROD_ROOT -u MLFLOW_TRACKING_URI -u JUPYTER_RUNTIME_DIR -u JUPYTER_DATA_DIR \
            -u JUPYTER_CONFIG_DIR -u IPYTHONDIR -u MPLCONFIGDIR -u XDG_CACHE_HOME -u XDG_DATA_HOME \
            -u XDG_RUNTIME_DIR \
            HOME="$run/home" PATH="$VENV/bin:$PATH" PYTHONPATH="$run/clone/src" \
            PLOOMBER_ENV_FILENAME="$ENV_FILE" MLFLOW_DISABLE_TELEMETRY=true \
            bash -c 'make clean && ploomber build'
    ) >"$run/build.log" 2>&1
    rc=$?
    wall=$(echo "$(date +%s.%N) - $start" | bc)
    load_after="$(cut -d' ' -f1-3 /proc/loadavg)"
    printf "%3d  %2d  %6.1f  %-17s  %-17s\n" "$i" "$rc" "$wall" "$load_before" "$load_after"
    if (( rc == 0 )); then
        passed=$((passed + 1)); streak=$((streak + 1)); times+=("$wall")
        (( streak > best_streak )) && best_streak=$streak
        [[ "$KEEP" == 1 ]] || rm -rf "$run/clone" "$run/home"
    else
        failed=$((failed + 1)); streak=0
        echo "     run $i FAILED: full log $run/build.log; the clone is kept in $run/clone"
        grep -E "Error|error:|Traceback|died|timed out|Address already" "$run/build.log" | head -5 | sed 's/^/       /'
    fi
done

if (( ${#times[@]} )); then
    stats=$(printf "%s\n" "${times[@]}" | sort -n | awk '{a[NR]=$1} END {
        m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
        printf "wall of passing runs: min %.1f s, median %.1f s, max %.1f s", a[1], m, a[NR]}')
else
    stats="no passing run"
fi
echo "summary: $passed of $N passed, $failed failed, longest run of consecutive passes $best_streak;" \
     "$stats; load average now $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
echo "summary: $passed/$N passed, streak $best_streak, $stats" >"$OUT/summary.txt"
(( failed == 0 ))

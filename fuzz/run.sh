#!/usr/bin/env bash
# Runs every fuzz target for SECONDS seconds each (default 60): coverage-guided libFuzzer through
# cargo-fuzz, on the stable toolchain.
#
#   cargo install cargo-fuzz --locked     # once (about 2 minutes)
#   fuzz/run.sh 20                        # a smoke run; fuzz/run.sh 600 for a real one
#   fuzz/run.sh 60 config_toml            # some targets only
#
# Stable Rust has no sanitizers, so targets are built with `--sanitizer none` (this code has no
# `unsafe`; what fuzzing finds here is panics, overflows and hangs), optimized (-O) and with
# debug assertions and overflow checks on (-a). Inputs found are kept in fuzz/corpus/<target>/
# (not committed); fuzz/seeds/<target>/ holds the committed starting inputs. A crash is saved
# in fuzz/artifacts/<target>/ and reproduced with
#   cargo fuzz run --sanitizer none -O -a <target> fuzz/artifacts/<target>/<file>
# Exits non-zero if any target crashed, leaked memory past the limit or hung.
set -euo pipefail
cd "$(dirname "$0")"

seconds="${1:-60}"
shift || true
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -eq 0 ]; then
    echo "usage: fuzz/run.sh SECONDS [TARGET...]" >&2
    exit 2
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "cargo-fuzz is not installed: cargo install cargo-fuzz --locked" >&2
    exit 2
fi

flags=(--sanitizer none -O -a)
if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi

# Every target at once (then each run finds its binary built).
echo "== building the fuzz targets"
cargo fuzz build "${flags[@]}"

passed=0
failed=0
failures=()
mkdir -p target/logs
for target in "${targets[@]}"; do
    mkdir -p "corpus/$target"
    corpora=("corpus/$target")
    [ -d "seeds/$target" ] && corpora+=("seeds/$target")
    log="target/logs/$target.log"
    printf '== %s for %s s ... ' "$target" "$seconds"
    if cargo fuzz run "${flags[@]}" "$target" "${corpora[@]}" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        >"$log" 2>&1; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
        cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | tr -dc '0-9')
        echo "ok: ${runs:-?} runs, coverage ${cov:-?} edges, corpus $(ls "corpus/$target" | wc -l) inputs"
        passed=$((passed + 1))
    else
        echo "FAILED (see fuzz/$log and fuzz/artifacts/$target/)"
        grep -E '^(==[0-9]+== ERROR|thread .* panicked|SUMMARY|artifact_prefix|Test unit written)' "$log" | head -n 8 || true
        failed=$((failed + 1))
        failures+=("$target")
    fi
done

[ "$failed" -eq 0 ] || echo "crashed: ${failures[*]}"
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]

#!/bin/bash
# Run one libFuzzer target for a bounded time over a copy of its seed corpus
# (the committed corpus is never written to). Fails on any crash or leak.
set -euo pipefail
target=$1 corpus=$2 seconds=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus"
if [ -d "$corpus" ]; then
    cp -r "$corpus"/. "$work/corpus/"
fi
cd "$work"
"$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 "$work/corpus"

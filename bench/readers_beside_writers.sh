#!/bin/bash
# Readers beside short-lived writers, through the CLI: three loops of
# writers that each open the database, write one record and close (a close
# flushes, deleting the write-ahead log), beside a loop of
# `--read-only visible --count` and a loop of `--read-only check-db`.
# Prints how many check-db runs there were, how many reported a problem
# (a torn view) and how many were refused as busy ("try again").
#
#   bench/readers_beside_writers.sh [--imports] [SECONDS] [LIBDIR]
#
# --imports adds a fourth writer loop: `canopy import` of a new account
# with 40,000 devices (ingested as table files, which writes no log
# record; tried again while another writer holds the folder), then a pause
# of a second, round after round.
# SECONDS defaults to 60. LIBDIR, when given, is the folder of the
# libcanopy.so the CLI loads (LD_LIBRARY_PATH): another build's library, to
# compare. Uses build/bindings/cli/canopy and a scratch folder it removes.
set -u
imports=0
if [ "${1:-}" = --imports ]; then imports=1; shift; fi
seconds=${1:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
cli="$root/build/bindings/cli/canopy"
[ -x "$cli" ] || { echo "no $cli: build first (scripts/build.sh)" >&2; exit 2; }
if [ $# -ge 2 ]; then export LD_LIBRARY_PATH="$2"; fi
work=$(mktemp -d /tmp/canopy-readers.XXXXXX)
trap 'rm -rf "$work"' EXIT
db="$work/db"
"$cli" --db "$db" demo > /dev/null 2>&1 || { echo "cannot create a demo database" >&2; exit 2; }
end=$((SECONDS + seconds))
writer() {  # KIND ARGS...: create one record after another until the end
  local i=0
  while [ $SECONDS -lt $end ]; do
    i=$((i + 1))
    "$cli" --db "$db" "$1" create "$1-$i-$RANDOM" "${@:2}" > /dev/null 2>&1
  done
}
writer device --account customer --name D &
writer account --name A &
writer user --account customer --name U &
if [ $imports = 1 ]; then
  ( i=0
    while [ $SECONDS -lt $end ]; do
      i=$((i + 1))
      awk -v a="imported-$i" 'BEGIN {
        printf "{\"type\":\"account\",\"key\":\"%s\",\"name\":\"I\"}\n", a
        for (d = 0; d < 40000; d++)
          printf "{\"type\":\"device\",\"key\":\"%s-%d\",\"name\":\"D\",\"account\":\"%s\"}\n", a, d, a
      }' > "$work/import.jsonl"
      # Tried again while another writer holds the folder.
      until "$cli" --db "$db" import "$work/import.jsonl" > /dev/null 2>&1; do
        [ $SECONDS -lt $end ] || break
      done && echo >> "$work/imported"
      sleep 1
    done ) &
fi
( while [ $SECONDS -lt $end ]; do
    "$cli" --db "$db" --read-only visible --user admin@customer.example --count > /dev/null 2>&1
  done ) &
runs=0 problems=0 busy=0
while [ $SECONDS -lt $end ]; do
  out=$("$cli" --db "$db" --read-only check-db 2>&1)
  rc=$?
  runs=$((runs + 1))
  if [ $rc -ne 0 ]; then
    if grep -q "try again" <<< "$out"; then busy=$((busy + 1)); else
      problems=$((problems + 1)); echo "$out" | head -3 >&2; fi
  fi
done
wait
echo "check-db runs: $runs, reporting a problem: $problems, refused as busy: $busy"
if [ $imports = 1 ]; then
  echo "imports done: $(cat "$work/imported" 2>/dev/null | wc -l)"
fi
"$cli" --db "$db" check-db | tail -1

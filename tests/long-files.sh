#!/usr/bin/env bash
# No long Rust file without a reason: every `*.rs` under host/, plugin/ and policies/ (outside
# `tests/`, `benches/` and `target/` folders) of more than MAX lines (600) carries, in its own
# module doc, a line `//! Long file: <why it is not split>`. Names every other one with its length
# and fails; prints nothing else and succeeds when there is none. A step of .ci/run (after the
# format step) once the long files are split or explained; host/cli/tests/all/long_files.rs tests
# it on trees made for the purpose.
#
#   tests/long-files.sh            # the checkout this script is in
#   tests/long-files.sh DIR        # another tree (as the tests do)
set -euo pipefail
root=${1:-"$(dirname "${BASH_SOURCE[0]}")/.."}
max=${MAX:-600}
cd "$root"

offenders=0
while IFS= read -r -d '' file; do
  lines=$(wc -l < "$file")
  [ "$lines" -gt "$max" ] || continue
  # The file's own module doc (`//!` from the first column), with a reason after the colon.
  grep -Eq '^//! Long file: *[^ ]' "$file" && continue
  echo "${file#./}: $lines lines, over $max without a reason: split it, or say why not in its module doc (//! Long file: …)"
  offenders=$((offenders + 1))
done < <(
  dirs=()
  for dir in host plugin policies; do [ -d "$dir" ] && dirs+=("$dir"); done
  [ "${#dirs[@]}" -eq 0 ] || find "${dirs[@]}" -type d \( -name tests -o -name benches -o -name target \) \
    -prune -o -type f -name '*.rs' -print0 | sort -z
)

if [ "$offenders" -gt 0 ]; then
  echo "$offenders Rust file(s) over $max lines without a reason"
  exit 1
fi

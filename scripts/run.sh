#!/usr/bin/env bash
# The main job on the embedded default: install what is needed, build, and
# scan the bundled example correspondence (social replies, emails and two
# letters), printing the ranked triage.  Extra arguments go to `scan`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
"$root/scripts/build.sh" "$root/build"
cd "$root"
set +e
./build/threatdesk scan "$@" examples/inbox.jsonl examples/letters/*.txt
rc=$?
set -e
exit $rc

#!/usr/bin/env bash
# The test suite again on Node 22 and Node 24 (package.json supports >= 20.19; the machine has 20).
# Their binaries come from npm's node-linux-<arch> packages, kept in .tmp/node/<major>. What
# differs by version is exercised this way: the account store runs on node:sqlite there, on
# better-sqlite3 on Node 20, and better-sqlite3 12 aborts Node 24 in its finalizers.
#
#   bash scripts/test-node-versions.sh [MAJOR...]     (default: 22 24)
#
# TEST_ROOTS picks the tests (default: all of test/, unit and interop alike; the peers must be
# installed, as for npm test).
set -euo pipefail
cd "$(dirname "$0")/.."

case "$(uname -m)" in
  x86_64) arch=x64 ;;
  aarch64) arch=arm64 ;;
  *) echo "test-node-versions: no npm Node package for $(uname -m)" >&2; exit 1 ;;
esac

majors=("$@")
[[ ${#majors[@]} -gt 0 ]] || majors=(22 24)
for major in "${majors[@]}"; do
  dir=.tmp/node/$major
  if [[ ! -x $dir/package/bin/node ]]; then
    rm -rf "$dir" && mkdir -p "$dir"
    (cd "$dir" && npm pack -s "node-linux-$arch@$major" > /dev/null && tar xzf node-linux-*.tgz && rm node-linux-*.tgz)
  fi
  bin=$PWD/$dir/package/bin
  echo "test-node-versions: ${TEST_ROOTS:-test} on $("$bin/node" --version)"
  # shellcheck disable=SC2086 # TEST_ROOTS is a list of paths
  PATH=$bin:$PATH node scripts/run-tests.mjs ${TEST_ROOTS:-test}
done

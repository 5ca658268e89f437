#!/usr/bin/env bash
# What the tests need beyond crmload's own Python packages, installed where missing: Debian's chromium
# (the report's browser test), postgresql and redis-server (BottleCRM's database and broker); then the
# two shipped third-party CRMs, each into its own virtual environment with its database initialised,
# cached under ~/.cache/crmload/targets (or $CRMLOAD_TARGETS_CACHE). On a fresh 2-core machine: Tryton
# about 1 min, BottleCRM about 3 min (its install and 2 min 20 s of migrations), side by side.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v redis-server >/dev/null || missing+=(redis-server)
compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || missing+=(postgresql)
if ((${#missing[@]})); then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi
python3 targets/tryton/target.py install &
tryton=$!
python3 targets/bottlecrm/target.py install
wait "$tryton"

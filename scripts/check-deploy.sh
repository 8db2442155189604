#!/usr/bin/env bash
# Checks the deployment files:
# - `systemd-analyze verify` on the systemd unit, with ExecStart pointed at the binary
#   just built (verify insists that it exists); any warning fails the check;
# - hadolint on deploy/Dockerfile ($HADOLINT, installed by scripts/test.sh);
# - deploy/compose.yaml against the Compose specification (scripts/compose-check, Go);
# - deploy/prometheus/prometheus.yml with promtool.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bin=${1:-$PWD/target/debug/driftd}
if ! command -v systemd-analyze >/dev/null; then
  echo "check-deploy: systemd-analyze not found (apt-get install systemd)" >&2
  exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed "s#/usr/local/bin/driftd#$bin#g" deploy/systemd/driftd.service > "$tmp/driftd.service"
# verify exits 0 on unknown keys and other warnings: any message is a failure here.
if ! out=$(systemd-analyze verify --man=no "$tmp/driftd.service" 2>&1) || [ -n "$out" ]; then
  echo "check-deploy: deploy/systemd/driftd.service does not verify:" >&2
  echo "$out" >&2
  exit 1
fi
echo "check-deploy: deploy/systemd/driftd.service verified"

"${HADOLINT:-hadolint}" deploy/Dockerfile
echo "check-deploy: deploy/Dockerfile lints clean"

(cd scripts/compose-check && go run . ../../deploy/compose.yaml)

promtool check config deploy/prometheus/prometheus.yml

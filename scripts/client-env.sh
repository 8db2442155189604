#!/usr/bin/env bash
# Prints the path of a Python with the driftd client (clients/python), confluent-kafka
# and numpy (target/client-env): what a model-serving process has. Creates the virtual
# environment the first time and reinstalls the client each time (it is small).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
venv=target/client-env
if ! "$venv/bin/python" -c 'import confluent_kafka, numpy' 2>/dev/null; then
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install -q --disable-pip-version-check -r scripts/requirements-client.txt >&2
fi
"$venv/bin/pip" install -q --disable-pip-version-check --no-deps --force-reinstall ./clients/python >&2
rm -rf clients/python/build clients/python/*.egg-info
echo "$PWD/$venv/bin/python"

#!/usr/bin/env bash
# Prints the path of a Python that has aiosmtpd (target/smtp-env), creating the
# virtual environment the first time.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
venv=target/smtp-env
if ! "$venv/bin/python" -c 'import aiosmtpd' 2>/dev/null; then
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install -q --disable-pip-version-check -r scripts/requirements-smtp.txt >&2
fi
echo "$PWD/$venv/bin/python"

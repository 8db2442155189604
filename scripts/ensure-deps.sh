#!/usr/bin/env bash
# Installs what building and testing driftd needs, when missing (Debian/Ubuntu, as root
# or with sudo): a JDK and Maven for the local Kafka broker, the headers librdkafka
# links against, Prometheus for the dashboard checks, and nightly Rust with cargo-fuzz
# for the fuzz targets. Idempotent: does nothing when everything is there.
set -euo pipefail

missing=()
command -v java >/dev/null || missing+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || missing+=(maven)
command -v pkg-config >/dev/null || missing+=(pkg-config)
command -v cc >/dev/null || missing+=(build-essential)
dpkg -s libssl-dev >/dev/null 2>&1 || missing+=(libssl-dev)
dpkg -s zlib1g-dev >/dev/null 2>&1 || missing+=(zlib1g-dev)
command -v curl >/dev/null || missing+=(curl)
command -v python3 >/dev/null || missing+=(python3 python3-venv)
command -v systemd-analyze >/dev/null || missing+=(systemd)

if [ ${#missing[@]} -gt 0 ]; then
  echo "ensure-deps: installing ${missing[*]}" >&2
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
command -v cargo >/dev/null || { echo "ensure-deps: cargo not found; install Rust with rustup" >&2; exit 1; }
# Prometheus and promtool (Debian package) for the dashboard checks; without its
# recommends (node exporter, IPMI tools), and its service is not started.
if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then
  echo "ensure-deps: installing prometheus" >&2
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi
# Alertmanager (Debian package) for the demo and the Alertmanager tests (scripts/alertmanager.sh).
if ! command -v prometheus-alertmanager >/dev/null; then
  echo "ensure-deps: installing prometheus-alertmanager" >&2
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends prometheus-alertmanager >/dev/null
fi
# Chromium (Debian package) for the HTML report's browser tests (scripts/browser_check.py
# drives it through Playwright; Playwright's own browser download is not used).
if ! command -v chromium >/dev/null; then
  echo "ensure-deps: installing chromium" >&2
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
# The fuzz targets (scripts/fuzz.sh): a nightly toolchain and cargo-fuzz.
rustup toolchain list 2>/dev/null | grep -q '^nightly' \
  || rustup toolchain install nightly --profile minimal >&2
command -v cargo-fuzz >/dev/null || [ -x "$HOME/.cargo/bin/cargo-fuzz" ] \
  || cargo install cargo-fuzz --locked --quiet >&2
command -v chattr >/dev/null || { echo "ensure-deps: chattr not found (e2fsprogs), needed by tests/faults.rs" >&2; exit 1; }
command -v go >/dev/null || { echo "ensure-deps: go not found; install Go 1.23 or newer (compose-check)" >&2; exit 1; }

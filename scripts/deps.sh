#!/usr/bin/env bash
# Install the Debian packages Terminus needs, only when some are missing.
# As root it runs apt-get; otherwise it prints the exact command and fails.
set -euo pipefail
pkgs=(build-essential pkg-config libmicrohttpd-dev libpq-dev libjansson-dev uuid-dev
      libcmocka-dev libssl-dev libcurl4-openssl-dev postgresql-15 postgresql-contrib
      clang-format curl ca-certificates procps prometheus bc jq)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "terminus: missing packages; run as root:" >&2
	echo "  apt-get update && apt-get install -y ${missing[*]}" >&2
	exit 1
fi
echo "terminus: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

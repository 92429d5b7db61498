#!/usr/bin/env bash
# Debian packages the test suite drives for real: aria2 (a multi-connection download
# manager), nginx (the X-Accel-Redirect offload), psql (the README's PostgreSQL recipes)
# chromium (the console's browser tests) and prometheus (promtool checks the alert rules). Installs the missing ones with
# apt-get when it can (CI runs as root); otherwise says what to install and goes on, and
# the tests that need them fail naming what is missing.
set -euo pipefail
declare -A wanted=([aria2c]=aria2 [nginx]=nginx-light [psql]=postgresql-client [chromium]=chromium [promtool]=prometheus)
missing=()
for command in "${!wanted[@]}"; do
    if ! command -v "$command" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$command" ]; then
        missing+=("${wanted[$command]}")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian packages: ${missing[*]}"
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 || {
        apt-get update -qq >/dev/null
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    }
else
    echo "warning: install these Debian packages for the full test suite: ${missing[*]}" >&2
fi

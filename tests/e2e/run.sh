#!/usr/bin/env bash
# The browser walk: Dify's own web frontend, unmodified, on weir — install page, first admin,
# login, a chat app made and published in the console, its API key used on /v1, its web app
# used by an end user, and the conversation found in the app's logs. Screenshots of each step
# go to target/e2e/artefacts; any error the frontend logs fails the walk.
#
#   WEIR_E2E_FRONTEND=path/to/dify-web.tar.gz tests/e2e/run.sh
#
# WEIR_E2E_FRONTEND names Dify's built web frontend (docs/OPERATING.md says how to get one):
# a .tar.gz of it or its folder, holding either `start.sh` or a Next.js standalone
# `server.js`. WEIR_E2E_CHROMIUM names the browser (default /usr/bin/chromium, Debian's
# `chromium`, installed here when missing and apt-get is at hand).
set -euo pipefail
cd "$(dirname "$0")/../.."

fail() { echo "tests/e2e/run.sh: $*" >&2; exit 1; }

frontend="${WEIR_E2E_FRONTEND:-}"
[ -n "$frontend" ] || fail "set WEIR_E2E_FRONTEND to Dify's built web frontend (a .tar.gz or a folder)"
[ -e "$frontend" ] || fail "WEIR_E2E_FRONTEND=$frontend does not exist"

# The frontend: unpack a tarball once (again when it changes).
if [ -f "$frontend" ]; then
  dest=target/e2e/frontend
  stamp="$(stat -c '%s %Y' "$frontend") $frontend"
  if [ "$(cat "$dest/.stamp" 2>/dev/null)" != "$stamp" ]; then
    rm -rf "$dest" && mkdir -p "$dest"
    tar -xzf "$frontend" -C "$dest"
    echo "$stamp" > "$dest/.stamp"
  fi
  frontend="$dest"
fi
found() { find "$frontend" -maxdepth 3 -name "$1" -not -path '*/node_modules/*' | sort | head -1; }
entry="$(found start.sh)"
[ -n "$entry" ] || entry="$(found server.js)"
[ -n "$entry" ] || fail "no start.sh or server.js in $frontend"
web_dir="$(dirname "$entry")"

# The browser.
chromium="${WEIR_E2E_CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$chromium" ]; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    apt-get install -y chromium >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y chromium >/dev/null; }
  fi
  [ -x "$chromium" ] || fail "no browser at $chromium (install Debian's chromium or set WEIR_E2E_CHROMIUM)"
fi

# Playwright's driver (no browsers of its own: it drives the one above).
if [ ! -d tests/e2e/node_modules/playwright-core ]; then
  (cd tests/e2e && npm ci --no-audit --no-fund >/dev/null) || fail "npm could not install playwright-core"
fi

cargo build --bin weir
export WEIR_E2E_BIN="$PWD/target/debug/weir"
export WEIR_E2E_WEB_ENTRY="$(cd "$web_dir" && pwd)/$(basename "$entry")"
export WEIR_E2E_ARTEFACTS="$PWD/target/e2e/artefacts"
export WEIR_E2E_CHROMIUM="$chromium"
exec node tests/e2e/walk.mjs

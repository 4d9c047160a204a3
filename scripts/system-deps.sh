#!/usr/bin/env bash
# Install the Debian packages anjian's tests and documents need, if missing.
set -euo pipefail
need=()
fc-list :lang=zh 2>/dev/null | grep -q . || need+=(fonts-noto-cjk)
command -v wrk >/dev/null || need+=(wrk)
command -v pdftotext >/dev/null || need+=(poppler-utils)
# WeasyPrint subsets fonts with HarfBuzz when present: <1 s a PDF and byte-identical output,
# instead of ~15 s with fontTools.
ldconfig -p 2>/dev/null | grep -q libharfbuzz-subset || need+=(libharfbuzz-subset0)
# The page tests drive Debian's Chromium headless through Playwright (it never downloads a browser).
command -v chromium >/dev/null || need+=(chromium)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing: ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
else
  echo "missing system packages: ${need[*]} (apt-get install them; PDF and browser tests need them)" >&2
  exit 1
fi

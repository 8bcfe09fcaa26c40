#!/usr/bin/env bash
# Everything a fresh machine needs, idempotent and quick when nothing changed:
# the Debian libraries Qt loads (even offscreen), then .venv with requirements.txt.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# One set-up at a time per checkout: `./stepscope` and `./run-tests` started together on a fresh
# clone would otherwise install into one .venv and build into one build/ folder at once.
if command -v flock >/dev/null; then
  exec 9>"${TMPDIR:-/tmp}/stepscope-setup-$(pwd -P | sha256sum | cut -c1-16).lock"
  flock -n 9 || { echo "setup: waiting for another set-up of this checkout to finish" >&2; flock 9; }
fi

# Qt needs the first line even offscreen; the second is what its xcb plugin needs for a real window.
QT_DEBS="libegl1 libgl1 libxkbcommon0 libfontconfig1 libglib2.0-0 libdbus-1-3
  libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0
  libxcb-shape0 libxcb-xinerama0 libxcb-xkb1 libxcb-randr0"
# The SSH executor's tests start their own sshd on 127.0.0.1 (tests/executors/).
SSH_DEBS="openssh-server openssh-client"
# ISA-L's inflate for traces/gzip_into.pyx (gzipped Chrome traces inflated straight into the reader's buffer).
BUILD_DEBS="libisal-dev"
missing=""
for pkg in $QT_DEBS $SSH_DEBS $BUILD_DEBS; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "setup: installing Debian packages:$missing" >&2
    apt-get update -q >&2 9>&-  # 9>&-: a daemon a package starts must not hold the set-up lock
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing >&2 9>&-
  elif command -v sudo >/dev/null; then
    echo "setup: installing Debian packages with sudo:$missing" >&2
    sudo apt-get update -q >&2 9>&- && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing >&2 9>&-
  else
    echo "setup: please install these Debian packages, then run again:$missing" >&2
    exit 2
  fi
fi

PYTHON="${STEPSCOPE_PYTHON:-$(command -v python3.11 || command -v python3)}"
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
  echo "setup: Stepscope needs Python 3.11 ($PYTHON is $("$PYTHON" --version 2>&1)); set STEPSCOPE_PYTHON" >&2
  exit 2
fi
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv" >&2
  "$PYTHON" -m venv .venv
fi
stamp=".venv/.requirements.sha256"
want="$(sha256sum requirements.txt | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing requirements.txt into .venv (a few minutes the first time)" >&2
  .venv/bin/python -m pip install -q --upgrade pip >&2
  .venv/bin/python -m pip install -q -r requirements.txt >&2
  echo "$want" > "$stamp"
fi
# The Chrome stream's compiled modules (Cython, scripts/build_ext.py): the per-chunk step
# (traces/chunk_scan.pyx, built profile-guided from scripts/scan_training.py's read) and gzip
# inflated into the reader's buffer (traces/gzip_into.pyx), rebuilt when their sources change;
# optional: where one does not build, the reader does that work in Python (msgspec decodes every chunk; gzip is inflated in pieces): the same table.
ext_stamp=".venv/.chunk_scan.sha256"
ext_want="$(cat traces/chunk_scan.pyx traces/gzip_into.pyx traces/*.pxi scripts/build_ext.py scripts/scan_training.py | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$ext_stamp" 2>/dev/null)" != "$ext_want" ] || ! ls traces/chunk_scan.*.so traces/gzip_into.*.so >/dev/null 2>&1; then
  if .venv/bin/python scripts/build_ext.py >.venv/build_ext.log 2>&1; then
    echo "$ext_want" > "$ext_stamp"
  else
    rm -f "$ext_stamp"
    echo "setup: a compiled trace module did not build ($(grep 'did not build' .venv/build_ext.log | tr '\n' ' ')see .venv/build_ext.log); Chrome traces are read without it" >&2
  fi
fi

#!/bin/sh
# Installs the real peers that the interop tests and the Node benchmark
# peers drive, so that the tests themselves never touch the network:
#
#   Debian: python3-googleapi (Google's Python client), ruby-google-api-client
#           (Google's Ruby client), nodejs and npm when node or npm is absent
#   npm:    the locked packages of batch/testdata/interop/node,
#           batch/testdata/interop/graph (Microsoft Graph's JavaScript
#           client), batch/testdata/interop/azurite (Azurite, the Azure
#           Storage emulator), batch/testdata/interop/cap (SAP CAP, with a
#           Node.js 22 binary from npm) and bench/node
#           (npm ci, only when node_modules is missing or older than the lock)
#
# Run it from anywhere: sh scripts/peers.sh. .ci/run runs it before the
# tests. Each Debian package is installed only when missing, with sudo when
# not root (and sudo exists); the package lists are fetched once, for the
# first one.
#
# The Python interpreter the tests use is the first of $MIXED_PYTHON,
# python3 on PATH and /usr/bin/python3 that imports googleapiclient.http
# (batch/interop_test.go applies the same rule); likewise Ruby: $MIXED_RUBY,
# ruby on PATH, /usr/bin/ruby, the first that loads the Google client.
set -eu
cd "$(dirname "$0")/.."

as_root=
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    as_root=sudo
  else
    echo "peers.sh: not root and no sudo: cannot install Debian packages" >&2
  fi
fi
apt_updated=
apt_install() {
  if [ -z "$apt_updated" ]; then
    $as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    apt_updated=1
  fi
  $as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# find_python prints the first candidate interpreter that has Google's
# Python client, or fails.
find_python() {
  for py in ${MIXED_PYTHON:-} python3 /usr/bin/python3; do
    if "$py" -c 'import googleapiclient.http' >/dev/null 2>&1; then
      command -v "$py"
      return 0
    fi
  done
  return 1
}
find_ruby() {
  for rb in ${MIXED_RUBY:-} ruby /usr/bin/ruby; do
    if "$rb" -e 'require "google/apis/core/base_service"' >/dev/null 2>&1; then
      command -v "$rb"
      return 0
    fi
  done
  return 1
}

python=$(find_python) || { apt_install python3-googleapi; python=$(find_python); }
"$python" -c 'import sys, googleapiclient; print("python3-googleapi", googleapiclient.__version__, "(" + sys.executable + ")")'

ruby=$(find_ruby) || { apt_install ruby-google-api-client; ruby=$(find_ruby); }
"$ruby" -e 'require "google/apis/core/base_service"; puts "ruby-google-api-client #{Google::Apis::VERSION} (ruby #{RUBY_VERSION}, #{RbConfig.ruby})"'

missing=
command -v node >/dev/null 2>&1 || missing="nodejs"
command -v npm >/dev/null 2>&1 || missing="$missing npm"
if [ -n "$missing" ]; then
  # shellcheck disable=SC2086 # two words on purpose
  apt_install $missing
fi
echo "node $(node --version), npm $(npm --version)"
for dir in batch/testdata/interop/node batch/testdata/interop/graph batch/testdata/interop/azurite batch/testdata/interop/cap bench/node; do
  if [ ! -f "$dir/node_modules/.package-lock.json" ] ||
     [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    echo "npm ci in $dir"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  else
    echo "$dir: node_modules up to date"
  fi
done

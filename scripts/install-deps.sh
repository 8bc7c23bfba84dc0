#!/usr/bin/env bash
# Install every Debian package threatdesk needs to build, run and test.
# Idempotent: apt-get skips what is already there. Run as root (CI is root);
# otherwise it re-runs itself through sudo.
set -euo pipefail

if [ "$(id -u)" != 0 ]; then exec sudo -E "$0" "$@"; fi

PKGS=(
  # toolchain
  build-essential cmake pkg-config clang-format time
  # analysis engine (issue 2)
  libutf8proc-dev libpcre2-dev libjansson-dev libxxhash-dev libcsv-dev
  libsodium-dev
  # tests and baseline benchmark
  libcmocka-dev fasttext python3
  # ingestion (issue 3): MIME, IMAP, OCR, PDF pages
  libgmime-3.0-dev libcurl4-openssl-dev libtesseract-dev libleptonica-dev
  tesseract-ocr-eng libpoppler-glib-dev dovecot-imapd
  # e-mail HTML parts to text (libxml2's HTML parser)
  libxml2-dev
  # OCR tests draw letters at test time with cairo in DejaVu Serif
  libcairo2-dev fonts-dejavu-core
  # IMAP TLS and HTTPS tests make a throwaway certificate; the server tests
  # drive the desk with curl (libmicrohttpd-dev below is built with GnuTLS,
  # which `serve --tls-cert` needs)
  openssl curl
  # desk (issue 4): store, HTTP
  libsqlite3-dev sqlite3 libmicrohttpd-dev wrk
  # alerts (issue 10): the tests and bench receive mail with aiosmtpd
  python3-aiosmtpd
  # evidence bundles and reports (issue 10): tar via libarchive, PDFs with
  # cairo + pango, checked by the tests with poppler's pdfinfo/pdftotext/pdftoppm
  libarchive-dev libpango1.0-dev poppler-utils
  # PostgreSQL backend (issue 11): libpq to build; the server's initdb and
  # pg_ctl so the tests start a throwaway cluster (tests/support/pg-temp.sh)
  libpq-dev postgresql
)
# The Perspective JS client test (tests/npm) needs node and npm; a machine
# with NodeSource's nodejs already has both, and Debian's npm would conflict.
command -v node >/dev/null || PKGS+=(nodejs)
command -v npm >/dev/null || PKGS+=(npm)
# The web desk's browser tests (tests/browser) drive Debian's chromium
# through playwright-core; no browser is ever downloaded.
PKGS+=(chromium)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

#!/usr/bin/env bash
# Install the Debian packages CardioCart needs, if missing. Idempotent.
#   run  : what the cart needs to run (venv, CJK fonts, OCR)
#   test : also what the tests drive (Chromium, Orthanc + DICOMweb, DICOM validators, PDF rasteriser)
# Needs root (or password-less sudo) only when something is missing; otherwise it prints what to install.
set -euo pipefail
what="${1:-run}"
run_pkgs=(python3-venv fonts-wqy-zenhei tesseract-ocr tesseract-ocr-eng)
test_pkgs=(chromium orthanc orthanc-dicomweb dcmtk dicom3tools poppler-utils cage systemd)
pkgs=("${run_pkgs[@]}")
[ "$what" = "test" ] && pkgs+=("${test_pkgs[@]}")

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "system-packages: not a Debian-family system; install the equivalents of: ${pkgs[*]}" >&2
  exit 0
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# python3-venv is only needed when the interpreter lacks ensurepip (Debian's own python3)
if [[ " ${missing[*]} " == *" python3-venv "* ]] && python3 -c "import ensurepip" 2>/dev/null; then
  missing=("${missing[@]/python3-venv}")
fi
missing=($(printf '%s\n' "${missing[@]}" | grep -v '^$' || true))
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
    echo "system-packages: missing Debian packages: ${missing[*]}" >&2
    echo "  install them with: sudo apt-get install -y ${missing[*]}" >&2
    [ "$what" = "test" ] && exit 1
    exit 0
  fi
fi
echo "system-packages: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq || true
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"

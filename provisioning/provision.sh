#!/usr/bin/env bash
# Prepare a Debian-family box (Debian, Ubuntu, Raspberry Pi OS, JetPack) to run CardioCart as services.
# Idempotent: run it again after an update. `--dry-run` prints every step without changing anything.
#
#   sudo provisioning/provision.sh [--dry-run] [--prefix /opt/cardiocart] [--data /var/lib/cardiocart]
#                                  [--user cardiocart] [--no-kiosk] [--port 8080]
#   provisioning/provision.sh --render-units DIR   # write the systemd units for this layout into DIR
set -euo pipefail
SRC="$(cd "$(dirname "$0")/.." && pwd)"
PREFIX=/opt/cardiocart; DATA=/var/lib/cardiocart; CONF_DIR=/etc/cardiocart; USER_NAME=cardiocart
KIOSK=1; PORT=8080; DRY=0; RENDER_DIR=""
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY=1 ;;
    --prefix) PREFIX="$2"; shift ;;
    --data) DATA="$2"; shift ;;
    --user) USER_NAME="$2"; shift ;;
    --no-kiosk) KIOSK=0 ;;
    --port) PORT="$2"; shift ;;
    --render-units) RENDER_DIR="$2"; shift ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "provision: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
KIOSK_USER="${USER_NAME}-kiosk"; KIOSK_HOME="/var/lib/${KIOSK_USER}"
PYTHON="$PREFIX/.venv/bin/python"; CONFIG="$CONF_DIR/cardiocart.toml"
CAGE="$(command -v cage || echo /usr/bin/cage)"; CHROMIUM="$(command -v chromium || echo /usr/bin/chromium)"

render_units() {  # $1 = output dir
  mkdir -p "$1"
  for unit in "$SRC"/systemd/cardiocart-*.service; do
    sed -e "s|@PREFIX@|$PREFIX|g" -e "s|@PYTHON@|$PYTHON|g" -e "s|@USER@|$USER_NAME|g" -e "s|@DATA@|$DATA|g" \
        -e "s|@CONFIG@|$CONFIG|g" -e "s|@KIOSK_USER@|$KIOSK_USER|g" -e "s|@KIOSK_HOME@|$KIOSK_HOME|g" \
        -e "s|@PORT@|$PORT|g" -e "s|@CAGE@|$CAGE|g" -e "s|@CHROMIUM@|$CHROMIUM|g" "$unit" > "$1/$(basename "$unit")"
  done
}
if [ -n "$RENDER_DIR" ]; then render_units "$RENDER_DIR"; exit 0; fi

step() { echo "==> $*"; }
run() { if [ "$DRY" -eq 1 ]; then echo "    + $*"; else "$@"; fi; }
if [ "$DRY" -eq 0 ] && [ "$(id -u)" -ne 0 ]; then echo "provision: run as root (sudo), or use --dry-run to see the steps" >&2; exit 2; fi

step "1/8 Debian packages"
pkgs=(python3 python3-venv rsync fonts-wqy-zenhei tesseract-ocr tesseract-ocr-eng udisks2)
[ "$KIOSK" -eq 1 ] && pkgs+=(cage chromium)
run apt-get update -qq
run env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}"

step "2/8 service users ($USER_NAME${KIOSK:+, $KIOSK_USER})"
if id "$USER_NAME" >/dev/null 2>&1; then echo "    user $USER_NAME exists"; else
  run useradd --system --home-dir "$DATA" --shell /usr/sbin/nologin "$USER_NAME"; fi
run usermod -a -G video,dialout,plugdev "$USER_NAME"
if [ "$KIOSK" -eq 1 ]; then
  if id "$KIOSK_USER" >/dev/null 2>&1; then echo "    user $KIOSK_USER exists"; else
    groups=$(for g in video render input; do getent group "$g" >/dev/null && printf '%s,' "$g"; done; true)
    run useradd --system --create-home --home-dir "$KIOSK_HOME" --shell /usr/sbin/nologin -G "${groups%,}" "$KIOSK_USER"; fi
fi

step "3/8 directories and site configuration"
run install -d -m 0750 -o "$USER_NAME" -g "$USER_NAME" "$DATA"
run install -d -m 0755 "$CONF_DIR"
if [ -f "$CONFIG" ]; then echo "    $CONFIG exists (kept)"; else
  if [ "$DRY" -eq 1 ]; then echo "    + write $CONFIG ([paths] data_dir = \"$DATA\", [web] port = $PORT)"; else
    printf '# CardioCart site configuration: any key of device/defaults.toml may be set here.\n[paths]\ndata_dir = "%s"\nmodels_dir = "%s/models"\n\n[web]\nport = %s\n' \
      "$DATA" "$PREFIX" "$PORT" > "$CONFIG"; chmod 0644 "$CONFIG"; fi
fi

step "4/8 code and virtual environment in $PREFIX"
if [ "$SRC" != "$PREFIX" ]; then
  run install -d -m 0755 "$PREFIX"
  run rsync -a --delete --exclude .git --exclude .venv --exclude var "$SRC/" "$PREFIX/"
fi
[ -x "$PYTHON" ] || run python3 -m venv "$PREFIX/.venv"
run "$PYTHON" -m pip install --quiet --upgrade pip
run "$PYTHON" -m pip install --quiet -e "$PREFIX"

step "5/8 udev rules for capture cards and serial ECG adapters"
run install -m 0644 "$SRC/provisioning/70-cardiocart.rules" /etc/udev/rules.d/70-cardiocart.rules
run udevadm control --reload-rules
run udevadm trigger --subsystem-match=video4linux --subsystem-match=tty

step "6/8 database"
run runuser -u "$USER_NAME" -- env CARDIOCART_CONFIG="$CONFIG" "$PYTHON" -m device migrate

step "7/8 systemd units"
if [ "$DRY" -eq 1 ]; then echo "    + render systemd/cardiocart-*.service into /etc/systemd/system"; else render_units /etc/systemd/system; fi
units=(cardiocart-core.service cardiocart-webui.service cardiocart-sync.service cardiocart-worker.service)
[ "$KIOSK" -eq 1 ] && units+=(cardiocart-kiosk.service)
if command -v systemd-analyze >/dev/null 2>&1; then run systemd-analyze verify "${units[@]/#//etc/systemd/system/}"; fi
run systemctl daemon-reload
run systemctl enable --now "${units[@]}"

step "8/8 kiosk"
if [ "$KIOSK" -eq 1 ]; then run systemctl set-default graphical.target; else echo "    kiosk skipped (--no-kiosk)"; fi
echo "CardioCart provisioned. Create the administrator: sudo runuser -u $USER_NAME -- env CARDIOCART_CONFIG=$CONFIG $PYTHON -m device users add admin --role admin"

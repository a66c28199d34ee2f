#!/usr/bin/env bash
# Installs (or upgrades in place) Airlock from this bundle, with no network.
#
#   sudo ./install.sh [--prefix /opt/airlock] [--conf-dir /etc/airlock] [--data-dir /var/lib/airlock]
#                     [--user airlock] [--python python3.11] [--unit-dir /etc/systemd/system]
#                     [--no-start] [--ready-timeout 300]
#
# Each option may also come from the environment: AIRLOCK_PREFIX, AIRLOCK_CONF_DIR,
# AIRLOCK_INSTALL_DATA_DIR, AIRLOCK_USER, AIRLOCK_PYTHON, AIRLOCK_UNIT_DIR.
set -euo pipefail

BUNDLE=$(cd "$(dirname "$0")" && pwd)
PREFIX=${AIRLOCK_PREFIX:-/opt/airlock}
CONF_DIR=${AIRLOCK_CONF_DIR:-/etc/airlock}
DATA_DIR=${AIRLOCK_INSTALL_DATA_DIR:-/var/lib/airlock}
SERVICE_USER=${AIRLOCK_USER:-airlock}
PYTHON=${AIRLOCK_PYTHON:-}
UNIT_DIR=${AIRLOCK_UNIT_DIR:-/etc/systemd/system}
START=1
READY_TIMEOUT=300
UNIT_INSTALLED=0

say() { printf 'airlock install: %s\n' "$*"; }
die() { printf 'airlock install: error: %s\n' "$*" >&2; exit 1; }

while [ $# -gt 0 ]; do
    case $1 in
        --prefix) PREFIX=$2; shift 2 ;;
        --conf-dir) CONF_DIR=$2; shift 2 ;;
        --data-dir) DATA_DIR=$2; shift 2 ;;
        --user) SERVICE_USER=$2; shift 2 ;;
        --python) PYTHON=$2; shift 2 ;;
        --unit-dir) UNIT_DIR=$2; shift 2 ;;
        --no-start) START=0; shift ;;
        --ready-timeout) READY_TIMEOUT=$2; shift 2 ;;
        -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
done

# The wheelhouse is the only source: no pip configuration of this host may add another.
for var in $(compgen -e | grep '^PIP_' || true); do unset "$var"; done
export PIP_CONFIG_FILE=/dev/null PIP_DISABLE_PIP_VERSION_CHECK=1

bundle_field() { sed -n "s/^ *\"$1\": *\"\\([^\"]*\\)\".*/\\1/p" "$BUNDLE/bundle.json"; }

check_bundle() {
    say "checking the bundle against MANIFEST"
    (cd "$BUNDLE" && sha256sum --check --quiet --strict MANIFEST) \
        || die "the bundle is damaged: the files named above differ from MANIFEST; copy it again"
}

pick_python() {
    local want; want=$(bundle_field python)
    PYTHON=${PYTHON:-python$want}
    command -v "$PYTHON" >/dev/null || die "$PYTHON not found: this bundle needs Python $want (--python PATH)"
    local have; have=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    [ "$have" = "$want" ] || die "$PYTHON is Python $have; this bundle was built for $want (--python PATH)"
    "$PYTHON" -c 'import venv, ensurepip' 2>/dev/null || die "$PYTHON lacks venv/ensurepip (install python$want-venv)"
}

ensure_user() {
    id -u "$SERVICE_USER" >/dev/null 2>&1 && return
    [ "$(id -u)" = 0 ] || die "user $SERVICE_USER does not exist and only root can create it"
    say "creating service user $SERVICE_USER"
    useradd --system --user-group --home-dir "$DATA_DIR" --no-create-home \
        --shell /usr/sbin/nologin "$SERVICE_USER"
}

systemd_running() { [ -d /run/systemd/system ] && command -v systemctl >/dev/null; }

stop_running_service() {
    if systemd_running && systemctl is-active --quiet airlock.service; then
        say "stopping the running service for the upgrade"
        systemctl stop airlock.service
    fi
}

backup_database() {
    local db="$DATA_DIR/airlock.db"
    [ -s "$db" ] || return 0
    local dest; dest="$DATA_DIR/backups/airlock.db.$(date -u +%Y%m%dT%H%M%SZ)"
    mkdir -p "$DATA_DIR/backups"
    # SQLite's online backup: a consistent copy that includes what is still in the WAL file.
    "$PYTHON" -c 'import sqlite3, sys; sqlite3.connect(sys.argv[1]).backup(sqlite3.connect(sys.argv[2]))' "$db" "$dest"
    say "database copied aside to $dest"
}

install_venv() {
    [ -x "$PREFIX/venv/bin/python" ] || "$PYTHON" -m venv "$PREFIX/venv"
    local extra=""; [ "$(bundle_field target)" = cuda ] && extra="[cuda]"
    # --no-compile: modules are compiled on first import into the data dir instead (the unit
    # sets PYTHONPYCACHEPREFIX), which is only what Airlock imports rather than all of torch.
    local pip=("$PREFIX/venv/bin/python" -m pip install --quiet --no-compile --no-index
               --find-links "$BUNDLE/wheelhouse")
    say "installing from the wheelhouse (no index)"
    "${pip[@]}" "airlock$extra"
    # Same version number, new build: replace Airlock's own files too.
    "${pip[@]}" --no-deps --force-reinstall "$BUNDLE"/wheelhouse/airlock-*.whl
}

install_files() {
    mkdir -p "$CONF_DIR" "$DATA_DIR" "$PREFIX/models"
    cp "$BUNDLE/README.txt" "$BUNDLE/bundle.json" "$PREFIX/"
    if [ ! -e "$CONF_DIR/airlock.toml" ]; then
        sed "s#^data_dir = .*#data_dir = \"$DATA_DIR\"#" "$BUNDLE/airlock.toml" > "$CONF_DIR/airlock.toml"
        say "wrote $CONF_DIR/airlock.toml"
    else
        say "kept the existing $CONF_DIR/airlock.toml"
    fi
    cp -r "$BUNDLE/models/." "$PREFIX/models/"
    chown -R "$SERVICE_USER:" "$DATA_DIR"
    chgrp "$(id -gn "$SERVICE_USER")" "$CONF_DIR/airlock.toml"
    chmod 0750 "$DATA_DIR"
    chmod 0640 "$CONF_DIR/airlock.toml"
}

as_service_user() {
    if [ "$(id -un)" = "$SERVICE_USER" ]; then "$@"; else runuser -u "$SERVICE_USER" -- "$@"; fi
}

airlock() {
    as_service_user env AIRLOCK_CONFIG="$CONF_DIR/airlock.toml" HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
        PYTHONPYCACHEPREFIX="$DATA_DIR/.cache/python" TORCH_EXTENSIONS_DIR="$DATA_DIR/.cache/torch_extensions" \
        "$PREFIX/venv/bin/airlock" "$@"
}

build_kernels() {
    say "compiling the CPU kernels for this machine"
    # without a compiler the engine falls back to its torch path: slower, still correct
    (cd "$DATA_DIR" && airlock kernels) || say "CPU kernels not built; the torch fallback will be used"
}

has_command() { "$PREFIX/venv/bin/airlock" "$1" --help >/dev/null 2>&1; }

migrate_database() {
    if has_command db; then
        say "migrating the database"
        (cd "$DATA_DIR" && airlock db upgrade)
    else
        say "this build has no 'airlock db'; the service creates its database on start"
    fi
}

import_models() {
    local entry name out
    mkdir -p "$DATA_DIR/models"
    for entry in "$PREFIX"/models/*; do
        name=$(basename "$entry")
        [ "$name" = SHA256SUMS ] && continue
        # A GGUF file also stays reachable as <data>/models/<file>: where the service looks
        # for the embedded default model when the store lacks it (models.default_model_file).
        case $name in *.gguf) ln -sfn "$entry" "$DATA_DIR/models/$name" ;; esac
        if ! has_command models; then
            say "this build has no 'airlock models'; model $name stays in $PREFIX/models"
        elif out=$(cd "$DATA_DIR" && airlock models import "$entry" 2>&1); then
            say "imported model $name"
        elif grep -q "already in the store" <<<"$out"; then
            say "model $name is already in the store"
        else
            die "model $name could not be imported: $out"
        fi
    done
    chown -R -h "$SERVICE_USER:" "$DATA_DIR/models"
}

install_unit() {
    local unit="$PREFIX/airlock.service"
    "$BUNDLE/render-unit.sh" "$BUNDLE/airlock.service" "$PREFIX" "$CONF_DIR" "$DATA_DIR" "$SERVICE_USER" > "$unit"
    if ! systemd_running; then
        say "systemd is not running here: the unit was not installed (it is at $unit)"
        say "start the service by hand: $PREFIX/venv/bin/airlock serve --config $CONF_DIR/airlock.toml"
        return 0
    fi
    install -m 0644 "$unit" "$UNIT_DIR/airlock.service"
    systemctl daemon-reload
    systemctl enable airlock.service
    UNIT_INSTALLED=1
    if [ "$START" = 1 ]; then systemctl restart airlock.service; fi
}

wait_ready() {
    say "waiting up to ${READY_TIMEOUT}s for /ready"
    "$PREFIX/venv/bin/python" - "$CONF_DIR/airlock.toml" "$READY_TIMEOUT" <<'PY' || die "the service did not become ready: journalctl -u airlock"
import sys, time, urllib.request
from appliance.config import load_config
server = load_config(sys.argv[1]).server
host = "127.0.0.1" if server.host in ("0.0.0.0", "::", "") else server.host
url, deadline = f"http://{host}:{server.port}/ready", time.monotonic() + float(sys.argv[2])
while time.monotonic() < deadline:
    try:
        with urllib.request.urlopen(url, timeout=2) as reply:
            if reply.status == 200:
                print(f"airlock install: ready at {url}"); sys.exit(0)
    except OSError:
        pass
    time.sleep(1)
sys.exit(1)
PY
}

main() {
    check_bundle
    pick_python
    ensure_user
    [ -d "$PREFIX/venv" ] && say "upgrading the installation in $PREFIX"
    stop_running_service
    backup_database
    install_venv
    install_files
    migrate_database
    build_kernels
    import_models
    install_unit
    if [ "$UNIT_INSTALLED" = 1 ] && [ "$START" = 1 ]; then wait_ready; fi
    say "done: airlock $(bundle_field version) ($(bundle_field target)) in $PREFIX; check it with: $PREFIX/venv/bin/airlock doctor --config $CONF_DIR/airlock.toml"
}

main

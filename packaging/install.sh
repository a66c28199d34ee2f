#!/usr/bin/env bash
# Installs (or upgrades in place) Airlock from this bundle, with no network.
#
#   sudo ./install.sh [--prefix /opt/airlock] [--conf-dir /etc/airlock] [--data-dir /var/lib/airlock]
#                     [--user airlock] [--python python3.11] [--unit-dir /etc/systemd/system]
#                     [--trusted-key <conf-dir>/bundle-signing.pub] [--no-start] [--ready-timeout 300]
#   ./install.sh --check-only [--trusted-key PUB]     checks the bundle, installs nothing
#
# Each option may also come from the environment: AIRLOCK_PREFIX, AIRLOCK_CONF_DIR,
# AIRLOCK_INSTALL_DATA_DIR, AIRLOCK_USER, AIRLOCK_PYTHON, AIRLOCK_UNIT_DIR, AIRLOCK_TRUSTED_KEY.
set -euo pipefail
umask 022   # the venv and the prefix must be readable by the service user whatever root's umask

BUNDLE=$(cd "$(dirname "$0")" && pwd)
PREFIX=${AIRLOCK_PREFIX:-/opt/airlock}
CONF_DIR=${AIRLOCK_CONF_DIR:-/etc/airlock}
DATA_DIR=${AIRLOCK_INSTALL_DATA_DIR:-/var/lib/airlock}
SERVICE_USER=${AIRLOCK_USER:-airlock}
PYTHON=${AIRLOCK_PYTHON:-}
PYTHON_FROM=AIRLOCK_PYTHON=   # where a chosen Python came from, for the error that refuses it
UNIT_DIR=${AIRLOCK_UNIT_DIR:-/etc/systemd/system}
TRUSTED_KEY=${AIRLOCK_TRUSTED_KEY:-}
CHECK_ONLY=0
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
        --python) PYTHON=$2; PYTHON_FROM="--python "; shift 2 ;;
        --unit-dir) UNIT_DIR=$2; shift 2 ;;
        --trusted-key) TRUSTED_KEY=$2; shift 2 ;;
        --check-only) CHECK_ONLY=1; shift ;;
        --no-start) START=0; shift ;;
        --ready-timeout) READY_TIMEOUT=$2; shift 2 ;;
        -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
done
PINNED_KEY="$CONF_DIR/bundle-signing.pub"
TRUSTED_KEY=${TRUSTED_KEY:-$PINNED_KEY}

# The wheelhouse is the only source: no pip configuration of this host may add another.
for var in $(compgen -e | grep '^PIP_' || true); do unset "$var"; done
export PIP_CONFIG_FILE=/dev/null PIP_DISABLE_PIP_VERSION_CHECK=1

bundle_field() { sed -n "s/^ *\"$1\": *\"\\([^\"]*\\)\".*/\\1/p" "$BUNDLE/bundle.json"; }

# What install.sh uses is what MANIFEST lists, nothing more: sha256sum --check ignores files
# it is not told about, and pip --find-links would take any wheel lying in the wheelhouse.
check_file_set() {
    local odd extra
    odd=$(cd "$BUNDLE" && find . -mindepth 1 ! -type d ! -type f -printf '%P\n')
    [ -z "$odd" ] || die "the bundle holds links or special files MANIFEST cannot vouch for: $(paste -sd ' ' <<<"$odd"); copy it again"
    extra=$(comm -13 <({ sed -n 's/^[0-9a-f]\{64\}  //p' "$BUNDLE/MANIFEST"; printf 'MANIFEST\nMANIFEST.sig\n'; } | LC_ALL=C sort -u) \
                     <(cd "$BUNDLE" && find . -mindepth 1 -type f -printf '%P\n' | LC_ALL=C sort))
    [ -z "$extra" ] || die "the bundle holds files MANIFEST does not list: $(paste -sd ' ' <<<"$extra"); remove them or copy the bundle again"
}

check_signature() {
    local sig="$BUNDLE/MANIFEST.sig"
    if [ ! -e "$TRUSTED_KEY" ]; then
        [ "$TRUSTED_KEY" = "$PINNED_KEY" ] || die "--trusted-key $TRUSTED_KEY: no such file"
        if [ -e "$sig" ]; then say "the bundle is signed, but no key is pinned at $PINNED_KEY: signature not checked"
        else say "unsigned bundle (no key is pinned at $PINNED_KEY)"; fi
        return 0
    fi
    [ -e "$sig" ] || die "the bundle is not signed, but $TRUSTED_KEY is pinned: only a signed bundle may install"
    command -v openssl >/dev/null || die "openssl is needed to check the bundle's signature against $TRUSTED_KEY"
    openssl pkeyutl -verify -pubin -inkey "$TRUSTED_KEY" -rawin -in "$BUNDLE/MANIFEST" -sigfile "$sig" >/dev/null 2>&1 \
        || die "the bundle's signature does not match $TRUSTED_KEY: it was not signed with that key's private half, or MANIFEST was altered"
    say "signature good: signed by the key $(openssl pkey -pubin -in "$TRUSTED_KEY" -outform DER | sha256sum | cut -d" " -f1)"
}

check_bundle() {
    say "checking the bundle against MANIFEST"
    [ -f "$BUNDLE/MANIFEST" ] || die "no MANIFEST in $BUNDLE: copy the bundle again"
    check_file_set
    (cd "$BUNDLE" && sha256sum --check --quiet --strict MANIFEST) \
        || die "the bundle is damaged: the files named above differ from MANIFEST; copy it again"
    check_signature
}

# The venv links to its interpreter, so the service user must be able to run that one, and
# it must not live under /root, /home or /run/user: the unit's ProtectHome=yes hides them.
# Before the service user exists, `nobody` stands in for it (a new system user has no groups).
python_base() { "$1" -c 'import sys; print(sys._base_executable)' 2>/dev/null; }

python_problem() {
    local base=$1 want=$2 have real
    have=$("$base" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    [ "$have" = "$want" ] || { echo "it is Python $have; this bundle was built for $want"; return; }
    "$base" -c 'import venv, ensurepip' 2>/dev/null || { echo "it lacks venv/ensurepip (install python$want-venv)"; return; }
    local path
    for path in "$base" "$(readlink -f "$base")"; do
        case $path in /root/*|/home/*|/run/user/*)
            echo "it lies in a home directory ($path), which the service (ProtectHome=yes) cannot see"; return ;;
        esac
    done
    local who=$SERVICE_USER; id -u "$who" >/dev/null 2>&1 || who=nobody
    (cd / && run_as "$who" "$base" -c 'import sqlite3' >/dev/null 2>&1) \
        || echo "user $who cannot run it (a directory above it is private)"
}

pick_python() {
    local want cand base why reasons=()
    want=$(bundle_field python)
    local candidates=("$PYTHON")
    [ -n "$PYTHON" ] || candidates=("python$want" "/usr/bin/python$want" "/usr/local/bin/python$want")
    for cand in "${candidates[@]}"; do
        if ! base=$(command -v "$cand" >/dev/null && python_base "$cand"); then
            reasons+=("$cand: not found"); continue
        fi
        why=$(python_problem "$base" "$want")
        if [ -z "$why" ]; then
            [ ${#reasons[@]} = 0 ] || say "not using ${reasons[*]}"
            PYTHON=$base; say "using $PYTHON"; return
        fi
        [ "$base" = "$cand" ] || cand="$cand ($base)"
        reasons+=("$cand: $why")
    done
    [ -z "$PYTHON" ] || die "$PYTHON_FROM${reasons[0]}. Pass --python with a Python $want that user $SERVICE_USER can run, outside /root and /home (e.g. /usr/bin/python$want)"
    local IFS=';'
    die "no Python $want that user $SERVICE_USER can run: ${reasons[*]}. Install Python $want for all users (the python$want-venv package) or pass --python PATH"
}

ensure_user() {
    id -u "$SERVICE_USER" >/dev/null 2>&1 && return
    [ "$(id -u)" = 0 ] || die "user $SERVICE_USER does not exist and only root can create it"
    say "creating service user $SERVICE_USER"
    useradd --system --user-group --home-dir "$DATA_DIR" --no-create-home \
        --shell /usr/sbin/nologin "$SERVICE_USER"
    # uninstall.sh --purge removes the user only when the installer created it
    mkdir -p "$CONF_DIR" && echo "$SERVICE_USER" > "$CONF_DIR/.created-user"
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
    local home; home=$(sed -n 's/^home = //p' "$PREFIX/venv/pyvenv.cfg" 2>/dev/null || true)
    if [ "$home" != "$(dirname "$PYTHON")" ]; then
        [ -z "$home" ] || say "rebuilding $PREFIX/venv on $PYTHON (it was built on $home)"
        "$PYTHON" -m venv --clear "$PREFIX/venv"
    fi
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
    # the service user's temporary files stay in its data dir: purge finds them there
    mkdir -p "$CONF_DIR" "$DATA_DIR" "$DATA_DIR/models" "$DATA_DIR/.cache/tmp" "$PREFIX/models"
    cp "$BUNDLE/README.txt" "$BUNDLE/bundle.json" "$PREFIX/"
    if [ ! -e "$CONF_DIR/airlock.toml" ]; then
        sed "s#^data_dir = .*#data_dir = \"$DATA_DIR\"#" "$BUNDLE/airlock.toml" > "$CONF_DIR/airlock.toml"
        say "wrote $CONF_DIR/airlock.toml"
    else
        say "kept the existing $CONF_DIR/airlock.toml"
    fi
    cp -r "$BUNDLE/models/." "$PREFIX/models/"
    if [ "$TRUSTED_KEY" != "$PINNED_KEY" ]; then
        install -m 0644 "$TRUSTED_KEY" "$PINNED_KEY"; say "pinned $TRUSTED_KEY as $PINNED_KEY: upgrades must be signed by it"
    fi
    # before anything runs as the service user: it writes the store, caches and database here
    chown -R -h "$SERVICE_USER:" "$DATA_DIR"
    chgrp "$(id -gn "$SERVICE_USER")" "$CONF_DIR/airlock.toml"
    chmod 0750 "$DATA_DIR"
    chmod 0640 "$CONF_DIR/airlock.toml"
}

run_as() {
    local who=$1; shift
    if [ "$(id -un)" = "$who" ]; then "$@"; else runuser -u "$who" -- "$@"; fi
}

as_service_user() { run_as "$SERVICE_USER" "$@"; }

airlock() {
    as_service_user env AIRLOCK_CONFIG="$CONF_DIR/airlock.toml" HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
        PYTHONPYCACHEPREFIX="$DATA_DIR/.cache/python" TORCH_EXTENSIONS_DIR="$DATA_DIR/.cache/torch_extensions" \
        TORCHINDUCTOR_CACHE_DIR="$DATA_DIR/.cache/torchinductor" TMPDIR="$DATA_DIR/.cache/tmp" \
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

check_venv_runs() {
    (cd / && as_service_user "$PREFIX/venv/bin/python" -c 'import appliance' >/dev/null 2>&1) \
        || die "user $SERVICE_USER cannot run $PREFIX/venv/bin/python: is a directory above $PREFIX private? (--prefix)"
    (cd / && as_service_user test -r "$CONF_DIR/airlock.toml" -a -w "$DATA_DIR") \
        || die "user $SERVICE_USER cannot read $CONF_DIR/airlock.toml or write $DATA_DIR: is a directory above them private?"
}

import_models() {
    local entry name out
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
    chown -h "$SERVICE_USER:" "$DATA_DIR"/models/*.gguf 2>/dev/null || true
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
    [ "$CHECK_ONLY" = 0 ] || { say "the bundle is intact; --check-only: nothing installed"; exit 0; }
    [ "$(id -u)" = 0 ] || [ "$(id -un)" = "$SERVICE_USER" ] || die "run it as root (sudo ./install.sh), or pass --user $(id -un)"
    pick_python
    ensure_user
    [ -d "$PREFIX/venv" ] && say "upgrading the installation in $PREFIX"
    stop_running_service
    backup_database
    install_venv
    install_files
    check_venv_runs
    migrate_database
    build_kernels
    import_models
    install_unit
    if [ "$UNIT_INSTALLED" = 1 ] && [ "$START" = 1 ]; then wait_ready; fi
    say "done: airlock $(bundle_field version) ($(bundle_field target)) in $PREFIX; check it with: $PREFIX/venv/bin/airlock doctor --config $CONF_DIR/airlock.toml"
}

main

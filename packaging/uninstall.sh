#!/usr/bin/env bash
# Removes Airlock. Configuration and data (the ledger database, the model store) are kept
# unless --purge is given.
#
#   sudo ./uninstall.sh [--prefix /opt/airlock] [--conf-dir /etc/airlock] [--data-dir /var/lib/airlock]
#                       [--user airlock] [--unit-dir /etc/systemd/system] [--purge]
set -euo pipefail

PREFIX=${AIRLOCK_PREFIX:-/opt/airlock}
CONF_DIR=${AIRLOCK_CONF_DIR:-/etc/airlock}
DATA_DIR=${AIRLOCK_INSTALL_DATA_DIR:-/var/lib/airlock}
SERVICE_USER=${AIRLOCK_USER:-airlock}
UNIT_DIR=${AIRLOCK_UNIT_DIR:-/etc/systemd/system}
PURGE=0

say() { printf 'airlock uninstall: %s\n' "$*"; }
die() { printf 'airlock uninstall: error: %s\n' "$*" >&2; exit 1; }

while [ $# -gt 0 ]; do
    case $1 in
        --prefix) PREFIX=$2; shift 2 ;;
        --conf-dir) CONF_DIR=$2; shift 2 ;;
        --data-dir) DATA_DIR=$2; shift 2 ;;
        --user) SERVICE_USER=$2; shift 2 ;;
        --unit-dir) UNIT_DIR=$2; shift 2 ;;
        --purge) PURGE=1; shift ;;
        -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
done

if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
    systemctl disable --now airlock.service 2>/dev/null || true
    rm -f "$UNIT_DIR/airlock.service"
    systemctl daemon-reload
    say "service stopped and unit removed"
fi
rm -rf "$PREFIX"
say "removed $PREFIX"
if [ "$PURGE" = 1 ]; then
    # the user goes only when install.sh created it (or it is the default name): never a
    # user the site had before, such as root
    created=$(cat "$CONF_DIR/.created-user" 2>/dev/null || true)
    rm -rf "$CONF_DIR" "$DATA_DIR"
    say "purged $CONF_DIR and $DATA_DIR"
    if { [ "$SERVICE_USER" = airlock ] || [ "$SERVICE_USER" = "$created" ]; } && id -u "$SERVICE_USER" >/dev/null 2>&1; then
        # what the user left in the shared temporary folders (a run outside the unit's PrivateTmp)
        find /tmp /var/tmp /dev/shm -xdev -user "$SERVICE_USER" -delete 2>/dev/null || true
        userdel "$SERVICE_USER" && say "removed user $SERVICE_USER"
    fi
else
    say "kept $CONF_DIR and $DATA_DIR (the database and models); --purge removes them"
fi

#!/usr/bin/env bash
# Writes airlock.service for the chosen directories to stdout:
#   render-unit.sh UNIT_TEMPLATE PREFIX CONF_DIR DATA_DIR [USER]
set -euo pipefail
[ $# -ge 4 ] || { echo "usage: $0 UNIT_TEMPLATE PREFIX CONF_DIR DATA_DIR [USER]" >&2; exit 2; }
template=$1 prefix=$2 conf=$3 data=$4 user=${5:-airlock}
sed -e "s#/opt/airlock#${prefix}#g" \
    -e "s#/etc/airlock#${conf}#g" \
    -e "s#/var/lib/airlock#${data}#g" \
    -e "s#^User=airlock\$#User=${user}#" \
    -e "s#^Group=airlock\$#Group=${user}#" \
    "$template"

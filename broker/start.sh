#!/bin/sh
# Starts the chain's mosquitto: generates the password file and the ACL from the
# environment, renders mosquitto.conf, then runs mosquitto in the foreground.
#
# In the container (eclipse-mosquitto:2) the defaults apply. Tests and bare-metal
# runs set BROKER_RUN_DIR, BROKER_DATA_DIR and BROKER_PORT to use other places.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
conf_src=${BROKER_CONF:-$here/mosquitto.conf}
acl_src=${BROKER_ACL_TEMPLATE:-$here/acl.template}
run_dir=${BROKER_RUN_DIR:-/mosquitto/run}
data_dir=${BROKER_DATA_DIR:-/mosquitto/data}
port=${BROKER_PORT:-1883}
centre=${WIS2_CENTRE_ID:-fr-ifremer-argo}

case "$centre" in
  *[!a-z0-9-]*|"") echo "start.sh: WIS2_CENTRE_ID '$centre' is not a WIS2 centre id (lowercase letters, digits and '-')" >&2; exit 2 ;;
esac

mkdir -p "$run_dir" "$data_dir"
umask 077
passwd="$run_dir/passwd"
: >"$passwd"
add_user() {
  user=$1 pass=$2 var=$3
  if [ -z "$pass" ]; then
    echo "start.sh: $var is empty: set a password for the broker account '$user' (see .env.example)" >&2
    exit 2
  fi
  mosquitto_passwd -b "$passwd" "$user" "$pass"
}
add_user wis2-watch "${WIS2_WATCH_PASSWORD:-}" WIS2_WATCH_PASSWORD
add_user wis2-create "${WIS2_CREATE_PASSWORD:-}" WIS2_CREATE_PASSWORD
add_user wis2-validate "${WIS2_VALIDATE_PASSWORD:-}" WIS2_VALIDATE_PASSWORD
add_user wis2-publish "${WIS2_PUBLISH_PASSWORD:-}" WIS2_PUBLISH_PASSWORD
add_user operator "${WIS2_OPERATOR_PASSWORD:-}" WIS2_OPERATOR_PASSWORD
add_user everyone "${WIS2_EVERYONE_PASSWORD:-everyone}" WIS2_EVERYONE_PASSWORD

sed "s/@CENTRE_ID@/$centre/g" "$acl_src" >"$run_dir/acl"
sed -e "s#/mosquitto/run/#$run_dir/#g" \
    -e "s#/mosquitto/data/#$data_dir/#g" \
    -e "s#^listener 1883\$#listener $port#" \
    "$conf_src" >"$run_dir/mosquitto.conf"

# mosquitto started as root drops to the mosquitto user: let it read its files.
if [ "$(id -u)" = 0 ] && id mosquitto >/dev/null 2>&1; then
  chown -R mosquitto "$run_dir" "$data_dir"
fi

exec mosquitto -c "$run_dir/mosquitto.conf"

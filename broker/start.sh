#!/bin/sh
# Starts the chain's mosquitto: generates the password file and the ACL from the
# environment, renders mosquitto.conf, then runs mosquitto in the foreground.
#
# In the container (eclipse-mosquitto:2) the defaults apply. Tests and bare-metal
# runs set BROKER_RUN_DIR, BROKER_DATA_DIR and BROKER_PORT to use other places.
#
# TLS listener (mqtts, port BROKER_TLS_PORT, default 8883; "off" disables it):
#   - certificates mounted: BROKER_TLS_CERT and BROKER_TLS_KEY (PEM files, the chain
#     and its key), BROKER_TLS_CA (the CA clients should trust, printed at start);
#   - otherwise a test CA and a server certificate are generated at first start by
#     gen-certs.sh in BROKER_TLS_DIR (default $BROKER_DATA_DIR/tls, kept across
#     restarts); clients trust its ca.crt (WIS2_CA_FILE). Without openssl the TLS
#     listener is skipped with a message, the plain listener still starts.
# MQTT over secure websockets (wss://host:PORT/mqtt) uses the same certificates on
# port BROKER_WSS_PORT (default 8884, "off" disables it); BROKER_WSS_ADDRESS binds it
# to one IP address instead of all.
# When BROKER_PORT is set and BROKER_TLS_PORT (BROKER_WSS_PORT) is not (tests, several
# brokers on one machine), that listener is off: choose its port explicitly.
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

if [ -n "${BROKER_TLS_PORT:-}" ]; then
  tls_port=$BROKER_TLS_PORT
elif [ -n "${BROKER_PORT:-}" ]; then
  tls_port=off
else
  tls_port=8883
fi
case "$tls_port" in
  off|0) tls_port=off ;;
  *[!0-9]*|"") echo "start.sh: BROKER_TLS_PORT '$tls_port' is not a port number (or 'off')" >&2; exit 2 ;;
esac
if [ -n "${BROKER_WSS_PORT:-}" ]; then
  wss_port=$BROKER_WSS_PORT
elif [ -n "${BROKER_PORT:-}" ]; then
  wss_port=off
else
  wss_port=8884
fi
case "$wss_port" in
  off|0) wss_port=off ;;
  *[!0-9]*|"") echo "start.sh: BROKER_WSS_PORT '$wss_port' is not a port number (or 'off')" >&2; exit 2 ;;
esac
wss_address=${BROKER_WSS_ADDRESS:-}
case "$wss_address" in
  *[!0-9a-fA-F.:]*) echo "start.sh: BROKER_WSS_ADDRESS '$wss_address' is not an IP address" >&2; exit 2 ;;
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
add_user wis2-console "${WIS2_CONSOLE_BROKER_PASSWORD:-}" WIS2_CONSOLE_BROKER_PASSWORD
add_user operator "${WIS2_OPERATOR_PASSWORD:-}" WIS2_OPERATOR_PASSWORD
add_user everyone "${WIS2_EVERYONE_PASSWORD:-everyone}" WIS2_EVERYONE_PASSWORD

# TLS: the certificates mosquitto reads are copied to $run_dir/tls (so that the
# mosquitto user can read them whoever owns the originals).
tls_run=$run_dir/tls
rm -rf "$tls_run"
if [ "$tls_port" != off ] || [ "$wss_port" != off ]; then
  if [ -n "${BROKER_TLS_CERT:-}${BROKER_TLS_KEY:-}${BROKER_TLS_CA:-}" ]; then
    for var in BROKER_TLS_CERT BROKER_TLS_KEY BROKER_TLS_CA; do
      eval "f=\${$var:-}"
      if [ -z "$f" ] || [ ! -r "$f" ]; then
        echo "start.sh: $var '$f' is not a readable file: mounted TLS certificates need BROKER_TLS_CERT, BROKER_TLS_KEY and BROKER_TLS_CA" >&2
        exit 2
      fi
    done
    mkdir -p "$tls_run"
    cp "$BROKER_TLS_CERT" "$tls_run/server.crt"
    cp "$BROKER_TLS_KEY" "$tls_run/server.key"
    cp "$BROKER_TLS_CA" "$tls_run/ca.crt"
    ca_for_clients=$BROKER_TLS_CA
  else
    tls_dir=${BROKER_TLS_DIR:-$data_dir/tls}
    if sh "$here/gen-certs.sh" "$tls_dir"; then
      mkdir -p "$tls_run"
      cp "$tls_dir/server.crt" "$tls_run/server.crt"
      cp "$tls_dir/server.key" "$tls_run/server.key"
      cp "$tls_dir/ca.crt" "$tls_run/ca.crt"
      ca_for_clients=$tls_dir/ca.crt
    else
      echo "start.sh: no TLS certificate (none mounted with BROKER_TLS_CERT/BROKER_TLS_KEY/BROKER_TLS_CA, none generated): the TLS listeners are off, the plain listener on $port still starts" >&2
      tls_port=off
      wss_port=off
    fi
  fi
fi
if [ "$tls_port" != off ] || [ "$wss_port" != off ]; then
  chmod 644 "$tls_run/server.crt" "$tls_run/ca.crt"
  echo "start.sh: TLS on port(s) mqtts $tls_port, wss $wss_port; clients trust the CA certificate $ca_for_clients (WIS2_CA_FILE=$ca_for_clients or --ca-file)"
fi
if [ "$tls_port" != off ]; then
  tls_sed="s#^listener 8883\$#listener $tls_port#"
else
  # Keep only the websockets block (if any) of the TLS section.
  tls_sed='/^# BEGIN TLS$/,/^# BEGIN WSS$/{/^# BEGIN WSS$/!d}'
fi
if [ "$wss_port" != off ]; then
  wss_sed="s#^listener 8884\$#listener $wss_port${wss_address:+ $wss_address}#"
else
  wss_sed='/^# BEGIN WSS$/,/^# END WSS$/d'
fi

sed "s/@CENTRE_ID@/$centre/g" "$acl_src" >"$run_dir/acl"
sed -e "s#/mosquitto/run/#$run_dir/#g" \
    -e "s#/mosquitto/data/#$data_dir/#g" \
    -e "s#^listener 1883\$#listener $port#" \
    -e "$tls_sed" \
    -e "$wss_sed" \
    "$conf_src" >"$run_dir/mosquitto.conf"

# mosquitto started as root drops to the mosquitto user: let it read its files.
if [ "$(id -u)" = 0 ] && id mosquitto >/dev/null 2>&1; then
  chown -R mosquitto "$run_dir" "$data_dir"
fi

exec mosquitto -c "$run_dir/mosquitto.conf"

#!/bin/sh
# Generates a test certificate authority and a server certificate for the broker's
# TLS listener, for demos and tests only: production brokers mount certificates from
# a real CA (BROKER_TLS_CERT, BROKER_TLS_KEY, BROKER_TLS_CA, see start.sh).
#
#   gen-certs.sh OUT_DIR
#
# writes OUT_DIR/ca.crt (give it to clients: WIS2_CA_FILE / --ca-file), OUT_DIR/ca.key,
# OUT_DIR/server.crt and OUT_DIR/server.key. Existing files are kept (first start
# generates, later starts reuse), unless BROKER_TLS_REGENERATE=1.
#
# BROKER_TLS_SAN sets the server certificate's subjectAltName
# (default DNS:broker,DNS:localhost,IP:127.0.0.1: the compose service name, and
# this machine); BROKER_TLS_DAYS its validity (default 825 days).
set -eu

out=${1:?usage: gen-certs.sh OUT_DIR}
san=${BROKER_TLS_SAN:-DNS:broker,DNS:localhost,IP:127.0.0.1}
days=${BROKER_TLS_DAYS:-825}

if ! command -v openssl >/dev/null 2>&1; then
  echo "gen-certs.sh: openssl is not installed: cannot generate certificates" >&2
  exit 3
fi

if [ "${BROKER_TLS_REGENERATE:-0}" != 1 ] \
   && [ -s "$out/ca.crt" ] && [ -s "$out/server.crt" ] && [ -s "$out/server.key" ]; then
  echo "gen-certs.sh: reusing the certificates in $out"
  exit 0
fi

mkdir -p "$out"
umask 077
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

# Test CA: P-256 keys are fast to generate and accepted by mosquitto and rustls.
openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -keyout "$tmp/ca.key" -out "$tmp/ca.crt" -days "$days" -sha256 \
  -subj "/O=WIS2 chain/CN=WIS2 chain test CA (not for production)" \
  -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -addext "subjectKeyIdentifier=hash" 2>"$tmp/err" || { cat "$tmp/err" >&2; exit 1; }

openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -keyout "$tmp/server.key" -out "$tmp/server.csr" \
  -subj "/O=WIS2 chain/CN=broker" 2>"$tmp/err" || { cat "$tmp/err" >&2; exit 1; }

cat >"$tmp/ext" <<EOF
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
subjectAltName=$san
EOF
openssl x509 -req -in "$tmp/server.csr" -CA "$tmp/ca.crt" -CAkey "$tmp/ca.key" \
  -CAcreateserial -out "$tmp/server.crt" -days "$days" -sha256 \
  -extfile "$tmp/ext" 2>"$tmp/err" || { cat "$tmp/err" >&2; exit 1; }

for f in ca.crt ca.key server.crt server.key; do
  cp "$tmp/$f" "$out/$f"
done
chmod 644 "$out/ca.crt" "$out/server.crt"
echo "gen-certs.sh: generated a test CA and a server certificate ($san) in $out"

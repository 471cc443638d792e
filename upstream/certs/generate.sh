#!/usr/bin/env bash
# Regenerates the TLS fixtures of engine.io's suite (its test/fixtures/generate_certs.sh, with a
# 10-year lifetime instead of 1 and a subjectAltName for localhost). The files the tag ships expire
# on 2026-12-15; these replace them when the suite is laid out. Run from anywhere:
#   bash upstream/certs/generate.sh
set -euo pipefail
cd "$(dirname "$0")"
days=3650

openssl genrsa -out ca.key 2048
openssl req -x509 -new -nodes -key ca.key -sha256 -days "$days" -out ca.crt -subj "/CN=Test CA"

openssl genrsa -out server.key 2048
openssl req -new -key server.key -out server.csr -subj "/CN=localhost"
openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -sha256 -days "$days" \
  -extfile <(printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n') -out server.crt

openssl genrsa -out client.key 2048
openssl req -new -key client.key -out client.csr -subj "/CN=client"
openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -sha256 -days "$days" \
  -out client.crt

# Empty export password, as upstream's; -legacy is not needed: Node's OpenSSL 3 reads AES-256 PKCS#12.
openssl pkcs12 -export -passout pass: -out client.pfx -inkey client.key -in client.crt -certfile ca.crt
rm -f ca.srl

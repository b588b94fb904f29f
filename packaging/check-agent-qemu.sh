#!/usr/bin/env bash
# check-agent-qemu.sh [BIN]: one verification end to end with the armv7
# agent emulated. `facedemo -only genuine` starts the native facegateway
# (embedded MQTT broker) and sample partner on loopback and the cgo-free
# armv7 faceagent (BIN/linux-armv7/faceagent, pure-Go inference engine, no
# shared library) under qemu-arm with the replay camera; the partner
# launches a verification of person_a against person_a's reference, and the
# check requires VERIFIED at the agent and in the partner's callback.
#
# An emulated agent analyses one frame in seconds, so the capture window is
# 60 s instead of the demo's 2 s; the whole run is bounded by
# FACEVERIFY_QEMU_TIMEOUT seconds (default 600). Outside CI (CI unset) a
# missing qemu-arm or models directory skips the check; in CI it fails.
set -euo pipefail
bin=$(cd "${1:-bin}" && pwd)
limit=${FACEVERIFY_QEMU_TIMEOUT:-600}
say() { echo "check-agent-qemu: $*"; }
fail() { say "FAIL: $*" >&2; exit 1; }
skip_or_fail() {
	[ -z "${CI:-}" ] || fail "$*"
	say "SKIP: $*"
	exit 0
}

for f in facegateway facedemo linux-armv7/faceagent; do
	[ -x "$bin/$f" ] || fail "$bin/$f missing (make build build-armv7)"
done
command -v qemu-arm >/dev/null || skip_or_fail "needs qemu-arm (Debian package qemu-user)"
[ -f models/fr_detect.onnx ] || skip_or_fail "models absent (make models)"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# facedemo runs BIN/faceagent and BIN/facegateway: the agent is the armv7
# binary behind qemu-arm, the gateway the native one.
cat >"$work/faceagent" <<WRAP
#!/bin/sh
exec qemu-arm "$bin/linux-armv7/faceagent" "\$@"
WRAP
chmod 0755 "$work/faceagent"
ln -s "$bin/facegateway" "$work/facegateway"

start=$(date +%s)
rc=0
timeout "$limit" "$bin/facedemo" -bin "$work" -models models -only genuine -window 60s \
	>"$work/out" 2>"$work/err" || rc=$?
elapsed=$(($(date +%s) - start))
result=$(grep '^{"scenario":"genuine"' "$work/out" || true)
if [ "$rc" -ne 0 ] || ! echo "$result" | grep -q '"status":"VERIFIED".*"agent_status":"VERIFIED".*"expected":true'; then
	cat "$work/out" "$work/err" >&2
	[ "$rc" -ne 124 ] || fail "no decision within ${limit}s"
	fail "facedemo exit $rc, result: ${result:-none}"
fi
say "$result"
say "OK: armv7 faceagent under qemu-arm verified person_a through the amd64 gateway in ${elapsed}s"

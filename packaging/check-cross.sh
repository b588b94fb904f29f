#!/usr/bin/env bash
# check-cross.sh: checks the cross-built agents in bin/linux-arm64 and
# bin/linux-armv7 with `file`, and, when qemu-user is installed, runs them:
# `faceagent version` on both, and `faceagent inspect` on a live photo: on
# arm64 with the pinned arm64 ONNX Runtime library and with the pure-Go
# engine, on armv7 (no ONNX
# Runtime build exists for 32-bit ARM; built without cgo) with the pure-Go
# inference engine.
set -euo pipefail
bin=$(cd "${1:-bin}" && pwd)
fail() { echo "check-cross: FAIL: $*" >&2; exit 1; }

check_file() { # path pattern linking
	[ -x "$1" ] || fail "$1 missing (make build-arm64 build-armv7)"
	local out
	out=$(file -L "$1")
	echo "$out"
	echo "$out" | grep -q "$2" || fail "$1 is not $2"
	echo "$out" | grep -q "$3" || fail "$1 is not $3"
}
check_file "$bin/linux-arm64/faceagent" 'ELF 64-bit LSB .*ARM aarch64' 'dynamically linked'
check_file "$bin/linux-armv7/faceagent" 'ELF 32-bit LSB .*ARM, EABI5' 'statically linked'
ls -l "$bin/linux-arm64/faceagent" "$bin/linux-armv7/faceagent"

if ! command -v qemu-arm >/dev/null || ! command -v qemu-aarch64 >/dev/null; then
	if [ -n "${CI:-}" ]; then fail "qemu-arm/qemu-aarch64 missing (Debian package qemu-user)"; fi
	echo "check-cross: binaries not run: qemu-user not installed (Debian package qemu-user)"
	exit 0
fi
qemu-aarch64 -L /usr/aarch64-linux-gnu "$bin/linux-arm64/faceagent" version
qemu-arm -L /usr/arm-linux-gnueabihf "$bin/linux-armv7/faceagent" version

# arm64 inference with the pinned arm64 ONNX Runtime library, under qemu-user.
photo=../shared/testdata/liveness/live_01.jpg
if [ ! -f models/lib/linux-arm64/libonnxruntime.so.1 ]; then
	echo "check-cross: arm64 inference not run: models/lib/linux-arm64 absent (make models)"
elif [ ! -f "$photo" ]; then
	echo "check-cross: arm64 inference not run: $photo absent (../shared/testdata)"
else
	out=$(qemu-aarch64 -L /usr/aarch64-linux-gnu "$bin/linux-arm64/faceagent" inspect --models models "$photo" 2>&1 | grep -F "$photo")
	echo "arm64: $out"
	echo "$out" | grep -q ': OK .*1 face(s).*live=true' || fail "arm64 faceagent inspect under qemu-aarch64: $out"
fi
# arm64 inference on the pure-Go engine (inference.engine = "go"), the
# same binary: the engine's kernels on a 64-bit ARM target.
if [ ! -f models/fr_detect.onnx ] || [ ! -f "$photo" ]; then
	echo "check-cross: arm64 Go-engine inference not run: models or $photo absent"
else
	gocfg=$(mktemp)
	printf '[inference]\nengine = "go"\n' >"$gocfg"
	out=$(timeout 600 qemu-aarch64 -L /usr/aarch64-linux-gnu "$bin/linux-arm64/faceagent" inspect --config "$gocfg" --models models "$photo" 2>&1 | grep -F "$photo")
	rm -f "$gocfg"
	echo "arm64 (Go engine): $out"
	echo "$out" | grep -q ': OK .*1 face(s).*live=true' || fail "arm64 faceagent inspect (Go engine) under qemu-aarch64: $out"
fi
# armv7 inference on the pure-Go engine (no library at all), under qemu-user.
if [ ! -f models/fr_detect.onnx ]; then
	echo "check-cross: armv7 inference not run: models absent (make models)"
elif [ ! -f "$photo" ]; then
	echo "check-cross: armv7 inference not run: $photo absent (../shared/testdata)"
else
	out=$(timeout 600 qemu-arm "$bin/linux-armv7/faceagent" inspect --models models "$photo" 2>&1 | grep -F "$photo")
	echo "armv7: $out"
	echo "$out" | grep -q ': OK .*1 face(s).*live=true' || fail "armv7 faceagent inspect under qemu-arm: $out"
fi
echo "check-cross: OK"

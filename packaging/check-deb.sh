#!/usr/bin/env bash
# check-deb.sh DEB: inspects a faceverify-agent .deb with dpkg-deb (-I, -c)
# and fails naming what is missing or wrong.
set -euo pipefail
deb=${1:?usage: check-deb.sh FILE.deb}
fail() { echo "check-deb: FAIL: $*" >&2; exit 1; }

info=$(dpkg-deb -I "$deb")
arch=$(dpkg-deb -f "$deb" Architecture)
[ "$(dpkg-deb -f "$deb" Package)" = faceverify-agent ] || fail "package name"
echo "$info" | grep -q ' postinst' || fail "no postinst"
echo "$info" | grep -q ' conffiles' || fail "no conffiles"

listing=$(dpkg-deb -c "$deb")
echo "$listing"
for path in ./usr/bin/faceagent ./usr/lib/systemd/system/faceagent.service \
	./etc/faceverify/agent.toml ./var/lib/faceverify/ ./usr/lib/sysusers.d/faceverify.conf \
	./usr/lib/udev/rules.d/60-faceverify-gpio.rules ./usr/share/faceverify/models/fr_detect.onnx; do
	echo "$listing" | awk '{ print $6 }' | grep -qxF "$path" || fail "missing $path"
done
echo "$listing" | grep -F ' ./usr/bin/faceagent' | grep -q '^-rwxr-xr-x root/root' || fail "faceagent is not 0755 root:root"
echo "$listing" | grep -F ' ./var/lib/faceverify/' | grep -q '^drwx------' || fail "/var/lib/faceverify is not 0700"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dpkg-deb -x "$deb" "$tmp"
dpkg-deb -e "$deb" "$tmp/DEBIAN"
grep -qx /etc/faceverify/agent.toml "$tmp/DEBIAN/conffiles" || fail "agent.toml is not a conffile"
grep -q '^ExecStart=/usr/bin/faceagent run --config /etc/faceverify/agent.toml$' \
	"$tmp/usr/lib/systemd/system/faceagent.service" || fail "unit ExecStart"
grep -q '^models_dir = "/usr/share/faceverify/models"$' "$tmp/etc/faceverify/agent.toml" ||
	fail "agent.toml models_dir does not point at the packaged models"
want=$(case $arch in amd64) echo x86-64 ;; arm64) echo aarch64 ;; armhf) echo 'ARM, EABI5' ;; esac)
file "$tmp/usr/bin/faceagent" | grep -q "$want" || fail "faceagent is not a $arch binary: $(file "$tmp/usr/bin/faceagent")"
# Shared libraries: on amd64 and arm64 only the pinned ONNX Runtime for
# that architecture; armhf has none (no ONNX Runtime build exists for 32-bit
# ARM) and its agent, built without cgo, is static and runs the pure-Go
# inference engine.
libs=$(echo "$listing" | awk '{ print $6 }' | grep -E '\.so(\.[0-9]+)*$' || true)
case $arch in
armhf)
	[ -z "$libs" ] || fail "armhf package ships shared libraries: $libs"
	file "$tmp/usr/bin/faceagent" | grep -q 'statically linked' ||
		fail "armhf faceagent is not statically linked: $(file "$tmp/usr/bin/faceagent")"
	;;
*)
	for l in $libs; do
		[ "$l" = "./usr/share/faceverify/models/lib/linux-$arch/libonnxruntime.so.1" ] || fail "unexpected shared library $l"
	done
	;;
esac
if command -v systemd-analyze >/dev/null; then
	# verify needs ExecStart to exist: point it at the unpacked binary.
	mkdir "$tmp/unit"
	sed "s#^ExecStart=/usr/bin/faceagent #ExecStart=$tmp/usr/bin/faceagent #" \
		"$tmp/usr/lib/systemd/system/faceagent.service" >"$tmp/unit/faceagent.service"
	out=$(systemd-analyze verify --man=no "$tmp/unit/faceagent.service" 2>&1 || true)
	[ -z "$out" ] || fail "systemd-analyze verify: $out"
fi
echo "check-deb: OK $deb ($arch, $(du -k "$deb" | cut -f1) KiB)"

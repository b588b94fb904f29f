#!/usr/bin/env bash
# Real-kernel device test (`make test-kernel`).
#
# Boots Debian's stock amd64 kernel under qemu-system-x86_64 (software
# emulation, or KVM when usable) from an initramfs holding busybox, the
# vivid and gpio-sim modules and the static device-test binary
# (test/kernel/devicetest), which drives the agent's V4L2 capture (also
# through a camera unplug and replug) and GPIO LED code against those
# drivers. Prints a PASS/FAIL summary with the boot time, the frame rate
# and unplug timings measured inside and the wall time; exits non-zero if
# any test in the binary did not pass inside or the VM timed out.
#
# The kernel and its modules come from the archive's linux-image-amd64
# (resolved at run time with apt-cache, downloaded with apt-get download
# and unpacked, never installed). gpio-sim is not built into that package:
# it is built out of tree from the same version's linux-source package
# against the matching linux-headers package. Downloads and builds are
# cached in $FACEVERIFY_KERNEL_CACHE (default ~/.cache/faceverify-kernel).
#
# Outside CI (CI unset) a missing tool or package skips the test with a
# message naming the package; in CI it is an error.
#
# Environment: GO (go), FACEVERIFY_KERNEL_CACHE, FACEVERIFY_KERNEL_TIMEOUT
# (seconds for the VM, default 300), FACEVERIFY_KERNEL_VERSION (e.g.
# 6.1.0-57-amd64; default: what linux-image-amd64 depends on),
# FACEVERIFY_KERNEL_KEEP=1 keeps the work directory.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cache=${FACEVERIFY_KERNEL_CACHE:-$HOME/.cache/faceverify-kernel}
vm_timeout=${FACEVERIFY_KERNEL_TIMEOUT:-300}
GO=${GO:-go}
t_start=$EPOCHREALTIME

say() { echo "test-kernel: $*"; }
skip_or_fail() {
	if [ -n "${CI:-}" ]; then
		say "FAIL: $*" >&2
		exit 1
	fi
	say "SKIP: $*"
	exit 0
}
die() {
	say "FAIL: $*" >&2
	exit 1
}
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

# Tools, each with the Debian package that provides it.
for pair in qemu-system-x86_64:qemu-system-x86 busybox:busybox-static dpkg-deb:dpkg \
	apt-get:apt apt-cache:apt modinfo:kmod make:make gcc:gcc xz:xz-utils gzip:gzip; do
	command -v "${pair%%:*}" >/dev/null 2>&1 || skip_or_fail "needs ${pair%%:*} (Debian package ${pair#*:})"
done
busybox_bin=$(command -v busybox)
file -L "$busybox_bin" 2>/dev/null | grep -q 'statically linked' ||
	skip_or_fail "$busybox_bin is not static (Debian package busybox-static)"
command -v "$GO" >/dev/null 2>&1 || skip_or_fail "needs the Go toolchain ($GO)"

# Kernel version: what the archive's linux-image-amd64 depends on.
kver=${FACEVERIFY_KERNEL_VERSION:-$(apt-cache depends linux-image-amd64 2>/dev/null |
	awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { sub(/^linux-image-/, "", $2); print $2; exit }' || true)}
[ -n "$kver" ] || skip_or_fail "cannot resolve linux-image-amd64 in the package archive (run apt-get update)"
pkgver=$(apt-cache show "linux-image-$kver" 2>/dev/null | awk '/^Version:/ { print $2; exit }' || true)
[ -n "$pkgver" ] || skip_or_fail "package linux-image-$kver not in the archive (run apt-get update)"
series=$(echo "$kver" | cut -d. -f1-2) # 6.1
headers=/usr/src/linux-headers-$kver
[ -f "$headers/Makefile" ] || skip_or_fail "needs package linux-headers-$kver (headers for building gpio-sim)"
say "kernel $kver (package $pkgver)"

kcache=$cache/$kver-$pkgver
mkdir -p "$cache/debs" "$kcache"

# fetch PKG: the .deb of PKG at $pkgver, downloaded once into the cache.
fetch() {
	local pkg=$1 deb
	deb=$(ls "$cache/debs/${pkg}_${pkgver}_"*.deb 2>/dev/null | head -n1 || true)
	if [ -z "$deb" ]; then
		say "downloading $pkg=$pkgver" >&2
		(cd "$cache/debs" && apt-get download -q "$pkg=$pkgver" >&2) ||
			skip_or_fail "cannot download $pkg=$pkgver (package $pkg)"
		deb=$(ls "$cache/debs/${pkg}_${pkgver}_"*.deb | head -n1)
	fi
	echo "$deb"
}

# Kernel image and modules, unpacked (not installed).
if [ ! -f "$kcache/image.ok" ]; then
	deb=$(fetch "linux-image-$kver")
	rm -rf "$kcache/image"
	dpkg-deb -x "$deb" "$kcache/image"
	touch "$kcache/image.ok"
fi
vmlinuz=$kcache/image/boot/vmlinuz-$kver
moddir=$kcache/image/lib/modules/$kver
[ -f "$vmlinuz" ] || die "no $vmlinuz in linux-image-$kver"
vivid_ko=$(find "$moddir/kernel" -name vivid.ko | head -n1)
[ -n "$vivid_ko" ] || die "linux-image-$kver has no vivid module"

# gpio-sim, built out of tree from the same version's sources. Its
# interrupt simulator (irq_sim.c) is built in too: the kernel does not
# have CONFIG_IRQ_SIM, and irq_to_desc is not exported to modules, so
# irq_sim's one call through it goes through generic_handle_irq instead
# (the same handler, handle_simple_irq, set when the interrupt is mapped).
gpiosim=$kcache/gpio-sim/gpio-sim.ko
if [ ! -f "$gpiosim" ]; then
	srcdeb=$(fetch "linux-source-$series")
	src=$kcache/gpio-sim
	rm -rf "$src" && mkdir -p "$src"
	say "extracting gpio-sim sources from linux-source-$series"
	dpkg-deb --fsys-tarfile "$srcdeb" | tar -xO "./usr/src/linux-source-$series.tar.xz" |
		tar -xJ -C "$src" --strip-components=1 \
			"linux-source-$series/drivers/gpio/gpio-sim.c" \
			"linux-source-$series/drivers/gpio/gpiolib.h" \
			"linux-source-$series/kernel/irq/irq_sim.c"
	cp "$src/drivers/gpio/gpio-sim.c" "$src/gpio-sim-core.c"
	cp "$src/drivers/gpio/gpiolib.h" "$src/gpiolib.h"
	grep -q 'handle_simple_irq(irq_to_desc(irqnum))' "$src/kernel/irq/irq_sim.c" ||
		die "irq_sim.c of $series changed: the irq_to_desc call to replace is gone"
	sed 's/handle_simple_irq(irq_to_desc(irqnum))/generic_handle_irq(irqnum)/' \
		"$src/kernel/irq/irq_sim.c" >"$src/irq_sim.c"
	printf 'obj-m := gpio-sim.o\ngpio-sim-y := gpio-sim-core.o irq_sim.o\n' >"$src/Kbuild"
	say "building gpio-sim.ko against $headers"
	make -s -C "$headers" M="$src" modules >"$src/build.log" 2>&1 || {
		cat "$src/build.log" >&2
		die "gpio-sim build failed"
	}
	grep -q 'WARNING: modpost: .*undefined' "$src/build.log" && {
		cat "$src/build.log" >&2
		die "gpio-sim.ko has undefined symbols"
	}
	[ -f "$gpiosim" ] || die "gpio-sim build made no gpio-sim.ko"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/faceverify-kernel.XXXXXX")
if [ "${FACEVERIFY_KERNEL_KEEP:-}" = 1 ]; then
	say "work directory $work (kept)"
else
	trap 'rm -rf "$work"' EXIT
fi
root=$work/root
mkdir -p "$root"/{bin,dev,proc,sys,tmp,etc/faceverify,lib/modules/$kver/extra}

# Static device-test binary.
say "building the device test (static)"
(cd "$repo" && CGO_ENABLED=0 "$GO" test -c -trimpath -ldflags '-s -w' \
	-o "$root/bin/devicetest" ./test/kernel/devicetest) || die "device test build failed"
# Every test it holds must pass inside the VM (a skip there is a setup fault).
required_tests=$("$root/bin/devicetest" -test.list '.*' | grep '^Test' || true)
[ -n "$required_tests" ] || die "the device test binary lists no tests"

# busybox as every tool.
cp "$busybox_bin" "$root/bin/busybox"
for applet in $("$busybox_bin" --list); do
	[ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
done
install -m 0755 "$repo/test/kernel/init" "$root/init"

# Modules: vivid and configfs with everything they depend on, and gpio-sim.
declare -A kopath=()
while IFS= read -r ko; do
	name=$(basename "$ko" .ko)
	kopath[${name//_/-}]=$ko
done < <(find "$moddir/kernel" -name '*.ko')
declare -A have=()
order=()
addmod() { # depth first: dependencies before the module
	local name=${1//_/-} ko dep
	[ -n "${have[$name]:-}" ] && return 0
	have[$name]=1
	ko=${kopath[$name]:-}
	[ -n "$ko" ] || die "module $name not in linux-image-$kver"
	for dep in $(modinfo -F depends "$ko" | tr ',' ' '); do
		addmod "$dep"
	done
	mkdir -p "$root/lib/modules/$kver/$(dirname "${ko#"$moddir"/}")"
	cp "$ko" "$root/lib/modules/$kver/${ko#"$moddir"/}"
	order+=("$name")
}
addmod configfs
addmod vivid
for dep in $(modinfo -F depends "$gpiosim" | tr ',' ' '); do addmod "$dep"; done
cp "$gpiosim" "$root/lib/modules/$kver/extra/"
"$busybox_bin" depmod -b "$root" "$kver" || die "busybox depmod failed"
say "modules: ${order[*]} gpio-sim"

# The agent config the kiosk would use; the LED line names come from it.
cp "$repo/config.toml" "$root/etc/faceverify/agent.toml"
led_name() {
	awk -v key="$1" '/^\[/ { t = $0 } t == "[led]" && $1 == key { gsub(/"/, "", $3); print $3 }' "$repo/config.toml"
}
led_green=$(led_name green)
led_red=$(led_name red)
[ -n "$led_green" ] && [ -n "$led_red" ] || die "config.toml [led] names no green/red line"
cat >"$root/etc/faceverify/test.env" <<ENV
LED_GREEN=$led_green
LED_RED=$led_red
LED_BLUE=GPIO22
ENV

(cd "$root" && find . | "$busybox_bin" cpio -o -H newc 2>/dev/null) | gzip -1 >"$work/initramfs.gz"
say "initramfs $(du -k "$work/initramfs.gz" | cut -f1) KiB"

accel=tcg
if [ -w /dev/kvm ] && grep -qE '\b(vmx|svm)\b' /proc/cpuinfo; then
	accel=kvm
fi
say "booting (accel=$accel, timeout ${vm_timeout}s)"
log=$work/console.log
t_boot=$EPOCHREALTIME
set +e
timeout --kill-after=10 "$vm_timeout" qemu-system-x86_64 \
	-nographic -monitor none -no-reboot \
	-accel "$accel" -cpu max -smp 2 -m 768M \
	-kernel "$vmlinuz" -initrd "$work/initramfs.gz" \
	-append "console=ttyS0 panic=-1 loglevel=4" </dev/null 2>&1 |
	while IFS= read -r line; do
		line=${line%$'\r'}
		printf '%s\n' "$line" >>"$log"
		case $line in
		*"FVKT: init "*) printf 'init_host_s=%s\n' "$(elapsed "$t_boot" "$EPOCHREALTIME")" >>"$work/times" ;;
		esac
		printf '  vm| %s\n' "$line"
	done
qemu_rc=${PIPESTATUS[0]}
set -e
t_end=$EPOCHREALTIME

# Firmware escape sequences may precede the first line of init's output.
result=$(grep -a -m1 -o 'FVKT-RESULT: [A-Z]*' "$log" | awk '{ print $2 }' || true)
init_guest=$(grep -a -m1 'FVKT: init ' "$log" | sed -n 's/.*uptime=\([0-9.]*\).*/\1/p' || true)
init_host=$(sed -n 's/^init_host_s=//p' "$work/times" 2>/dev/null | head -n1 || true)
fps=$(grep -a -m1 '^METRIC capture_fps=' "$log" | sed 's/^METRIC //' || true)
selftest=$(grep -a -m1 '^METRIC selftest_fps=' "$log" | sed 's/^METRIC //' || true)
vivid_default=$(grep -a -m1 '^METRIC vivid_default_fps=' "$log" | sed 's/^METRIC //' || true)
unplug=$(grep -a -m1 '^METRIC unplug_lost_ms=' "$log" | sed 's/^METRIC //' || true)
passed=$(grep -a -c '^--- PASS: ' "$log" || true)
failed=$(grep -a -c '^--- FAIL: ' "$log" || true)
skipped=$(grep -a -c '^--- SKIP: ' "$log" || true)

echo
say "summary"
grep -a -E '^(--- (PASS|FAIL|SKIP)|    --- (PASS|FAIL|SKIP))' "$log" | sed 's/^/  /' || true
echo "  kernel:        $kver (accel $accel)"
echo "  boot to init:  ${init_guest:-?} s kernel uptime, ${init_host:-?} s wall"
echo "  capture:       ${fps:-none} (${vivid_default:-})"
echo "  self-test:     ${selftest:-none}"
echo "  unplug:        ${unplug:-none}"
echo "  VM wall time:  $(elapsed "$t_boot" "$t_end") s; total with builds: $(elapsed "$t_start" "$t_end") s"
if [ "$qemu_rc" -eq 124 ] || [ "$qemu_rc" -eq 137 ]; then
	die "the VM did not finish within ${vm_timeout}s"
fi
if [ "$result" != PASS ]; then
	die "device tests inside the VM: ${result:-no result line} (qemu exit $qemu_rc); $passed passed, $failed failed"
fi
if [ "$passed" -eq 0 ]; then
	die "no device test ran inside the VM"
fi
for name in $required_tests; do
	grep -a -q "^--- PASS: $name " "$log" || die "device test $name did not pass inside the VM"
done
say "PASS"
echo "test-kernel: $passed passed, $failed failed, $skipped skipped"

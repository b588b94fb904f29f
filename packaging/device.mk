# Device targets: cross-builds, install, .deb and the real-kernel device
# test. Included from the top-level Makefile.

PREFIX ?= /usr/local
# A system service: configuration in /etc whatever the prefix.
SYSCONFDIR ?= /etc
LOCALSTATEDIR ?= /var
BINDIR ?= $(PREFIX)/bin
UNITDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
# udev reads rules only from /usr/lib and /etc.
UDEVRULESDIR ?= $(if $(filter /usr,$(PREFIX)),/usr/lib/udev/rules.d,$(SYSCONFDIR)/udev/rules.d)
MODELSDIR ?= $(PREFIX)/share/faceverify/models
STATEDIR := $(LOCALSTATEDIR)/lib/faceverify
# The binary `install` and `deb` package: native by default; the
# cross-built one with DEB_ARCH=arm64 or DEB_ARCH=armhf.
DEB_ARCH ?= $(shell dpkg --print-architecture 2>/dev/null || echo amd64)
AGENT_BIN_amd64 := $(BIN)/faceagent
AGENT_BIN_arm64 := $(BIN)/linux-arm64/faceagent
AGENT_BIN_armhf := $(BIN)/linux-armv7/faceagent
AGENT_BIN ?= $(AGENT_BIN_$(DEB_ARCH))
ORT_DIR_amd64 := lib/linux-amd64
ORT_DIR_arm64 := lib/linux-arm64
DEB_VERSION ?= 0.0~git$(subst -,.,$(VERSION))
DEB := $(BIN)/faceverify-agent_$(DEB_VERSION)_$(DEB_ARCH).deb

.PHONY: build-arm64 build-armv7 check-cross install deb deb-check test-kernel

build-arm64: ## cross-build faceagent for linux/arm64 (cgo, gcc-aarch64-linux-gnu) into bin/linux-arm64/
	@command -v aarch64-linux-gnu-gcc >/dev/null || { echo "build-arm64 needs aarch64-linux-gnu-gcc (Debian package gcc-aarch64-linux-gnu)"; exit 1; }
	@mkdir -p $(BIN)/linux-arm64
	CC=aarch64-linux-gnu-gcc CGO_ENABLED=1 GOOS=linux GOARCH=arm64 \
		$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/linux-arm64/ ./cmd/faceagent

build-armv7: ## cross-build faceagent for linux/arm GOARM=7 (no cgo: the pure-Go inference engine, no ONNX Runtime exists for armv7) into bin/linux-armv7/
	@mkdir -p $(BIN)/linux-armv7
	CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=7 \
		$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/linux-armv7/ ./cmd/faceagent

$(BIN)/faceagent: FORCE
	@mkdir -p $(BIN)
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/faceagent
$(BIN)/linux-arm64/faceagent: FORCE
	$(MAKE) build-arm64
$(BIN)/linux-armv7/faceagent: FORCE
	$(MAKE) build-armv7
.PHONY: FORCE
FORCE:

install: $(AGENT_BIN) ## install faceagent, its systemd unit, /etc/faceverify/agent.toml, models, state dir (DESTDIR, PREFIX=/usr/local)
	install -D -m 0755 $(AGENT_BIN) $(DESTDIR)$(BINDIR)/faceagent
	install -d -m 0755 $(DESTDIR)$(UNITDIR)
	sed -e 's#/usr/bin/faceagent#$(BINDIR)/faceagent#' -e 's#/etc/faceverify/#$(SYSCONFDIR)/faceverify/#g' \
		-e 's#/var/lib/faceverify#$(STATEDIR)#g' systemd/faceagent.service >$(DESTDIR)$(UNITDIR)/faceagent.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/faceagent.service
	install -D -m 0644 packaging/sysusers.d/faceverify.conf $(DESTDIR)$(SYSUSERSDIR)/faceverify.conf
	install -D -m 0644 packaging/udev/60-faceverify-gpio.rules $(DESTDIR)$(UDEVRULESDIR)/60-faceverify-gpio.rules
	install -d -m 0755 $(DESTDIR)$(SYSCONFDIR)/faceverify
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/faceverify/agent.toml ]; then \
		echo "keeping $(DESTDIR)$(SYSCONFDIR)/faceverify/agent.toml"; \
	else \
		sed -e 's#^models_dir = .*#models_dir = "$(MODELSDIR)"#' config.toml >$(DESTDIR)$(SYSCONFDIR)/faceverify/agent.toml; \
		chmod 0640 $(DESTDIR)$(SYSCONFDIR)/faceverify/agent.toml; \
	fi
	install -d -m 0700 $(DESTDIR)$(STATEDIR)
	install -d -m 0755 $(DESTDIR)$(MODELSDIR)
	@set -e; for f in $(MODELS_DIR)/*.onnx $(MODELS_DIR)/LICENSE.*; do \
		[ -e "$$f" ] || { echo "note: $$f absent (run make models): no models installed"; continue; }; \
		install -m 0644 "$$f" $(DESTDIR)$(MODELSDIR)/; \
	done
	@set -e; ort='$(ORT_DIR_$(DEB_ARCH))'; \
	if [ -z "$$ort" ]; then echo "note: no ONNX Runtime for $(DEB_ARCH): none installed, the agent runs the pure-Go inference engine"; \
	elif [ -e $(MODELS_DIR)/$$ort/libonnxruntime.so.1 ]; then \
		install -D -m 0644 $(MODELS_DIR)/$$ort/libonnxruntime.so.1 $(DESTDIR)$(MODELSDIR)/$$ort/libonnxruntime.so.1; \
	else echo "note: $(MODELS_DIR)/$$ort/libonnxruntime.so.1 absent (run make models)"; fi
	@if [ -z "$(DESTDIR)" ]; then echo "next: systemd-sysusers; udevadm control --reload-rules; udevadm trigger; systemctl daemon-reload; systemctl enable --now faceagent"; fi

deb: models ## build bin/faceverify-agent_<version>_<arch>.deb with dpkg-deb (DEB_ARCH=amd64|arm64|armhf)
	@command -v dpkg-deb >/dev/null || { echo "deb needs dpkg-deb (Debian package dpkg)"; exit 1; }
	rm -rf $(BIN)/deb-root && mkdir -p $(BIN)/deb-root/DEBIAN
	$(MAKE) --no-print-directory install DESTDIR=$(CURDIR)/$(BIN)/deb-root PREFIX=/usr SYSCONFDIR=/etc LOCALSTATEDIR=/var DEB_ARCH=$(DEB_ARCH)
	install -m 0755 packaging/deb/postinst packaging/deb/prerm packaging/deb/postrm $(BIN)/deb-root/DEBIAN/
	echo /etc/faceverify/agent.toml >$(BIN)/deb-root/DEBIAN/conffiles
	sed -e 's/@VERSION@/$(DEB_VERSION)/' -e 's/@ARCH@/$(DEB_ARCH)/' \
		-e "s/@SIZE@/$$(du -sk --exclude=DEBIAN $(BIN)/deb-root | cut -f1)/" packaging/deb/control.in >$(BIN)/deb-root/DEBIAN/control
	dpkg-deb --root-owner-group -Zxz --build $(BIN)/deb-root $(DEB)
	rm -rf $(BIN)/deb-root

deb-check: deb ## build the .deb and check its contents and metadata
	packaging/check-deb.sh $(DEB)

test-kernel: ## device test in a VM: Debian kernel + vivid + gpio-sim under qemu (skips outside CI when packages are missing)
	GO=$(GO) test/kernel/run.sh

check-cross: models build build-arm64 build-armv7 ## cross-build and check the arm64/armv7 agents (`file`, runs under qemu-user when installed: inspect, one verification end to end with the armv7 agent, the armhf .deb)
	packaging/check-cross.sh $(BIN)
	packaging/check-agent-qemu.sh $(BIN)
	$(MAKE) --no-print-directory deb-check DEB_ARCH=armhf

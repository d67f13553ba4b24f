# SPDX-License-Identifier: Apache-2.0
# `make vmtest`: kspan on a second kernel. Debian's 6.1 cloud kernel boots
# under qemu in software emulation (TCG) with an initramfs of busybox, kspan
# and its libraries (tests/vm/run_vm.py builds it); the guest runs
# `kspan probe --verify` and one HTTP end-to-end per socket hook. About 20 s,
# so `make test` runs it too (tests/e2e/test_vm.py). See docs/vmtest.md.

VM_DIR := $(OUTPUT)/vm
# The kernel package: by default whatever the bookworm meta-package
# linux-image-cloud-amd64 points at (linux-image-6.1.0-N-cloud-amd64).
VM_KERNEL_META ?= linux-image-cloud-amd64
VM_KERNEL_PKG ?=
VM_DEB_PKGS := qemu-system-x86 busybox-static
DEB_PKGS += $(VM_DEB_PKGS)
VMTEST_ARGS ?=

.PHONY: vmtest vm-kernel vm-deps

vm-deps:
	@if ! dpkg -s $(VM_DEB_PKGS) >/dev/null 2>&1; then \
		apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(VM_DEB_PKGS); \
	fi

# The package name, then `apt-get download` (into the current directory; the
# kernel is never installed on the host). A stale package list may name a
# version the mirror no longer has: then update once and retry.
vm_kernel_fetch = pkg='$(VM_KERNEL_PKG)'; \
	if [ -z "$$pkg" ]; then pkg=$$(apt-cache depends $(VM_KERNEL_META) 2>/dev/null | \
		awk '/Depends: linux-image-[0-9]/ { print $$2; exit }'); fi; \
	[ -n "$$pkg" ] && apt-get download -qq -o APT::Sandbox::User=root "$$pkg"

vm-kernel: $(VM_DIR)/vmlinuz

$(VM_DIR)/vmlinuz:
	$(call msg,FETCH,$@)
	$(Q)mkdir -p $(VM_DIR)
	$(Q)t=$$(mktemp -d $(CURDIR)/$(VM_DIR)/fetch.XXXXXX) && cd $$t && \
	{ ( $(vm_kernel_fetch) ) || { apt-get update -qq && ( $(vm_kernel_fetch) ); }; } && \
	dpkg-deb -x linux-image-*.deb root && \
	cp root/boot/vmlinuz-* ../vmlinuz.tmp && \
	ls linux-image-*.deb > ../vmlinuz.pkg && \
	cd .. && rm -rf $$t && mv vmlinuz.tmp vmlinuz || { rm -rf $$t; exit 1; }

vmtest: $(OUTPUT)/kspan $(VM_DIR)/vmlinuz | vm-deps
	$(Q)$(PYTHON) tests/vm/run_vm.py $(VMTEST_ARGS)

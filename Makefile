# toa — every routine action has a target. `make test` is what CI runs.
SHELL := /bin/bash
FUZZ_SECONDS ?= 60
KERNELS ?= 5.10 6.1 6.12 7
DEMO_KERNEL ?= 7
CACHE ?= $(CURDIR)/.cache
BUILD := $(CURDIR)/build
export CACHE BUILD

.PHONY: all deps build image lint typecheck test test-host fuzz lab demo bench clean manifests prebuilt vagrant-validate dkms-install dkms-uninstall

all: build

deps:
	test/deps.sh

# The addon too: lab guests share the host's root read-only, so it must be built here.
build: deps
	npm run build
	npm run build:native
	$(MAKE) -C test/c BUILD=$(BUILD)/c

# The agent's container image, engine-free (image/build.sh): $(BUILD)/image/toa-agent.oci.tar and
# the rootfs the lab's pod test runs, with a prebuilt toa.ko for each lab kernel. The base rootfs is
# cached in $(CACHE)/image.
image: build prebuilt
	image/build.sh

lint: deps
	npx biome check .
	test/checkpatch.sh

typecheck: deps
	npm run typecheck

test: build image
	npx tsx test/run.ts --fuzz-seconds $(FUZZ_SECONDS) --kernels "$(KERNELS)"

test-host: build
	npx tsx test/run.ts --host-only

fuzz: deps
	$(MAKE) -C test/c BUILD=$(BUILD)/c fuzz FUZZ_SECONDS=$(FUZZ_SECONDS)

lab: build image
	npx tsx test/run.ts --kernels "$(KERNELS)" --lab-only

bench: build
	for k in $(KERNELS); do test/vm/boot.sh $$k sh -c 'node --import tsx test/bench/getpeername.ts && node --import tsx test/bench/accepts.ts && node --import tsx test/bench/agent.ts' || exit 1; done
	npx tsx test/bench/inspect.ts
	npx tsx test/bench/binding.ts
	for k in $(KERNELS); do test/vm/boot.sh $$k env BENCH_ITERS=50000 node --import tsx test/bench/binding.ts --guest || exit 1; done

# Single-threaded TCG like the test runner: kprobe arm/disarm under multi-threaded TCG is unsafe.
demo: build
	LAB_ACCEL=$${LAB_ACCEL:-tcg,thread=single} test/vm/boot.sh $(DEMO_KERNEL) node dist/src/lab/demo.js

# toa.ko for each lab kernel as build/prebuilt/RELEASE/toa.ko: what the agent image ships (the
# agent's --prebuilt-dir) so that nodes on these kernels need no headers.
prebuilt:
	for k in $(KERNELS); do \
	  release=$$(test/vm/kernel.sh $$k) && ko=$$(test/vm/build-kmod.sh $$k) || exit 1; \
	  mkdir -p $(BUILD)/prebuilt/$$release && cp $$ko $(BUILD)/prebuilt/$$release/toa.ko || exit 1; \
	  echo "$(BUILD)/prebuilt/$$release/toa.ko"; \
	done

# deploy/*.yaml from src/k8s (a host test fails when they drift from the code).
manifests:
	npx tsx src/k8s/deploy.ts

# The multi-VM lab's Vagrantfile and provisioning scripts, checked without a hypervisor.
vagrant-validate:
	cd vagrant && vagrant validate --ignore-provider
	shellcheck vagrant/*.sh

clean:
	rm -rf $(BUILD) dist

# DKMS rebuilds toa.ko for each kernel the package manager installs (kmod/dkms.conf). Run as root.
DKMS_VERSION := $(shell sed -n 's/^PACKAGE_VERSION="\(.*\)"$$/\1/p' kmod/dkms.conf)
DKMS_SRC := /usr/src/toa-$(DKMS_VERSION)

dkms-install:
	@command -v dkms >/dev/null || { echo 'dkms not found: apt-get install dkms (Debian/Ubuntu) or dnf install dkms (RHEL family, from EPEL)' >&2; exit 1; }
	rm -rf $(DKMS_SRC) && mkdir -p $(DKMS_SRC)
	cp -r kmod/. $(DKMS_SRC)/
	dkms status -m toa -v $(DKMS_VERSION) | grep -q . || dkms add -m toa -v $(DKMS_VERSION)
	dkms build -m toa -v $(DKMS_VERSION)
	dkms install -m toa -v $(DKMS_VERSION) --force

dkms-uninstall:
	dkms remove -m toa -v $(DKMS_VERSION) --all
	rm -rf $(DKMS_SRC)

# ftzgate: a thin wrapper around CMake. `make demo` and `make test` install
# missing Debian packages first (scripts/install-deps, needs root).
JOBS ?= 2
BUILD ?= build
GENERATOR := $(shell command -v ninja >/dev/null 2>&1 && echo Ninja || echo "Unix Makefiles")
FUZZ_SECONDS ?= 20
DEMO_DIR := $(BUILD)/demo
DEMO_PCAP := $(DEMO_DIR)/lingang-demo.pcap

# Warnings as errors (FTZ_WERROR) in the main build: off for users, on in CI
# (.ci/run) and for developers (`make test WERROR=ON`, or export it). The
# developer-only targets asan and fuzz always turn it on.
WERROR ?= OFF
# The main build uses Debian's default and hardening flags, as a package
# build does (dpkg-buildflags with hardening=+all: _FORTIFY_SOURCE=2, stack
# protector, -Werror=format-security, full RELRO, bind now), so what CI tests
# is what a packager builds. HARDEN=OFF builds with CMake's flags only.
HARDEN ?= ON
DPKG_FLAGS := DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --get
ifeq ($(HARDEN),ON)
# Expanded by the shell when the recipe runs (after `deps` installed dpkg-dev).
# CMake reads no CPPFLAGS: they go with the compiler flags, as debhelper does.
FLAG_ARGS = -DCMAKE_C_FLAGS="$$($(DPKG_FLAGS) CFLAGS) $$($(DPKG_FLAGS) CPPFLAGS)" \
  -DCMAKE_CXX_FLAGS="$$($(DPKG_FLAGS) CXXFLAGS) $$($(DPKG_FLAGS) CPPFLAGS)" \
  -DCMAKE_EXE_LINKER_FLAGS="$$($(DPKG_FLAGS) LDFLAGS)" \
  -DCMAKE_SHARED_LINKER_FLAGS="$$($(DPKG_FLAGS) LDFLAGS)"
else
FLAG_ARGS = -DCMAKE_C_FLAGS= -DCMAKE_CXX_FLAGS= -DCMAKE_EXE_LINKER_FLAGS= -DCMAKE_SHARED_LINKER_FLAGS=
endif

.PHONY: all deps configure build demo test sanitize-build asan fuzz bench format format-check tidy clean package package-test image image-test

all: build

deps:
	@scripts/install-deps

configure: deps
	@cmake -S . -B $(BUILD) -G "$(GENERATOR)" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFTZ_WERROR=$(WERROR) \
	  $(FLAG_ARGS) >/dev/null

build: configure
	@cmake --build $(BUILD) -j $(JOBS)

# The main job on the embedded default: the generated Lin-gang capture through
# the DPDK fast path (net_pcap ports, no NIC, no hugepages) with the example
# configuration; the report on standard output, one pcap per port role.
demo: build
	@mkdir -p $(DEMO_DIR)
	@$(BUILD)/bin/ftzgate-gen scenario --out $(DEMO_PCAP)
	@$(BUILD)/bin/ftzgate-dp --config examples/lingang.yaml --demo-token-key --pcap-in $(DEMO_PCAP) \
	  --pcap-out $(DEMO_DIR)/ports --eve $(DEMO_DIR)/eve.json --stats $(DEMO_DIR)/stats.json \
	  -- --log-level='*:warning'
	@echo "events: $(DEMO_DIR)/eve.json  statistics: $(DEMO_DIR)/stats.json  transmitted per port role: $(DEMO_DIR)/ports/"

test: build
	@ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

# The sanitizer build (build-fuzz/: clang-14, the engine, config, capture,
# report and controller libraries with ASan and fatal UBSan) serves both
# developer targets: `asan` runs its unit tests, `fuzz` its libFuzzer targets.
# CI runs both and compiles the libraries once.
SAN_BUILD := build-fuzz
# What OSS-Fuzz compiles with: -O1 keeps the sanitizers' reports exact and
# fuzzing fast, line tables are all a stack trace needs.
SAN_OPT := -O1 -gline-tables-only -DNDEBUG
sanitize-build: deps
	@CC=clang-14 CXX=clang++-14 cmake -S . -B $(SAN_BUILD) -G "$(GENERATOR)" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCMAKE_C_FLAGS_RELWITHDEBINFO="$(SAN_OPT)" -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="$(SAN_OPT)" \
	  -DFTZ_CORE_ONLY=ON -DFTZ_FUZZ=ON -DFTZ_BENCH=OFF -DFTZ_WERROR=ON >/dev/null
	@cmake --build $(SAN_BUILD) -j $(JOBS)

asan: sanitize-build
	@ctest --test-dir $(SAN_BUILD) --output-on-failure -j $(JOBS) -L unit

# Each libFuzzer target runs for FUZZ_SECONDS on its seed corpus;
# FUZZ_TARGETS="fuzz_a fuzz_b" runs only those. What a failing target
# reported, and its input, stay in build-fuzz/fuzz-findings/.
FUZZ_TARGETS ?=
fuzz: sanitize-build
	@scripts/run-fuzzers $(SAN_BUILD)/bin $(FUZZ_SECONDS) $(FUZZ_TARGETS)

bench: build
	@scripts/run-benchmarks $(BUILD)

# STYLE.md: one layout (.clang-format) and the checks of .clang-tidy, both
# run by CI (.ci/run). `format` rewrites, `format-check` only reports.
FORMAT_FILES = git ls-files '*.cpp' '*.hpp' '*.c' '*.h'
format:
	@$(FORMAT_FILES) | xargs clang-format -i

format-check: deps
	@$(FORMAT_FILES) | xargs clang-format --dry-run -Werror

# Product code only (dataplane/, controlplane/, drivers/, mgmt/); any warning fails
# (.clang-tidy: WarningsAsErrors).
tidy: build
	@run-clang-tidy -p $(BUILD) -j $(JOBS) -quiet \
	  $$(git ls-files 'dataplane/*.cpp' 'controlplane/*.cpp' 'drivers/*.cpp' 'mgmt/*.cpp' | sed 's|^|$(CURDIR)/|') \
	  >$(BUILD)/tidy.log 2>&1 || { grep -E 'warning:|error:' $(BUILD)/tidy.log | sort -u; exit 1; }

# Debian packages (debian/, docs/install.md) into $(BUILD)/packages/, built by
# dpkg-buildpackage in a copy of the tree under $(BUILD)/package/ whose
# compiled objects are kept between runs, then checked by lintian.
# DEB_VERSION=V builds them as version V (an upgrade to test); VENDOR_KEY=F
# signs the built-in signature pack with the vendor's key.
PKG_DIR := $(BUILD)/package
PKG_SRC := $(PKG_DIR)/ftzgate
DEB_VERSION ?=
VENDOR_KEY ?=
package: deps
	@mkdir -p $(PKG_SRC) $(BUILD)/packages
	@find $(PKG_SRC) -mindepth 1 -maxdepth 1 ! -name 'obj-*' -exec rm -rf {} +
	@tar --exclude=./.git --exclude='./build' --exclude='./build-*' -cf - . | tar -C $(PKG_SRC) -xf -
	@if [ -n "$(DEB_VERSION)" ]; then scripts/package-version $(PKG_SRC)/debian/changelog "$(DEB_VERSION)"; fi
	@rm -f $(PKG_DIR)/*.deb $(PKG_DIR)/*.changes $(PKG_DIR)/*.buildinfo
	@cd $(PKG_SRC) && VENDOR_KEY="$(abspath $(VENDOR_KEY))" dpkg-buildpackage -b -us -uc -nc -j$(JOBS) >../build.log 2>&1 \
	  || { tail -40 ../build.log; echo "package: dpkg-buildpackage failed: $(PKG_DIR)/build.log"; exit 1; }
	@lintian --fail-on error,warning $(PKG_DIR)/*.changes
	@rm -f $(BUILD)/packages/*.deb $(BUILD)/packages/*.changes && cp $(PKG_DIR)/*.deb $(PKG_DIR)/*.changes $(BUILD)/packages/
	@ls -1 $(BUILD)/packages/*.deb

# Installs the packages into a fresh Debian 12 root (mmdebstrap), runs them,
# upgrades them to a rebuild of the same tree as a newer version, removes
# and purges (tests/package/install-test; slow, it downloads the
# dependencies: not in CI).
package-test: build package
	@rm -rf $(BUILD)/packages-old && cp -r $(BUILD)/packages $(BUILD)/packages-old
	@$(MAKE) --no-print-directory package DEB_VERSION="$$(dpkg-parsechangelog -l debian/changelog -S Version)+upgrade1"
	@FTZ_BINARY_DIR=$(abspath $(BUILD)) tests/package/install-test $(BUILD)/packages-old $(BUILD)/packages

# The vendor's appliance image (images/build-image, docs/vendors.md):
# $(BUILD)/image/ftzgate-VERSION-VENDOR.img with its signed manifest.
# VENDOR_KEY=F signs the manifest; without it a development key does.
VENDOR ?= example
image: build package
	@FTZGATE_SIGN=$(abspath $(BUILD))/bin/ftzgate-sign VENDOR_KEY="$(abspath $(VENDOR_KEY))" images/build-image $(VENDOR) $(BUILD)/packages $(BUILD)/image

# Verifies the newest image, refuses a changed copy, boots it in QEMU (TCG):
# slow, not in CI. IMAGE_KEY: the public key the manifest was signed with
# (default: the development key the build wrote beside the image).
IMAGE_KEY ?=
image-test: image
	@img=$$(ls -t $(BUILD)/image/*.img | head -1); \
	  key="$(IMAGE_KEY)"; [ -n "$$key" ] || key=$${img%.img}.development.pub; \
	  FTZGATE_SIGN=$(abspath $(BUILD))/bin/ftzgate-sign tests/package/image-test "$$img" "$$key"

clean:
	@rm -rf $(BUILD) $(SAN_BUILD)

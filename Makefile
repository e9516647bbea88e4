# mabtwin — two commands:
#   make demo   build in release and run the main job on the embedded baseline scenario
#   make test   build and run every test (unit, property, golden, CLI end-to-end)
# Both do their own set-up: scripts/setup-libtorch.sh fetches libtorch 2.11.0 (PyPI torch
# wheel, pruned, cached in .libtorch/) when it is missing; it is idempotent.

CARGO ?= cargo
DEMO_OUT ?= runs/demo

.PHONY: demo test build setup bench clean-runs

setup:
	@bash scripts/setup-libtorch.sh

build: setup
	$(CARGO) build --release --locked --workspace

demo: build
	./target/release/mabtwin demo --out $(DEMO_OUT)

test: setup
	$(CARGO) build --release --locked --workspace
	$(CARGO) test --release --locked --workspace

bench: build
	@echo "see BENCHMARKS.md for the commands and figures"
	./target/release/mabtwin dataset --n-batches 200 --seed 1 --threads 1 --quiet --out target/bench-ds1
	./target/release/mabtwin dataset --n-batches 200 --seed 1 --threads 2 --quiet --out target/bench-ds2

clean-runs:
	rm -rf runs

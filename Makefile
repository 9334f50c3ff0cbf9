# certops.backend_tls — every target sets itself up first (hack/setup.sh is idempotent).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
VENV := $(CURDIR)/.venv
BIN := $(VENV)/bin
COLL_ROOT := $(CURDIR)/build/collections
COLL := $(COLL_ROOT)/ansible_collections/certops/backend_tls
SANITY := $(CURDIR)/build/sanity/ansible_collections/certops/backend_tls
export ANSIBLE_COLLECTIONS_PATH := $(COLL_ROOT)
export PATH := $(BIN):$(PATH)

.PHONY: test demo lab-up lab-status lab-down setup link lint sanity unit integration fuzz bench doc clean

test: setup lint doc sanity unit integration ## everything CI runs

demo: setup link ## the lab from DOWN to UP: diagnose, remediate, show the load balancer's view
	$(BIN)/python tests/lab/demo.py

lab-up: setup link
	$(BIN)/python tests/lab/lab.py up

lab-status: setup link
	$(BIN)/python tests/lab/lab.py status

lab-down: setup
	$(BIN)/python tests/lab/lab.py down

setup:
	@bash hack/setup.sh

link: ## the collection as Ansible finds it: build/collections/ansible_collections/certops/backend_tls -> .
	@mkdir -p $(dir $(COLL)) && ln -sfn $(CURDIR) $(COLL)

lint: setup link
	$(BIN)/ruff check .
	$(BIN)/ansible-lint --profile production --offline

doc: setup link
	@for m in $$(ls plugins/modules/*.py | xargs -n1 basename | sed 's/\.py$$//'); do \
	  $(BIN)/ansible-doc certops.backend_tls.$$m > /dev/null && echo "ansible-doc: module $$m ok" || exit 1; done
	@for f in json_query $$(ls plugins/filter/*.yml | xargs -n1 basename | sed 's/\.yml$$//'); do \
	  $(BIN)/ansible-doc -t filter certops.backend_tls.$$f > /dev/null && echo "ansible-doc: filter $$f ok" || exit 1; done
	@for t in $$(ls plugins/test/*.yml | xargs -n1 basename | sed 's/\.yml$$//'); do \
	  $(BIN)/ansible-doc -t test certops.backend_tls.$$t > /dev/null && echo "ansible-doc: test $$t ok" || exit 1; done
	$(BIN)/ansible-doc -t role certops.backend_tls.cert_remediation > /dev/null && echo "ansible-doc: role cert_remediation ok"

# ansible-test needs the collection at ansible_collections/<ns>/<name>, as real files.
sanity: setup
	rm -rf $(SANITY) && mkdir -p $(SANITY)
	git ls-files -z --cached --others --exclude-standard | tar --null --ignore-failed-read -T - -cf - 2>/dev/null | tar -xf - -C $(SANITY)
	# its own git repo: ansible-test lists files with git, and build/ is ignored in ours
	cd $(SANITY) && git init -q && git add -A && \
	  git -c user.name=sanity -c user.email=sanity@localhost commit -qm sanity
	# compile/import run on every pythonX.Y on PATH: .venv-targets/bin links the real 3.8-3.13
	# (hack/setup-targets.sh); pyenv's shims stay off PATH (they exist for versions that do not run).
	cd $(SANITY) && PATH=$(CURDIR)/.venv-targets/bin:$(BIN):/usr/local/bin:/usr/bin:/bin \
	  $(BIN)/ansible-test sanity --requirements --color no

unit: setup link ## unit tests and the bounded fuzz run (the same inputs every run, under a minute)
	$(BIN)/python -m pytest -q tests/unit tests/fuzz

integration: setup link
	$(BIN)/python -m pytest -q tests/integration

fuzz: setup link ## the long fuzz campaign: over 100,000 random inputs, about 20 minutes (docs/reliability.md)
	@mkdir -p build
	CERTOPS_FUZZ=long $(BIN)/python -m pytest -q tests/fuzz --hypothesis-show-statistics 2>&1 | tee build/fuzz.log
	@awk '/ passing, / {n += $$2; f += $$4} END {printf "fuzz: %d generated inputs passed, %d failed\n", n, f}' build/fuzz.log

bench: setup link
	$(BIN)/python tests/bench/run_bench.py

clean:
	rm -rf build tests/output

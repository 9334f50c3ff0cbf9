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

.PHONY: test setup link lint sanity unit integration bench doc clean

test: setup lint sanity unit integration ## everything CI runs

setup:
	@bash hack/setup.sh

link: ## the collection as Ansible finds it: build/collections/ansible_collections/certops/backend_tls -> .
	@mkdir -p $(dir $(COLL)) && ln -sfn $(CURDIR) $(COLL)

lint: setup link
	$(BIN)/ruff check .
	$(BIN)/ansible-lint --profile production --offline

doc: setup link
	@for m in $$(ls plugins/modules/*.py | xargs -n1 basename | sed 's/\.py$$//'); do \
	  $(BIN)/ansible-doc certops.backend_tls.$$m > /dev/null && echo "ansible-doc: $$m ok"; done

# ansible-test needs the collection at ansible_collections/<ns>/<name>, as real files.
sanity: setup
	rm -rf $(SANITY) && mkdir -p $(SANITY)
	git ls-files -z --cached --others --exclude-standard | tar --null --ignore-failed-read -T - -cf - 2>/dev/null | tar -xf - -C $(SANITY)
	# its own git repo: ansible-test lists files with git, and build/ is ignored in ours
	cd $(SANITY) && git init -q && git add -A && \
	  git -c user.name=sanity -c user.email=sanity@localhost commit -qm sanity
	cd $(SANITY) && $(BIN)/ansible-test sanity --requirements --python 3.11 --color no

unit: setup link
	$(BIN)/python -m pytest -q tests/unit

integration: setup link
	$(BIN)/python -m pytest -q tests/integration

bench: setup link
	$(BIN)/python tests/bench/run_bench.py

clean:
	rm -rf build tests/output

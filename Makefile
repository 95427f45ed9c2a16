# The two quick-start commands:
#   make staging   set everything up, then provision staging on local hosts
#   make test      set everything up, then run every check and test
PY := .venv/bin/python
VENV_BIN := $(CURDIR)/.venv/bin
export PATH := $(VENV_BIN):$(PATH)
export CONTAINERS_CONF := $(CURDIR)/hosts/containers.conf
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg

.PHONY: setup image cache staging qa prod test lint unit hosts molecule molecule-suite pipeline bench bench-fingerprint bench-images inventory-check clean-hosts

setup:
	@scripts/setup.sh

image: setup
	$(PY) provision.py image

# The package cache for local hosts (started on demand by every local run; this shows it).
cache: setup
	$(PY) provision.py cache

staging qa prod: setup
	$(PY) provision.py $@

# Each stage timed, with a table of wall times at the end (scripts/stages.sh). `image&` builds
# the local images in the background, beside lint and the unit tests (on a fresh machine they
# are minutes of downloads and dpkg); `hosts` waits for them (its `image` waits on the builds'
# locks). molecule-suite's scenario runs inside `hosts` (tests/test_molecule.py), in a lane beside
# the other host tests instead of after them; so does `make pipeline` (tests/test_live_parity.py
# brings staging and prod up through it, instead of converging both again after the host tests).
TEST_STAGES := setup image& lint inventory-check unit hosts
test:
	@scripts/stages.sh $(foreach stage,$(TEST_STAGES),'$(stage)')

inventory-check: setup
	$(PY) provision.py inventory --check

lint: setup
	ruff check provisioner tests verification molecule roles/app/files roles/app/library playbooks/library loadtest bench provision.py
	ruff format --check provisioner tests verification molecule roles/app/files roles/app/library playbooks/library loadtest bench provision.py
	mypy
	yamllint -s .
	ansible-lint --profile production

unit: setup
	pytest -m "not hosts" -n 2

# Three lanes of host tests side by side, one per worker, never two on one environment
# (tests/lanes.py); HOST_WORKERS=0 runs them one after another.
HOST_WORKERS ?= 3
hosts: image
	pytest -m hosts -n $(HOST_WORKERS) --dist loadscope --durations=20

# Every scenario under molecule/ (default: the whole stack; one per role; execution_node).
molecule: image
	@scripts/molecule.sh $$(cd molecule && ls -d */molecule.yml | cut -d/ -f1)

# What `make test` runs (as tests/test_molecule.py, in the hosts stage), and this target on its
# own: `molecule test -s common` as its users type it: one role's scenario
# (check on a fresh instance, converge, idempotence, the shared verification suite), 1.5 minutes.
# The stack scenario (default, ~8 minutes) repeats what the host tests prove on whole
# environments: converge, idempotence and verify in tests/test_provision_local.py, check mode on
# fresh hosts in tests/test_releases.py. The execution_node role is set up, re-run (idempotent)
# and used by tests/test_remote_execution.py. `make molecule` runs every scenario (the CI
# workflow's molecule job does).
molecule-suite: image
	@scripts/molecule.sh common

# The deploy stages of the CI provisioning job (.github/workflows/provision.yml) on local hosts:
# staging, its gate, a prod plan, an approval by a second identity, the promotion to prod.
# `make test` runs it among the host tests (tests/test_live_parity.py, on a ledger of its own).
pipeline: image
	scripts/pipeline.sh local

# Not part of `make test`: stock Ansible versus provision.py on 1, 5 and 20 local hosts
# (about 25 minutes). HOSTS=1,5 for a shorter run.
HOSTS ?= 1,5,20
bench: image
	$(PY) -m bench.run --hosts $(HOSTS)

# The full host fingerprint against the playbook it replaced, on 20 local hosts (about 10 minutes).
bench-fingerprint: image
	$(PY) -m bench.fingerprint --hosts 20

# Both local images built one after the other against side by side, from none (about 5 minutes;
# removes the images first and leaves them built).
bench-images: setup
	$(PY) -m bench.images

clean-hosts: setup
	for env in qa staging prod; do $(PY) provision.py down $$env; done

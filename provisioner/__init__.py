"""Provision qa, staging and prod identically from one source of truth, with Ansible.

The package is layered; a module imports only from its own subpackage and from the layers
below it, never from above (tests/test_layout.py checks it, function-level imports included):

    cli       the front end: arguments, one thin handler per command, what the console shows
    deploy    the deploy workflow behind a typed request, how a run ends, what it reports
              to its observer; approval, promotion, releases and rollback, the post-deploy
              gate, load gate, verify, fingerprint, the task names keyed on
    ledger    the run ledger (records, hash chain, SQLite/PostgreSQL stores, locks) and the
              record of one run
    hosts     local podman hosts and execution nodes
    run       running a playbook: request/result types, run statuses, local and remote
              backends, slicing, strategy, events
    source    the source of truth: model, strict YAML, inventories, shared vars, parity,
              secrets, host keys, executor URLs, the bundle of what would run
    errors    exceptions and exit codes
    paths     where things are

ledger and hosts are side by side: neither imports the other.
"""

# Each layer's rank: a module may import its own subpackage and any layer of a lower rank.
LAYERS: dict[str, int] = {
    "paths": 0,
    "errors": 1,
    "source": 2,
    "run": 3,
    "hosts": 4,
    "ledger": 4,
    "deploy": 5,
    "cli": 6,
}

"""Provision qa, staging and prod identically from one source of truth, with Ansible.

The package is layered; a module imports only from its own subpackage and from the layers
below it, never from above (tests/test_layout.py checks it, function-level imports included):

    cli       the front end: arguments, one thin handler per command, what the console shows
    report    the web report: a static site from the ledger and the source, served on localhost
    deploy    the deploy workflow behind a typed request, how a run ends, what it reports
              to its observer; approval, promotion, releases and rollback, the post-deploy
              gate, load gate (and the load plan from the declared peak), verify
    incremental  the incremental apply: each host's inputs and managed state after a good
              apply, read back without Ansible, and the choice of hosts the next apply runs
    trust     who signed what: SSH signatures (ssh-keygen -Y) of plans, approvals, applies and
              the ledger's checkpoints, the allowed-signers file, the witness in .state, the
              ledger an environment names
    live      live parity: the hosts' fingerprints, normalised, compared between environments
              or with the last gated apply, kept with the ledger; the parity gate of plans
    ledger    the run ledger (records, hash chain, SQLite/PostgreSQL stores, locks) and the
              record of one run
    hosts     local podman hosts and execution nodes
    run       running a playbook: request/result types, run statuses, local and remote
              backends, slicing, strategy, events, the playbook task names keyed on
    source    the source of truth: model, strict YAML, inventories, shared vars, parity,
              capacity rules, secrets, host keys, executor URLs, the bundle of what would run
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
    "live": 5,
    "trust": 5,
    "incremental": 5,
    "deploy": 6,
    "report": 7,
    "cli": 8,
}

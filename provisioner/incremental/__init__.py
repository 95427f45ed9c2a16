"""Incremental apply: a host whose inputs and managed state are what the last good apply left
is skipped ("unchanged, skipped"); every other host runs in full.

    inputs   what decides what the roles do on a host, digested without Ansible
    onhost   the reading of what the roles manage, run on the host itself (python3, stdlib)
    state    that reading over plain ssh, every host at once
    record   the ledger's record of both after a good apply, and the choice of hosts to run
"""

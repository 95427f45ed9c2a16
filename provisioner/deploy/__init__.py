"""Deploying, free of the console and of the command line: the workflow (workflow.py: apply,
plan, drift, verify, gate, rollback, promote, each from a typed DeployRequest), how a run ends
(outcome.py), what it tells its front end (observer.py), and its parts: the approval and
promotion gates, releases and rollback, the post-deploy gate (gate, loadgate, verify), live
state (fingerprint), and the playbook tasks the Python keys on (tasks)."""

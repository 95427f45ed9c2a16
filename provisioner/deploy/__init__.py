"""The parts of a deploy, console-free: the approval and promotion gates, releases and rollback,
the post-deploy gate (gate, loadgate, verify), live state (fingerprint), and the playbook tasks
the Python keys on (tasks). The workflow that strings them together is still
cli/commands.py's (issue 15: it is to move here, behind a typed request)."""

"""Deploying an environment, console-free: the workflow and the gates around it (approval,
promotion), releases and rollback, the post-deploy gate (gate, loadgate, verify), live state
(fingerprint)."""

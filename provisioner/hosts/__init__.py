"""Machines this checkout starts itself: local podman hosts (localhosts) and execution nodes
(execnodes)."""

"""Running one playbook through ansible-runner, here or on execution nodes: the request and
result types, run statuses, the local and remote backends, slicing, the strategy, events."""

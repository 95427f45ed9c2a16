"""Live parity: what the hosts are, read back (hostprint.py), with what is by design specific to
a host or an environment replaced by placeholders (normalise.py), compared between environments
or against an environment's own past (compare.py), and recorded with each gated apply
(record.py). The reading itself is one module run per host: playbooks/library/host_fingerprint.py,
the last play of playbooks/site.yml."""

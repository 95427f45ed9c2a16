"""The run ledger (every run, plan, approval and lock, in a hash chain), its stores, the
environment locks, and the record of one run (recording) with who ran it (identity)."""

"""The run ledger (every run, plan, approval and lock, in a hash chain), in layers: records,
chain (pure), store (the schema) with its sqlite and postgres stores, lock, and ledger (Ledger,
open_ledger); the record of one run (recording) with who ran it (identity)."""

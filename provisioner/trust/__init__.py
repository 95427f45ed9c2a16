"""Who signed what: approvals, plans, applies and ledger checkpoints signed with SSH keys
(`ssh-keygen -Y sign`), checked against the committed allowed-signers file.

sshsig.py runs ssh-keygen (the only code that touches keys or signatures), principals.py
compares principals, signers.py says which signers file and key a command uses, statements.py
signs and verifies the statements the ledger keeps, approvals.py turns the ledger's signed
approvals into verified facts for the pure gate (deploy/approval.py).
"""

"""The source of truth and what is derived from it: environments.yml's model and validation
(model, yamlfile), generated inventories (inventory), shared group_vars (sharedvars), the parity
contract (parity), vaults (secrets), recorded SSH host keys (hostkeys), execution node URLs
(executor) and the bundle of what a run would apply (bundle)."""

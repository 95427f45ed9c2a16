#!/usr/bin/env bash
# The provisioning pipeline as named stages, run in the order given:
#
#   scripts/pipeline.sh STAGE...
#
#   check          provision.py inventory --check, then make lint
#   molecule       make molecule (every scenario, in podman containers)
#   staging        provision.py staging (an apply that changed something runs the gate itself)
#   gate-staging   provision.py gate staging (health, verification suite, load test)
#   plan-prod      provision.py plan prod; prints the plan id, and appends plan_id=ID to
#                  $GITHUB_OUTPUT when that is set (a GitHub Actions step output)
#   approve-prod   provision.py approve prod $PLAN_ID, signed with $APPROVER_SIGNING_KEY (the
#                  approver's SSH key, listed as $APPROVER in security/allowed_signers for
#                  provisioner-approve@prod; all three variables required; $APPROVE_REASON,
#                  if set, is signed with it)
#   promote-prod   provision.py promote staging prod (refused, exit 4, unless the same bundle
#                  passed apply + gate on staging and someone other than the applier approved)
#   report         provision.py report (the web report, from the ledger: .state/report/), then
#                  provision.py report --check (its index shows every environment), then
#                  provision.py history --verify (the chain, its signed checkpoints and the
#                  witness; prints the signed head into the log); reads the ledger only
#   local          what `make test` (.ci/run) runs against local hosts: the six stages above
#                  from staging on, the plan id taken from the plan just made, applied as
#                  $PROVISION_IDENTITY (default ci-pipeline), approved as $APPROVER (default
#                  ci-approver), each signing with a throwaway ed25519 key of its own made in
#                  .state/rehearsal/ and listed in a rehearsal signers file there
#                  ($PROVISION_ALLOWED_SIGNERS: accepted for environments on local hosts only)
#
# The GitHub Actions workflow (.github/workflows/provision.yml) calls the same stages, one job
# per step of the sequence, so local CI and GitHub run the same commands.
#
# Exit codes: a stage's own exit code when it fails (provision.py: 1 host failure, 2 bad input,
# 4 approval gate refused, 5 gate failed, ...); 2 for an unknown stage or a missing variable.
set -euo pipefail
shopt -s inherit_errexit  # a failure inside $(...) stops it too

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

# The same settings the Makefile exports for every target.
export PATH="$repo/.venv/bin:$PATH"
export CONTAINERS_CONF="$repo/hosts/containers.conf"
export ANSIBLE_CONFIG="$repo/ansible.cfg"

PY=.venv/bin/python
LAST_PLAN=.state/runs/prod/last-plan.json

# Every stage, in pipeline order; the dispatch in run_stage below has one case per name.
STAGES=(check molecule staging gate-staging plan-prod approve-prod promote-prod report local)
# What `local` runs: the deploy stages, in the order the workflow's jobs run them, then the report.
LOCAL_SEQUENCE=(staging gate-staging plan-prod approve-prod promote-prod report)

die_usage() {
  echo "pipeline: $1" >&2
  echo "pipeline: usage: scripts/pipeline.sh STAGE...; stages: ${STAGES[*]}" >&2
  exit 2
}

provision() {
  if [ ! -x "$PY" ]; then
    echo "pipeline: $repo/$PY is missing: run \`make setup\` first" >&2
    exit 2
  fi
  "$PY" provision.py "$@"
}

# The plan id that the last successful `provision.py plan prod` wrote.
read_plan_id() {
  local id
  id=$("$PY" -c '
import json, sys
try:
    with open(sys.argv[1], encoding="utf-8") as f:
        plan_id = json.load(f).get("plan_id")
except (OSError, ValueError, AttributeError) as exc:
    sys.exit(f"pipeline: cannot read the plan id from {sys.argv[1]}: {exc}")
if not isinstance(plan_id, str) or not plan_id:
    sys.exit(f"pipeline: {sys.argv[1]} has no plan_id")
print(plan_id)
' "$LAST_PLAN")
  # It goes into $GITHUB_OUTPUT and onto command lines: nothing but a plain token.
  if [[ ! "$id" =~ ^[A-Za-z0-9._-]+$ ]]; then
    echo "pipeline: $LAST_PLAN: unexpected plan_id ${id@Q}" >&2
    exit 1
  fi
  echo "$id"
}

stage_check() {
  provision inventory --check
  make lint
}

stage_molecule() {
  make molecule
}

stage_staging() {
  provision staging
}

stage_gate_staging() {
  # Also after an apply that already ran the gate: when nothing changed the apply does not
  # gate, and promote-prod needs a passed gate for this bundle on staging.
  provision gate staging
}

stage_plan_prod() {
  provision plan prod
  local id
  id=$(read_plan_id)
  echo "pipeline: plan id $id"
  if [ -n "${GITHUB_OUTPUT:-}" ]; then
    echo "plan_id=$id" >>"$GITHUB_OUTPUT"
  fi
}

stage_approve_prod() {
  local missing=()
  [ -n "${PLAN_ID:-}" ] || missing+=("PLAN_ID (the plan to approve, printed by plan-prod)")
  [ -n "${APPROVER:-}" ] || missing+=("APPROVER (who approves it, e.g. github:LOGIN)")
  [ -n "${APPROVER_SIGNING_KEY:-}" ] ||
    missing+=("APPROVER_SIGNING_KEY (the approver's key, listed in security/allowed_signers)")
  if ((${#missing[@]})); then
    local what
    for what in "${missing[@]}"; do
      echo "pipeline: approve-prod needs $what in the environment" >&2
    done
    exit 2
  fi
  local reason=()
  [ -z "${APPROVE_REASON:-}" ] || reason=(--reason "$APPROVE_REASON")
  PROVISION_IDENTITY="$APPROVER" PROVISION_SIGNING_KEY="$APPROVER_SIGNING_KEY" \
    provision approve prod "$PLAN_ID" "${reason[@]}"
}

stage_promote_prod() {
  # Applied as $PROVISION_IDENTITY (else git's user.email, else the OS user).
  provision promote staging prod
}

stage_report() {
  provision report --out .state/report
  provision report --out .state/report --check
  # Then the ledger's chain, signed checkpoints and witness (after the report, which is read
  # most when something is wrong); its "signed head" line stays in the CI log, the team's copy
  # of the head outside the database.
  provision history --verify
}

# Throwaway ed25519 keys for the rehearsal's two people (made once, kept in .state/rehearsal/),
# and a signers file listing exactly them: prod is on local hosts here, so the tool accepts it
# in place of security/allowed_signers (README "Signing setup").
rehearsal_keys() {
  local dir=.state/rehearsal who file signers
  umask 077
  mkdir -p .state "$dir"
  signers="$dir/allowed_signers"
  : >"$signers.partial"
  for who in "$PROVISION_IDENTITY" "$APPROVER"; do
    if [[ ! "$who" =~ ^[A-Za-z0-9._@:+-]+$ ]]; then
      echo "pipeline: ${who@Q} cannot be a principal of the rehearsal's signers file" >&2
      exit 2
    fi
    file="$dir/${who//[:@+]/_}"
    [ -f "$file" ] || ssh-keygen -q -t ed25519 -N '' -C "$who (rehearsal)" -f "$file" </dev/null
    printf '%s namespaces="provisioner-*@prod,provisioner-ledger" %s\n' "$who" "$(cat "$file.pub")" \
      >>"$signers.partial"
  done
  mv "$signers.partial" "$signers"  # whole or not at all
  export PROVISION_ALLOWED_SIGNERS="$repo/$signers"
  export PROVISION_SIGNING_KEY="$repo/$dir/${PROVISION_IDENTITY//[:@+]/_}"
  export APPROVER_SIGNING_KEY="$repo/$dir/${APPROVER//[:@+]/_}"
  echo "pipeline: rehearsal keys in $dir; signers file $signers"
}

stage_local() {
  # The applier and the approver must differ, or promote-prod is refused (self-approval).
  export PROVISION_IDENTITY="${PROVISION_IDENTITY:-ci-pipeline}"
  export APPROVER="${APPROVER:-ci-approver}"
  rehearsal_keys
  local stage
  for stage in "${LOCAL_SEQUENCE[@]}"; do
    if [ "$stage" = approve-prod ]; then
      # Always the plan just made by plan-prod, whatever PLAN_ID the caller's environment has.
      PLAN_ID=$(read_plan_id)
      export PLAN_ID
    fi
    run_stage "$stage"
  done
}

# The stage running now and when it started, for the failure message on exit.
current_stage=""
stage_started=$SECONDS

on_exit() {
  local rc=$?
  if [ "$rc" -ne 0 ] && [ -n "$current_stage" ]; then
    echo "== stage $current_stage failed (exit $rc) after $((SECONDS - stage_started))s" >&2
  fi
}
trap on_exit EXIT

run_stage() {
  local name=$1 outer_stage=$current_stage outer_started=$stage_started
  current_stage=$name
  stage_started=$SECONDS
  echo "== stage $name"
  # Called plainly (not in an if or ||) so that `set -e` stops at a stage's first failure.
  case "$name" in
    check) stage_check ;;
    molecule) stage_molecule ;;
    staging) stage_staging ;;
    gate-staging) stage_gate_staging ;;
    plan-prod) stage_plan_prod ;;
    approve-prod) stage_approve_prod ;;
    promote-prod) stage_promote_prod ;;
    report) stage_report ;;
    local) stage_local ;;
    *) die_usage "no such stage: $name" ;;
  esac
  echo "== stage $name passed in $((SECONDS - stage_started))s"
  current_stage=$outer_stage
  stage_started=$outer_started
}

# Check every name before running anything, so a typo does not leave a half-run pipeline.
(($#)) || die_usage "no stage given"
for arg in "$@"; do
  known=false
  for stage in "${STAGES[@]}"; do
    [ "$arg" = "$stage" ] && known=true
  done
  "$known" || die_usage "unknown stage '$arg'"
done

for arg in "$@"; do
  run_stage "$arg"
done

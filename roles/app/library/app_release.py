#!/usr/bin/python
"""The app role's release switch, deploy and rollback alike, in one module run per host.

As tasks it took five (read both links, move `previous`, move `current`, list the releases,
remove the old ones), written twice; each task costs every host a module run.
"""

from __future__ import annotations

import os
import shutil

from ansible.module_utils.basic import AnsibleModule

LINKED = 2  # releases a rollback needs on disk: the current one and the previous one

DOCUMENTATION = r"""
module: app_release
short_description: Point C(current) at a release, keep the one it replaces as C(previous)
description:
  - Releases live in I(base_dir)/releases/NAME. C(current) and C(previous) are symlinks to two
    of them. Switching moves C(previous) to the release being left, then C(current) to the new
    one; each link is replaced atomically (a new link renamed over the old one).
  - With I(keep), a switch also removes release directories beyond the newest I(keep), never the
    current or the previous one. Only a switch does, so C(changed) always means a switch (the
    tool rolls back exactly the hosts whose release a run switched).
options:
  base_dir:
    description: Directory that holds releases/, current and previous.
    type: path
    required: true
  release:
    description: Release to switch to; empty means the one C(previous) points to (a rollback).
    type: str
    default: ""
  require:
    description: Fail unless the release's directory holds the application (false only where
      the release cannot be on disk yet, a deploy in check mode).
    type: bool
    default: true
  keep:
    description: Release directories to keep in all (at least 2); 0 removes none.
    type: int
    default: 0
"""

RETURN = r"""
current:
  description: Release C(current) points to afterwards.
  type: str
  returned: always
previous:
  description: Release C(previous) points to afterwards, empty if none.
  type: str
  returned: always
removed:
  description: Release directories removed.
  type: list
  elements: str
  returned: always
"""


def _link(path: str) -> str:
    return os.readlink(path) if os.path.islink(path) else ""


def _point(link: str, target: str) -> None:
    """Replace `link` by one to `target` in one rename, so it never dangles or goes missing."""
    staged = f"{link}.new"
    if os.path.lexists(staged):
        os.unlink(staged)
    os.symlink(target, staged)
    os.replace(staged, link)


def _old_releases(releases: str, kept: int, spared: set[str]) -> list[str]:
    """Directories past the newest `kept` (by mtime), leaving out the `spared` ones."""
    found = [
        entry.path
        for entry in os.scandir(releases)
        if entry.is_dir(follow_symlinks=False) and entry.path not in spared
    ]
    found.sort(key=lambda path: os.stat(path).st_mtime, reverse=True)
    return found[max(kept - len(spared), 0) :]


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "base_dir": {"type": "path", "required": True},
            "release": {"type": "str", "default": ""},
            "require": {"type": "bool", "default": True},
            "keep": {"type": "int", "default": 0},
        },
        supports_check_mode=True,
    )
    base, keep = module.params["base_dir"], module.params["keep"]
    if 0 < keep < LINKED:
        module.fail_json(msg=f"keep is {keep}: at least {LINKED}, the current and previous release")
    releases = os.path.join(base, "releases")
    current_link, previous_link = os.path.join(base, "current"), os.path.join(base, "previous")
    current, previous = _link(current_link), _link(previous_link)

    name = module.params["release"] or os.path.basename(previous)
    if not name:
        module.fail_json(msg="no release to switch to: none named and no previous release recorded")
    target = os.path.join(releases, name)
    if module.params["require"] and not os.path.isdir(os.path.join(target, "csapp")):
        module.fail_json(msg=f"no release to switch to: {name} is not in {releases}")

    changed = current != target
    after_previous = current if changed and current else previous
    removed = []
    if changed and keep and os.path.isdir(releases):
        removed = _old_releases(releases, keep, {target, after_previous} - {""})
    if not module.check_mode:
        if changed:
            if current:
                _point(previous_link, current)
            _point(current_link, target)
        for path in removed:
            shutil.rmtree(path)
    module.exit_json(
        changed=changed,
        current=name,
        previous=os.path.basename(after_previous),
        removed=removed,
        diff={
            "before": f"current -> {current}\nprevious -> {previous}\n",
            "after": f"current -> {target}\nprevious -> {after_previous}\n",
        },
    )


if __name__ == "__main__":
    main()

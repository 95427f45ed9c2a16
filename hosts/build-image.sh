#!/usr/bin/env bash
# Build a local image from Debian's packages alone (no container registry here): debootstrap a
# Debian root with systemd, sshd and python3, adjust it for life in a container, and
# `podman import` it. Called by provisioner/hosts/localhosts.py (ensure_image), which passes the tag;
# CONTAINERS_CONF must point at hosts/containers.conf. What differs between images is given in
# the environment (localhosts.Image says what each image is made of):
#   SUITE           Debian release (default bookworm: the test hosts)
#   EXTRA_PACKAGES  comma-separated packages on top of the base set
#   KIND            the image's io.provisioner.image label (default host)
#   APT_CACHE_URL   the package cache on the controller (provisioner/hosts/pkgcache.py), http://ADDR:PORT;
#                   apt in the image asks it while it answers and goes to the mirror when not
# and, not part of the image: http_proxy, for debootstrap to fetch through that cache.
set -euo pipefail

tag=${1:?usage: build-image.sh TAG}
suite=${SUITE:-bookworm}
kind=${KIND:-host}
packages=systemd,systemd-sysv,dbus,python3,python3-apt,openssh-server,sudo,iproute2,ca-certificates,locales,procps
packages=$packages${EXTRA_PACKAGES:+,$EXTRA_PACKAGES}

# Use the same Debian mirror this machine's apt uses.
mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
mirror=${mirror:-http://deb.debian.org/debian}

work=$(mktemp -d /var/tmp/provisioner-image.XXXXXX)
trap 'rm -rf "$work"' EXIT
root=$work/rootfs

echo "debootstrap $suite from $mirror" >&2
debootstrap --variant=minbase --include="$packages" "$suite" "$root" "$mirror" >"$work/debootstrap.log" 2>&1 || {
  tail -n 20 "$work/debootstrap.log" >&2
  exit 1
}

# Units that need hardware or a console, or that fight podman over the network: masked.
for unit in systemd-logind.service getty.target console-getty.service systemd-udevd.service \
  systemd-udevd-control.socket systemd-udevd-kernel.socket systemd-networkd.service \
  systemd-resolved.service systemd-timesyncd.service apt-daily.timer apt-daily-upgrade.timer \
  e2scrub_reap.service; do
  ln -sf /dev/null "$root/etc/systemd/system/$unit"
done

# Each container makes its own SSH host keys at first boot instead of sharing the image's.
rm -f "$root"/etc/ssh/ssh_host_*
mkdir -p "$root/etc/systemd/system/ssh.service.d"
cat >"$root/etc/systemd/system/ssh.service.d/host-keys.conf" <<'UNIT'
[Service]
ExecStartPre=
ExecStartPre=/usr/bin/ssh-keygen -A
ExecStartPre=/usr/sbin/sshd -t
UNIT
cat >"$root/etc/ssh/sshd_config.d/provisioner.conf" <<'CONF'
PermitRootLogin prohibit-password
PasswordAuthentication no
UseDNS no
CONF
# The package cache, the one place local hosts learn of it (the roles and inventories never
# do, so a local host's apt sources are exactly what the roles write). apt runs the script for
# each mirror it fetches from: it prints the cache while something listens there, else DIRECT.
if [ -n "${APT_CACHE_URL:-}" ]; then
  cache=${APT_CACHE_URL#http://}
  # Modes spelled out: provision.py runs us under umask 077, and apt runs the script as _apt.
  install -d -m 0755 "$root/usr/local/lib/provisioner"
  install -m 0755 /dev/stdin "$root/usr/local/lib/provisioner/apt-proxy" <<SCRIPT
#!/bin/bash
# Local test hosts only (hosts/build-image.sh): apt's proxy is the controller's package cache
# while it answers, the mirror directly otherwise.
if timeout 1 bash -c ': >/dev/tcp/${cache%:*}/${cache##*:}' 2>/dev/null; then
  echo "$APT_CACHE_URL"
else
  echo DIRECT
fi
SCRIPT
  install -m 0644 /dev/stdin "$root/etc/apt/apt.conf.d/00provisioner-package-cache" <<CONF
// Local test hosts only: the controller's package cache ($APT_CACHE_URL), or the mirror.
Acquire::http::Proxy-Auto-Detect "/usr/local/lib/provisioner/apt-proxy";
CONF
fi

echo "en_US.UTF-8 UTF-8" >"$root/etc/locale.gen"
chroot "$root" locale-gen >/dev/null
chroot "$root" apt-get clean
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/lib/apt/periodic
# An empty package list must look old, or apt's cache_valid_time would skip the first update.
touch -d @0 "$root/var/lib/apt/lists"
: >"$root/etc/machine-id"

tar -C "$root" -c . | podman import \
  --change 'CMD ["/sbin/init"]' \
  --change 'STOPSIGNAL SIGRTMIN+3' \
  --change 'ENV container=podman' \
  --change 'LABEL io.provisioner.managed=true' \
  --change "LABEL io.provisioner.image=$kind" \
  - "$tag" >/dev/null
echo "built $tag" >&2

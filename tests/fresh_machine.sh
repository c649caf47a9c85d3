#!/usr/bin/env bash
# Runs the README's two set-up commands on a fresh Debian: a minimal
# debootstrap chroot of this machine's release with nothing in it but what
# its archive gives, a clean clone of this repository's HEAD, and an empty
# environment. A package that share/install-deps.sh forgets, which this
# machine happens to have, fails here and nowhere else.
# Needs root, debootstrap and the Debian archive this machine's apt uses.
# About 11 minutes on 2 cores; the chroot is removed at the end.
#   tests/fresh_machine.sh                  quickstart, then the test suite
#   tests/fresh_machine.sh bash .ci/run     any command, run in the clone
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
[ "$(id -u)" -eq 0 ] || { echo "$0: needs root (debootstrap, chroot, mounts)" >&2; exit 2; }
command -v debootstrap >/dev/null || { echo "$0: needs debootstrap (apt-get install debootstrap)" >&2; exit 2; }
[ $# -gt 0 ] || set -- bash -c 'workflows/quickstart.sh /root/jobperf-demo && tests/run.sh'

. /etc/os-release
# This machine's Debian suites (release, updates, security) and where apt gets them.
suites=$(apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(COMPONENT)' 'Identifier: Packages' |
         awk -v r="$VERSION_CODENAME" '$2 == r || index($2, r "-") == 1' | sort -u)
mirror=$(awk -v r="$VERSION_CODENAME" '$2 == r {print $1; exit}' <<<"$suites")
[ -n "$mirror" ] || { echo "$0: apt knows no archive of Debian $VERSION_CODENAME (run apt-get update)" >&2; exit 2; }

root=$(mktemp -d /var/tmp/jobperf-fresh.XXXXXX)
cleanup() {
  # Daemons a test left (Slurm's, munge) would keep the mounts busy.
  for p in /proc/[0-9]*; do
    [ "$(readlink "$p/root" 2>/dev/null)" = "$root" ] && kill -9 "${p#/proc/}" 2>/dev/null || true
  done
  sleep 1
  for m in dev/shm dev/pts dev sys proc; do umount -R "$root/$m" 2>/dev/null || umount -lR "$root/$m" 2>/dev/null || true; done
  rm -rf --one-file-system "$root"
}
trap cleanup EXIT

echo "== a fresh Debian $VERSION_CODENAME in $root"
debootstrap --variant=minbase "$VERSION_CODENAME" "$root" "$mirror" >"$root.log" 2>&1 ||
  { cat "$root.log" >&2; rm -f "$root.log"; exit 1; }
rm -f "$root.log"
awk '{print "deb " $1 " " $2 " " $3}' <<<"$suites" >"$root/etc/apt/sources.list"
cp /etc/resolv.conf "$root/etc/resolv.conf"
# A machine's hosts file names the machine: without it every MPI start waits on DNS.
printf '127.0.0.1 localhost %s\n' "$(hostname)" >"$root/etc/hosts"
mount -t proc proc "$root/proc"
mount --rbind /sys "$root/sys" && mount --make-rslave "$root/sys"
mount --bind /dev "$root/dev" && mount --bind /dev/pts "$root/dev/pts"
mount -t tmpfs shm "$root/dev/shm"
git clone -q "$repo" "$root/root/jobperf"

echo "== in the fresh clone: $*"
chroot "$root" /usr/bin/env -i HOME=/root TERM=dumb PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  /bin/bash -c 'cd /root/jobperf && exec "$@"' fresh "$@"

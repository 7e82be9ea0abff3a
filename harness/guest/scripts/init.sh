#!/bin/busybox sh
# shellcheck shell=dash
# shellcheck disable=SC2154 # harness_vng_init, virtme_*, nr_open: the kernel's command line sets them
# PID 1 of the harness's guests, instead of vng's virtme-ng-init (qemu.sh swaps it in on the
# kernel's command line). vng's init spends most of a TCG boot on udev: its coldplug runs ~270
# device events through the rules (15 s of a 25 s boot here), and systemd-tmpfiles 1.6 s. The
# harness needs neither: devtmpfs makes the device nodes, and the one module a guest needs by
# itself (virtio_net, for SSH) agent.sh loads by name; the kernel loads the rest on demand.
# What it keeps of vng's init: the same mounts (the host's root read-only under tmpfs overlays,
# the shared 9p directories, the modules of the kernel under test), the script of virtme.exec=
# run with its output on vng's virtio ports and its exit status on virtme.ret, sshd when vng
# asked for it (virtme.ssh; sshd.sh), and power-off at the end. No virtme.exec= (an interactive vng): vng's
# own init. Each step is marked in the kernel log ("harness-init: ..."; bench/boot.py times them).
# busybox (static, vng's initramfs needs it anyway): its mkdir, ln, ip ... run without loading
# a program over 9p; the script itself runs under /bin/sh as before.
# The environment: the kernel command line's name=value words (vng's virtme_* and harness_vng_init).
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH
here=${0%/*}

mark() { echo "<6>harness-init: $*" > /dev/kmsg; }

# fstab lines for the host's read-only root: a tmpfs upper layer over each of vng's directories
overlays() {
	i=0
	while eval "dir=\${virtme_rw_overlay$i:-}"; [ -n "$dir" ]; do
		ov=/run/tmp/virtme_rw_overlay$i
		mkdir -p "$ov/upper" "$ov/work"
		echo "virtme_rw_overlay$i $dir overlay xino=off,lowerdir=$dir,upperdir=$ov/upper,workdir=$ov/work 0 0"
		i=$((i + 1))
	done
}

# fstab lines for the directories vng shares (9p, tagged in vng's order), the modules' among them
shares() {
	i=0
	while eval "dir=\${virtme_initmount$i:-}"; [ -n "$dir" ]; do
		mkdir -p "/${dir#/}"
		echo "virtme.initmount$i /${dir#/} 9p version=9p2000.L,trans=virtio,access=any,msize=512000 0 0"
		i=$((i + 1))
	done
}

# the modules of the kernel under test at /lib/modules/<release>: a share (shares() mounts it
# there) or, when vng shares none there, a link to them
modules() {
	[ -n "${virtme_link_mods:-}" ] || return 0
	mkdir -p /lib/modules
	mount -t tmpfs none /lib/modules
	i=0
	while eval "dir=\${virtme_initmount$i:-}"; [ -n "$dir" ]; do
		[ "/${dir#/}" != "/lib/modules/$1" ] || return 0
		i=$((i + 1))
	done
	ln -s "$virtme_link_mods" "/lib/modules/$1"
}

# vng's virtio-serial ports by name (udev's /dev/virtio-ports links are not made: no udev)
find_ports() {
	for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
		for port in /sys/class/virtio-ports/*; do
			[ -r "$port/name" ] || continue
			read -r name < "$port/name"
			case $name in
			virtme.stdin) port_in=/dev/${port##*/} ;;
			virtme.stdout) port_out=/dev/${port##*/} ;;
			virtme.stderr) port_err=/dev/${port##*/} ;;
			virtme.ret) port_ret=/dev/${port##*/} ;;
			esac
		done
		[ -z "${port_out:-}" ] || return 0
		sleep 0.1
	done
}

power_off() {
	sync
	/bin/busybox poweroff -f  # the reboot system call, no init to ask
	echo o > /proc/sysrq-trigger
	while :; do sleep 60; done
}

# Before this mount /proc is the host's (the root is the host's, shared over 9p): busybox would
# run its applets as the host's /proc/self/exe, which is QEMU
/bin/busybox mount -t proc -o nosuid,noexec,nodev proc /proc
read -r cmdline < /proc/cmdline
case $cmdline in
*'virtme.exec=`'*) ;;
*) exec "$harness_vng_init" ;;
esac
mount -a -T "$here/init.fstab" 2>/dev/null  # configfs is a module in Debian: absent, as with vng
mark "mounting"
read -r release < /proc/sys/kernel/osrelease
mkdir -p /dev/pts /dev/shm /run/tmp/roothome
overlays > /run/tmp/fstab
mount -a -T /run/tmp/fstab
modules "$release"
shares > /run/tmp/fstab
{ echo "devpts /dev/pts devpts nosuid,noexec 0 0"; echo "shm /dev/shm tmpfs nosuid,nodev 0 0"; } >> /run/tmp/fstab
mount -a -T /run/tmp/fstab
echo "${virtme_hostname:-virtme-ng}" > /proc/sys/kernel/hostname
[ -z "${nr_open:-}" ] || echo "$nr_open" > /proc/sys/fs/nr_open
ln -s /proc/self/fd /dev/fd
ln -s fd/0 /dev/stdin
ln -s fd/1 /dev/stdout
ln -s fd/2 /dev/stderr
mark "lo, sshd, the script and its ports"
ip link set lo up
case " $cmdline " in
*" virtme.ssh "*) /bin/busybox sh "$here/sshd.sh" & ;; # beside the script: the host retries until it listens
esac
script=${cmdline#*virtme.exec=\`}
printf '%s' "${script%%\`*}" | base64 -d > /run/tmp/.virtme-script
find_ports
HOME=/run/tmp/roothome
export HOME
cd "/${virtme_chdir:-}" || cd /
mark "running the script"
/bin/sh /run/tmp/.virtme-script < "${port_in:-/dev/null}" > "${port_out:-/dev/console}" 2> "${port_err:-/dev/console}"
rc=$?
mark "script exited with code $rc"
[ -z "${port_ret:-}" ] || printf '%s' "$rc" > "$port_ret"
power_off

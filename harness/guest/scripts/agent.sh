#!/bin/bash
# The agent of a persistent guest (harness.guest.PersistentGuest): network for SSH, then jobs
# from the shared directory until told to stop.
#   $1: the directory shared with the host
#   $HARNESS_READY, $HARNESS_STOP: file names (in it) for "the agent is up" and "power off"
#
# vng's init starts sshd before this runs, but with Debian's kernel the NIC's driver is a module
# and udev renames the NIC (net.ifnames=0 notwithstanding), so vng's DHCP finds no eth0: sshd
# listens, yet qemu's forwarded port reaches nothing. Here virtio_net is loaded and whatever NIC
# appears gets slirp's fixed address. root's shell becomes sh in the guest's /etc overlay: bash
# would read the host's ~/.bashrc on every SSH command (seconds under TCG).
W=$1
# (each program started here is read over 9p: under TCG they are few, and ip runs once)
modprobe virtio_net 2>/dev/null
nic=
for ((tries = 0; tries < 100; tries++)); do
	for dev in /sys/class/net/*; do
		[ "${dev##*/}" = lo ] || [ ! -e "$dev" ] || { nic=${dev##*/}; break; }
	done
	[ -n "$nic" ] && break
	sleep 0.1
done
if [ -n "$nic" ]; then
	printf '%s\n' "link set $nic up" "addr add 10.0.2.15/24 dev $nic" "route add default via 10.0.2.2" |
		ip -force -batch - 2>/dev/null
fi
while IFS= read -r line; do  # (the harness's init has done it: sshd.sh; vng's has not)
	case $line in root:*:/bin/sh) ;; root:*) usermod -s /bin/sh root > /dev/null 2>&1 ;; esac  # silent: its stdout would land at the start of console.log
done < /etc/passwd
mkdir -p "$W/queue"
echo "$(< /proc/sys/kernel/osrelease) ${nic:-no-nic}" > "$W/$HARNESS_READY"
while [ ! -e "$W/$HARNESS_STOP" ]; do
	for job in "$W"/queue/*.sh; do
		[ -e "$job" ] || continue
		base="${job%.sh}"
		mv "$job" "$base.run"
		bash "$base.run" > "$base.out" 2>&1
		echo $? > "$base.rc"
	done
	sleep 1 # idle guests cost the host little; only the shared-directory fallback waits on this
done
sync

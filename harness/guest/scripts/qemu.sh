#!/bin/sh
# Runs on the host as vng's QEMU (vng --qemu): QEMU itself, with one change to the kernel's
# command line: the guest's init becomes the harness's own (init.sh) instead of vng's, whose
# path is kept as harness_vng_init= (its guest tools beside it: the sshd script). Everything
# else vng decided (devices, shares, console, initramfs, microvm's device list) stays as it is.
# With $QEMU_SH_VMLINUX, QEMU boots that ELF vmlinux (its PVH entry) instead of vng's bzImage:
# the same kernel without the bzImage's decompressor, ~1.5 s of every TCG boot.
#   $QEMU_SH_QEMU: the real QEMU binary   $QEMU_SH_INIT: the init to boot (a path the guest sees)
#   $QEMU_SH_VMLINUX: the kernel's vmlinux with a PVH entry note, or unset
#   $QEMU_SH_RECORD: a directory: instead of booting, write the command line it would run
#     (argv, NUL-separated) and a copy of vng's initramfs (initrd) there (harness.guest.launch)
#   the arguments: vng's QEMU command line
# vng gives each of its six virtio ports (the script's stdin, stdout, stderr, status ...) a
# virtio-serial-pci controller of its own; one controller holds them all (the init finds each port
# by its name), and the kernel probes one PCI device instead of six: ~0.2 s under TCG.
n=$#
after_append=0 after_kernel=0 after_initrd=0 initrd='' device=0 serial=0
for arg in "$@"; do
	if [ "$arg" = -device ]; then  # held back until its value says whether it is kept
		device=1
		continue
	fi
	if [ "$device" = 1 ]; then
		device=0
		if [ "$arg" = virtio-serial-pci ]; then
			[ "$serial" = 0 ] || continue
			serial=1
		fi
		set -- "$@" -device
	fi
	[ "$after_initrd" = 0 ] || initrd=$arg
	after_initrd=0
	[ "$arg" = -initrd ] && after_initrd=1
	if [ "$after_append" = 1 ]; then
		arg=$(printf '%s\n' "$arg" | sed "s# init=\([^ ]*\)# harness_vng_init=\1 init=$QEMU_SH_INIT#")
	fi
	if [ "$after_kernel" = 1 ] && [ -n "${QEMU_SH_VMLINUX:-}" ]; then
		arg=$QEMU_SH_VMLINUX
	fi
	after_append=0 after_kernel=0
	[ "$arg" = -append ] && after_append=1
	[ "$arg" = -kernel ] && after_kernel=1
	set -- "$@" "$arg"
done
shift "$n"
if [ -n "${QEMU_SH_RECORD:-}" ] && [ -n "$initrd" ]; then  # the boot itself, not vng's --version probe
	cat "$initrd" > "$QEMU_SH_RECORD/initrd" && printf '%s\0' "$QEMU_SH_QEMU" "$@" > "$QEMU_SH_RECORD/argv"
	exit
fi
exec "$QEMU_SH_QEMU" "$@"

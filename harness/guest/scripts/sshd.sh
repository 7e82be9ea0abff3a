#!/bin/sh
# shellcheck disable=SC2154 # virtme_ssh_cache: the kernel's command line sets it (vng --ssh)
# sshd of a persistent guest (vng --ssh; init.sh starts it), as vng's virtme-sshd-script sets it
# up (vng's host keys and client key, in its cache) but cheaper per connection, which is what a
# warm run pays: no PAM (Debian's sshd session runs pam_motd's update-motd.d scripts, each a
# program read over 9p: ~2 s of every connection under TCG), one host key, no re-exec of sshd
# for each connection (-r; OpenSSH 9.8 dropped it, so then without), root's shell sh (bash
# would read the host's ~/.bashrc on every command). /etc is the guest's own overlay.
#   $virtme_ssh_cache: vng's directory of keys (the host's, read over 9p)
cache=$virtme_ssh_cache
dir=/run/sshd/etc/ssh
mkdir -p "$cache/etc/ssh" "$dir" || exit 1
[ -f "$cache/etc/ssh/ssh_host_ed25519_key" ] || ssh-keygen -q -t ed25519 -N "" -f "$cache/etc/ssh/ssh_host_ed25519_key"
cp "$cache/etc/ssh/ssh_host_ed25519_key" "$cache/id_virtme.pub" "$dir/" || exit 1
chmod 600 "$dir/ssh_host_ed25519_key"
# Without PAM sshd reads /etc/shadow itself and refuses a locked root ("!"): empty ones, as vng's init makes
while IFS=: read -r user _; do echo "$user::::::::"; done < /etc/passwd > /run/tmp/shadow && cat /run/tmp/shadow > /etc/shadow
while IFS= read -r line; do
	case $line in root:*) echo "${line%:*}:/bin/sh" ;; *) echo "$line" ;; esac
done < /etc/passwd > /run/tmp/passwd && cat /run/tmp/passwd > /etc/passwd
cat > "$dir/sshd_config" <<EOF
Port 22
PermitRootLogin yes
AuthorizedKeysFile $dir/id_virtme.pub
PubkeyAuthentication yes
UsePAM no
PrintMotd no
PrintLastLog no
StrictModes no
UseDNS no
EOF
/usr/sbin/sshd -r -f "$dir/sshd_config" -h "$dir/ssh_host_ed25519_key" 2>/dev/null ||
	/usr/sbin/sshd -f "$dir/sshd_config" -h "$dir/ssh_host_ed25519_key"

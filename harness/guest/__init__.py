"""The guest stage: a vng guest of a kernel, and never a leftover qemu. One module per job:

- probe.py: what the host has for guests (vng's programs, sshd) and whether KVM works here;
- vng.py: vng's command line and environment (GuestConfig, images/guest.toml's [boot]);
- launch.py: QEMU started directly on vng's recorded command line (vng itself when there is none);
- oneshot.py: a guest that runs one script and powers off (run_once);
- persistent.py: a guest that runs many commands until stopped, or kept (PersistentGuest);
- channel*.py: how commands reach a persistent guest (SSH: OpenSSH or paramiko; else the shared directory);
- warm.py, pool.py: kept guests found again across runs, and the pool the scheduler draws from;
- commands.py, scripts/: what runs in the guest.

The names most callers need are re-exported here.
"""
from harness.guest.oneshot import GuestExit, one_shot_argv, run_once
from harness.guest.persistent import (
    GuestDied,
    PersistentGuest,
    group_alive,
    set_idle_deadline,
    stop_detached,
    vng_ssh_key,
)
from harness.guest.probe import (
    SSH_PROGRAMS,
    VNG_PROGRAMS,
    probe_kvm,
    qemu_binary,
    require_tools,
    ssh_unavailable,
    vng_environment,
)
from harness.guest.vng import GuestConfig, guest_environment, vng_argv

__all__ = [
    "SSH_PROGRAMS", "VNG_PROGRAMS", "GuestConfig", "GuestDied", "GuestExit", "PersistentGuest", "group_alive",
    "guest_environment", "one_shot_argv", "probe_kvm", "qemu_binary", "require_tools", "run_once",
    "set_idle_deadline", "ssh_unavailable", "stop_detached", "vng_argv", "vng_environment", "vng_ssh_key",
]

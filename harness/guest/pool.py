"""The persistent guest of one process (an xdist worker, a --persistent-guest or --keep-guest run).

It is booted on first use, or (--keep-guest) a healthy warm guest with the same kernel is
attached to instead; it is replaced when it died or got stuck; at the end it is stopped, or
kept and registered for the next run (harness.guest.warm). Commands reach it over SSH, or through
the shared directory when SSH cannot be had (said once, with why).
"""
from __future__ import annotations

import os
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from harness import guest
from harness.cache import locked
from harness.guest import warm
from harness.guest.channel import Channel, SharedDirChannel, Via, free_port
from harness.guest.channel_openssh import OpenSshChannel, start_master


@dataclass(frozen=True)
class PoolRequest:
    """What the pool uses of the settings."""

    cache_dir: Path  # its guests' files, boots.log, the warm guests' registry
    boot_timeout_s: float
    keep_guest: bool = False  # attach to a warm guest, and leave this one running
    idle_timeout: float = 900.0  # seconds a kept guest waits unused before it stops


class GuestPool:
    def __init__(self, settings: PoolRequest, config: guest.GuestConfig, say: Callable[[str], None]) -> None:
        self.settings, self.config, self.say = settings, config, say
        self.running: guest.PersistentGuest | None = None
        self.channel: Channel | None = None
        self.hold: IO[str] | None = None  # our claim on a kept guest
        self.unchecked: warm.WarmGuest | None = None  # a kept guest attached to, its health not checked yet
        self.booted_at = 0.0

    def get(self) -> tuple[guest.PersistentGuest, Channel]:
        """This process's guest: the one it has if alive, else a warm one if allowed and healthy, else a new one."""
        if self.running is not None and self.running.alive() and self.channel is not None:
            return self.running, self.channel
        self.close(keep=False)
        if self.settings.keep_guest and (found := self._attach_warm()) is not None:
            self.running, self.channel = found
            return found
        self.running, self.channel = self._boot()
        return self.running, self.channel

    def _boot(self) -> tuple[guest.PersistentGuest, Channel]:
        s, config = self.settings, self.config
        port = free_port()
        shared = s.cache_dir / "guests" / f"{os.getpid()}-{port}"
        self.say(f"booting a persistent guest ({'KVM' if config.use_kvm else 'TCG'}, {config.cpus} vCPUs); files: {shared}")
        no_ssh = guest.ssh_unavailable()
        running = guest.PersistentGuest.boot(config, shared, port, s.boot_timeout_s,
                                             keep_for_s=s.idle_timeout if s.keep_guest else None, ssh=no_ssh is None)
        self.booted_at = time.time()
        with locked(s.cache_dir, "guests"), open(s.cache_dir / "guests" / "boots.log", "a") as log:
            log.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} pid={os.getpid()} port={port} boot_s={running.boot_s:.1f} "
                      f"kernel={config.kernel.identity}\n")
            if s.keep_guest:  # registered at once: a killed run still leaves it findable
                self.hold = warm.claim(warm.registered(s.cache_dir, running, s.idle_timeout, self.booted_at))
        channel = self._channel(running, shared, no_ssh)
        if s.keep_guest and channel.via is Via.SSH:  # the next run's connection, made while this one runs
            start_master(shared, port, running.ssh_key)
        self.say(f"guest up in {running.boot_s:.1f} s; commands over {channel.via.value}")
        return running, channel

    def _channel(self, running: guest.PersistentGuest, shared: Path, no_ssh: str | None) -> Channel:
        if no_ssh is not None:
            self.say(f"{no_ssh}: no SSH into the guest; commands go through the shared directory")
            return SharedDirChannel(shared)
        from harness.guest.channel_paramiko import SshChannel  # paramiko is slow to import: only when a guest persists

        try:
            return SshChannel(running.port, running.ssh_key)
        except (ConnectionError, OSError) as e:
            self.say(f"no SSH to the guest ({e}): commands go through the shared directory instead")
            return SharedDirChannel(shared)

    def _attach_warm(self) -> tuple[guest.PersistentGuest, Channel] | None:
        """A kept guest that fits, with a channel to it; its health is checked by its first job (runner())."""
        cache = self.settings.cache_dir
        with locked(cache, "guests"):
            entries = warm.load(cache)
        for entry in entries:
            if not warm.is_alive(entry):
                with locked(cache, "guests"):
                    warm.forget(cache, entry)
                continue
            hold = warm.claim(entry)
            if hold is None:
                continue  # another run is using it
            channel, problem = self._check_warm(entry)
            if problem is None and channel is not None:
                self.say(f"attached to the warm guest on port {entry.port} (booted {time.time() - entry.booted_at:.0f} s "
                         f"ago): no boot; commands over {channel.via.value}")
                self.hold, self.booted_at, self.unchecked = hold, entry.booted_at, entry
                return entry.guest(self.config), channel
            self._drop(entry, hold, channel, str(problem))
        return None

    def _drop(self, entry: warm.WarmGuest, hold: IO[str], channel: Channel | None, problem: str) -> None:
        self.say(f"not reusing the warm guest on port {entry.port}: {problem}; stopping it")
        if channel is not None:
            channel.close()
        warm.retire(self.settings.cache_dir, entry)
        hold.close()

    def _check_warm(self, entry: warm.WarmGuest) -> tuple[Channel | None, str | None]:
        """A channel to a warm guest, or why it must not be reused: a session on the connection its keeper left
        open (channel_openssh), else a connection of our own (paramiko), leaving one open for the next run."""
        if not entry.fits(self.config):
            return None, (f"its kernel is {entry.kernel}" if entry.kernel != self.config.kernel.identity
                          else "it was booted with other guest settings")
        shared, key = Path(entry.shared_dir), guest.vng_ssh_key()
        guest.set_idle_deadline(shared, self.settings.idle_timeout + 3600)
        channel: Channel | None = OpenSshChannel.attach(shared, entry.port, key)
        if channel is None:
            from harness.guest.channel_paramiko import SshChannel  # paramiko is slow to import: only without the open connection

            try:
                channel = SshChannel(entry.port, key, connect_timeout_s=10)
            except (ConnectionError, OSError) as e:
                return None, f"no SSH ({e})"
            start_master(shared, entry.port, key)
        return channel, None

    def runner(self) -> Callable[[Path, float, Callable[[], object]], guest.GuestExit]:
        """How the scheduler runs a round's script in this guest: `. script` in the shell SSH starts; in a warm
        guest not checked yet, behind its health check (warm.gated): warm.Refused when it fails or does not answer
        within GATE_TIMEOUT_S, and the round did not run."""
        assert self.running is not None and self.channel is not None
        running, channel = self.running, self.channel

        def run(script: Path, timeout_s: float, on_tick: Callable[[], object]) -> guest.GuestExit:
            command = f". {shlex.quote(str(script))}"  # read by the session's shell: one program fewer
            if self.unchecked is None:
                done = channel.run(command, timeout_s, on_tick)
                return guest.GuestExit(done.exit_status, done.timed_out, done.elapsed_s, running.console)
            ok, start = script.with_name("health.ok"), time.monotonic()

            def tick() -> None:
                if not ok.exists() and time.monotonic() - start > warm.GATE_TIMEOUT_S:
                    raise warm.Refused("it does not answer")
                on_tick()

            done = channel.run(warm.gated(command, ok), timeout_s, tick)
            if not ok.exists():
                raise warm.Refused(warm.problem_in(done.output) or f"its health check failed: {done.output.strip()!r}")
            self.unchecked = None
            return guest.GuestExit(done.exit_status, done.timed_out, done.elapsed_s, running.console)
        return run

    def refuse(self, why: str) -> None:
        """The warm guest's check refused it (warm.Refused): stop and forget it; the next get() finds or boots another."""
        assert self.unchecked is not None and self.hold is not None
        entry, hold, channel = self.unchecked, self.hold, self.channel
        self.unchecked = self.hold = self.channel = self.running = None
        self._drop(entry, hold, channel, why)

    def hold_for(self, seconds: float) -> None:
        """A kept guest's watchdog must not stop it while a subtest runs in it."""
        if self.settings.keep_guest and self.running is not None:
            guest.set_idle_deadline(self.running.shared_dir, self.settings.idle_timeout + seconds)

    def close(self, keep: bool | None = None) -> None:
        """Stop the guest, or (--keep-guest) leave it running and registered for the next run."""
        s = self.settings
        keep = s.keep_guest if keep is None else keep
        if self.channel is not None:
            self.channel.close()
            self.channel = None
        if self.running is not None:
            if keep and self.running.alive():
                guest.set_idle_deadline(self.running.shared_dir, s.idle_timeout)
                with locked(s.cache_dir, "guests"):
                    warm.registered(s.cache_dir, self.running, s.idle_timeout, self.booted_at)
                self.say(f"guest kept for the next run on port {self.running.port}; it stops after "
                         f"{s.idle_timeout:.0f} s unused (python -m harness guests stop)")
            else:
                self.running.stop()
            self.running = None
        if self.hold is not None:
            self.hold.close()
            self.hold = None
        self.unchecked = None

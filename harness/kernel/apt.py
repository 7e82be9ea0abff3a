"""Download Debian packages from other suites without touching the host's apt set-up.

The host's apt sources name the mirror it trusts; we reuse that mirror for other
suites (trixie-backports, sid ...) through a private apt state under the harness
cache. The host's sources, pins and installed packages are never changed, so no
package of another release can be pulled onto the host: we only `apt-get download`
and unpack with `dpkg-deb -x`.
"""
from __future__ import annotations

import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from harness import proc as procs
from harness.errors import InfraError

HOST_SOURCES = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
LISTS_MAX_AGE_S = 24 * 3600


@dataclass(frozen=True)
class Mirror:
    uri: str
    signed_by: str | None


def _deb822_stanzas(text: str) -> list[dict[str, str]]:
    stanzas = []
    for block in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            if line.startswith("#") or ":" not in line or line[:1].isspace():
                continue
            key, _, value = line.partition(":")
            fields[key.strip().lower()] = value.strip()
        if fields:
            stanzas.append(fields)
    return stanzas


def _one_line_entries(text: str) -> list[dict[str, str]]:
    entries = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        m = re.match(r"^deb\s+(?:\[(?P<opts>[^\]]*)\]\s+)?(?P<uri>\S+)\s+(?P<suite>\S+)\s+(?P<comps>.*)$", line)
        if not m:
            continue
        entry = {"types": "deb", "uris": m["uri"], "suites": m["suite"], "components": m["comps"]}
        for opt in (m["opts"] or "").split():
            key, _, value = opt.partition("=")
            if key == "signed-by":
                entry["signed-by"] = value
        entries.append(entry)
    return entries


def host_mirror(sources: list[Path] | None = None) -> Mirror:
    """The mirror serving the host's main Debian archive (not its security archive)."""
    for path in sources if sources is not None else HOST_SOURCES:
        if not path.is_file():
            continue
        text = path.read_text(errors="replace")
        if path.suffix == ".sources":
            entries = _deb822_stanzas(text)
        elif path.suffix == ".list":
            entries = _one_line_entries(text)
        else:
            continue
        for e in entries:
            if e.get("enabled", "yes").lower() == "no" or "deb" not in e.get("types", "").split():
                continue
            suites = e.get("suites", "").split()
            if "main" not in e.get("components", "").split():
                continue
            if any(s.endswith("-security") for s in suites) or not suites:
                continue
            uri = e.get("uris", "").split()[0] if e.get("uris") else ""
            if uri.startswith(("http://", "https://", "file:", "mirror+")) and "/debian" in uri:
                return Mirror(uri=uri, signed_by=e.get("signed-by"))
    raise InfraError(
        "no Debian mirror found in the host's apt sources (/etc/apt/sources.list*): "
        "the default kernel comes from Debian's archive; add a Debian source or pass a kernel image"
    )


class PrivateApt:
    """An apt state of our own, for suites the host does not use."""

    def __init__(self, root: Path, suites: list[str], mirror: Mirror | None = None) -> None:
        self.root = root
        self.suites = sorted(set(suites))
        self.mirror = mirror or host_mirror()

    def _options(self) -> list[str]:
        r = self.root
        opts = {
            "Dir::Etc::SourceList": r / "sources.list",
            "Dir::Etc::SourceParts": r / "sources.list.d",
            "Dir::Etc::Preferences": r / "preferences",
            "Dir::Etc::PreferencesParts": r / "preferences.d",
            "Dir::State::Lists": r / "lists",
            "Dir::State::status": r / "status",
            "Dir::Cache": r / "cache",
            "APT::Sandbox::User": "root",
        }
        return [arg for k, v in opts.items() for arg in ("-o", f"{k}={v}")]

    def _write_sources(self) -> bool:
        for sub in ("sources.list.d", "preferences.d", "lists/partial", "cache/archives/partial"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        (self.root / "status").touch()
        signed = f"[signed-by={self.mirror.signed_by}] " if self.mirror.signed_by else ""
        text = "".join(f"deb {signed}{self.mirror.uri} {s} main\n" for s in self.suites)
        path = self.root / "sources.list"
        changed = not path.exists() or path.read_text() != text
        if changed:
            path.write_text(text)
        return changed

    def update(self, force: bool = False) -> None:
        changed = self._write_sources()
        stamp = self.root / "lists" / ".updated"
        if not force and not changed and stamp.exists() and time.time() - stamp.stat().st_mtime < LISTS_MAX_AGE_S:
            return
        self._apt("apt-get", "update")
        stamp.touch()

    def download(self, packages: list[str], version: str, dest: Path) -> list[Path]:
        """Fetch `package=version` .debs into dest (kept: a second call downloads nothing)."""
        dest.mkdir(parents=True, exist_ok=True)
        wanted = {p: next(iter(dest.glob(f"{p}_*.deb")), None) for p in packages}
        missing = [p for p, deb in wanted.items() if deb is None]
        if missing:
            self.update()
            # into a directory of its own, moved beside the others only when whole: a killed
            # download leaves no truncated .deb that a later run would take for a good one
            partial = Path(tempfile.mkdtemp(prefix=".download-", dir=dest))
            try:
                try:
                    self._apt("apt-get", "download", *(f"{p}={version}" for p in missing), cwd=partial)
                except InfraError:
                    self.update(force=True)  # lists may be older than the archive
                    self._apt("apt-get", "download", *(f"{p}={version}" for p in missing), cwd=partial)
                for deb in partial.glob("*.deb"):
                    deb.rename(dest / deb.name)
            finally:
                shutil.rmtree(partial, ignore_errors=True)
        debs = []
        for p in packages:
            found = sorted(dest.glob(f"{p}_*.deb"))
            if not found:
                raise InfraError(f"apt-get download gave no .deb for {p}={version} in {dest}")
            debs.append(found[-1])
        return debs

    def _apt(self, *cmd: str, cwd: Path | None = None) -> None:
        returncode, out = procs.run([cmd[0], *self._options(), *cmd[1:]], cwd=cwd)  # dies with the harness
        if returncode != 0:
            tail = "\n".join(out.decode(errors="replace").strip().splitlines()[-5:])
            raise InfraError(f"{' '.join(cmd[:2])} failed (suites {', '.join(self.suites)}):\n{tail}")

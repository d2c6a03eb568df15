"""Can Qt open a window here? The xcb platform plugin's system libraries, checked before Qt starts.

PySide6 ships Qt but not the X11 helper libraries its ``xcb`` platform plugin links against
(``libxcb-cursor0``, ``libxcb-icccm4``, ``libxcb-keysyms1``...). When one is missing, Qt prints
"Could not load the Qt platform plugin "xcb" ... even though it was found" and aborts the process
(exit 134, a core dump): nothing in Python can catch it. So ``seefood app`` and ``seefood demo``
look first: on Linux, when Qt would use xcb (``QT_QPA_PLATFORM`` unset or ``xcb``, a ``DISPLAY``,
no Wayland session), they list the shared libraries of ``libqxcb.so`` and ``libQt6XcbQpa.so.6``
that the dynamic loader cannot find, and name the packages that provide them.

How: ``ldd`` (part of glibc's libc-bin, so present on every glibc system; no binutils needed)
reports ``NAME => not found`` for each missing library, transitively. Without a working ``ldd``
the ``DT_NEEDED`` entries are read from the ELF files themselves and each library is opened with
``ctypes.CDLL`` (the loader's own answer). When neither works, or the plugin is not found, the
check says nothing and Qt is left to try.

No PySide6, no Qt and no TensorFlow are imported here.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import re
import shutil
import struct
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from seefood.errors import InputError

PLUGIN_NAME = "libqxcb.so"
QPA_LIBRARY = "libQt6XcbQpa.so.6"
LDD_TIMEOUT_S = 15

# soname -> (Debian/Ubuntu, Fedora, Arch) package. The xcb-util family is split differently on each.
PACKAGES: dict[str, tuple[str, str, str]] = {
    "libxcb-cursor.so.0": ("libxcb-cursor0", "xcb-util-cursor", "xcb-util-cursor"),
    "libxcb-icccm.so.4": ("libxcb-icccm4", "xcb-util-wm", "xcb-util-wm"),
    "libxcb-keysyms.so.1": ("libxcb-keysyms1", "xcb-util-keysyms", "xcb-util-keysyms"),
    "libxcb-image.so.0": ("libxcb-image0", "xcb-util-image", "xcb-util-image"),
    "libxcb-render-util.so.0": ("libxcb-render-util0", "xcb-util-renderutil", "xcb-util-renderutil"),
    "libxcb-util.so.1": ("libxcb-util1", "xcb-util", "xcb-util"),
    "libxcb-xkb.so.1": ("libxcb-xkb1", "libxcb", "libxcb"),
    "libxcb-shape.so.0": ("libxcb-shape0", "libxcb", "libxcb"),
    "libxcb-randr.so.0": ("libxcb-randr0", "libxcb", "libxcb"),
    "libxcb-xinerama.so.0": ("libxcb-xinerama0", "libxcb", "libxcb"),
    "libxcb-xinput.so.0": ("libxcb-xinput0", "libxcb", "libxcb"),
    "libxcb-shm.so.0": ("libxcb-shm0", "libxcb", "libxcb"),
    "libxcb-sync.so.1": ("libxcb-sync1", "libxcb", "libxcb"),
    "libxcb-xfixes.so.0": ("libxcb-xfixes0", "libxcb", "libxcb"),
    "libxcb-render.so.0": ("libxcb-render0", "libxcb", "libxcb"),
    "libxcb-glx.so.0": ("libxcb-glx0", "libxcb", "libxcb"),
    "libxcb.so.1": ("libxcb1", "libxcb", "libxcb"),
    "libxkbcommon-x11.so.0": ("libxkbcommon-x11-0", "libxkbcommon-x11", "libxkbcommon-x11"),
    "libxkbcommon.so.0": ("libxkbcommon0", "libxkbcommon", "libxkbcommon"),
    "libX11-xcb.so.1": ("libx11-xcb1", "libX11-xcb", "libx11"),
    "libX11.so.6": ("libx11-6", "libX11", "libx11"),
    "libSM.so.6": ("libsm6", "libSM", "libsm"),
    "libICE.so.6": ("libice6", "libICE", "libice"),
    "libGL.so.1": ("libgl1", "libglvnd-glx", "libglvnd"),
    "libEGL.so.1": ("libegl1", "libglvnd-egl", "libglvnd"),
    "libOpenGL.so.0": ("libopengl0", "libglvnd-opengl", "libglvnd"),
    "libfontconfig.so.1": ("libfontconfig1", "fontconfig", "fontconfig"),
    "libfreetype.so.6": ("libfreetype6", "freetype", "freetype2"),
    "libglib-2.0.so.0": ("libglib2.0-0", "glib2", "glib2"),
    "libgthread-2.0.so.0": ("libglib2.0-0", "glib2", "glib2"),
    "libdbus-1.so.3": ("libdbus-1-3", "dbus-libs", "dbus"),
}
DISTROS = (  # (name shown, os-release family, install command)
    ("Debian/Ubuntu", "debian", "sudo apt-get install"),
    ("Fedora", "fedora", "sudo dnf install"),
    ("Arch", "arch", "sudo pacman -S --needed"),
)
LOOKUP = {  # how to find the package of a library this table does not know
    "debian": "apt-file search {}",
    "fedora": "dnf provides '*/{}'",
    "arch": "pacman -F {}",
}
# Libraries that come inside the PySide6 wheel, not from the system.
BUNDLED = re.compile(r"^lib(Qt6|icu|pyside6|shiboken6)")
_NOT_FOUND = re.compile(r"^\s*(\S+)\s+=>\s+not found\s*$")
_DLOPEN_MISSING = re.compile(r"^(\S+?): cannot open shared object file")


@dataclass
class PlatformCheck:
    """What was checked and what is missing (sonames, in the order the loader needs them)."""

    plugin: Path
    missing: list[str] = field(default_factory=list)
    method: str = "ldd"

    @property
    def ok(self) -> bool:
        return not self.missing

    def message(self, family: str | None = None) -> str:
        return missing_message(self.missing, self.plugin, family)


class QtPlatformError(InputError):
    """Qt's window plugin cannot load here; the message lists the libraries and how to install them."""


# ----------------------------------------------------------------------------- when to check


def uses_xcb(environ=None, platform: str | None = None) -> bool:
    """True when Qt would start its xcb (X11) platform plugin: Linux, a DISPLAY, and either
    ``QT_QPA_PLATFORM=xcb`` or no platform asked for and no Wayland session (there Qt picks wayland)."""
    environ = os.environ if environ is None else environ
    platform = sys.platform if platform is None else platform
    if not platform.startswith("linux") or not environ.get("DISPLAY"):
        return False
    asked = environ.get("QT_QPA_PLATFORM", "").strip()
    if asked:
        return asked.split(":")[0].split(";")[0] == "xcb"
    wayland = environ.get("WAYLAND_DISPLAY") and environ.get("XDG_SESSION_TYPE", "").lower() == "wayland"
    return not wayland


def find_xcb_plugin(environ=None) -> Path | None:
    """PySide6's ``Qt/plugins/platforms/libqxcb.so`` (or the one in ``QT_QPA_PLATFORM_PLUGIN_PATH``)."""
    environ = os.environ if environ is None else environ
    folders = []
    if environ.get("QT_QPA_PLATFORM_PLUGIN_PATH"):
        folders.append(Path(environ["QT_QPA_PLATFORM_PLUGIN_PATH"]))
    try:
        spec = importlib.util.find_spec("PySide6")
    except (ImportError, ValueError):
        spec = None
    for location in (spec.submodule_search_locations or []) if spec else []:
        folders.append(Path(location) / "Qt" / "plugins" / "platforms")
    frozen = getattr(sys, "_MEIPASS", None)  # a PyInstaller app
    if frozen:
        folders.append(Path(frozen) / "PySide6" / "Qt" / "plugins" / "platforms")
    for folder in folders:
        if (folder / PLUGIN_NAME).is_file():
            return folder / PLUGIN_NAME
    return None


def qpa_library(plugin: Path) -> Path | None:
    """``libQt6XcbQpa.so.6`` beside the plugin's Qt libraries (``platforms/../../lib``), if there."""
    candidate = plugin.parent.parent.parent / "lib" / QPA_LIBRARY
    return candidate if candidate.is_file() else None


# ----------------------------------------------------------------------------- ldd


def parse_ldd(output: str) -> list[str]:
    """The libraries ``ldd`` reports as ``NAME => not found``, each once, in order."""
    missing = []
    for line in output.splitlines():
        match = _NOT_FOUND.match(line)
        if match and match.group(1) not in missing:
            missing.append(match.group(1))
    return missing


def ldd_missing(paths: list[Path], ldd: str | None = None, runner=subprocess.run) -> list[str] | None:
    """Missing libraries of ``paths`` according to ``ldd``; None when ``ldd`` is absent or fails."""
    ldd = ldd or shutil.which("ldd")
    if not ldd:
        return None
    missing: list[str] = []
    for path in paths:
        try:
            result = runner([ldd, str(path)], capture_output=True, text=True, timeout=LDD_TIMEOUT_S,
                            errors="replace")
        except (OSError, subprocess.SubprocessError):
            return None
        if result.returncode != 0 and "not found" not in result.stdout:
            return None  # "not a dynamic executable", a foreign architecture...
        missing += [name for name in parse_ldd(result.stdout) if name not in missing]
    return missing


# ----------------------------------------------------------------------------- without ldd: ELF + dlopen


def elf_dynamic(path: Path) -> tuple[list[str], list[str]]:
    """(DT_NEEDED names, DT_RUNPATH/DT_RPATH folders) of an ELF shared object, read from its file.

    Raises ValueError for a file that is not a readable ELF shared object.
    """
    data = Path(path).read_bytes()
    if data[:4] != b"\x7fELF" or data[4] not in (1, 2) or data[5] not in (1, 2):
        raise ValueError(f"{path}: not an ELF file")
    is64 = data[4] == 2
    end = "<" if data[5] == 1 else ">"
    try:
        if is64:
            shoff, = struct.unpack_from(end + "Q", data, 0x28)
            shentsize, shnum = struct.unpack_from(end + "HH", data, 0x3A)
        else:
            shoff, = struct.unpack_from(end + "I", data, 0x20)
            shentsize, shnum = struct.unpack_from(end + "HH", data, 0x2E)
        sections = []
        for i in range(shnum):
            at = shoff + i * shentsize
            if is64:
                _, kind, _, _, offset, size, link, _, _, entsize = struct.unpack_from(end + "IIQQQQIIQQ", data, at)
            else:
                _, kind, _, _, offset, size, link, _, _, entsize = struct.unpack_from(end + "IIIIIIIIII", data, at)
            sections.append((kind, offset, size, link, entsize))
        needed, paths = [], []
        for kind, offset, size, link, entsize in sections:
            if kind != 6:  # SHT_DYNAMIC
                continue
            _, str_offset, str_size, _, _ = sections[link]
            strings = data[str_offset:str_offset + str_size]
            entry = entsize or (16 if is64 else 8)
            for at in range(offset, offset + size, entry):
                tag, value = struct.unpack_from(end + ("qQ" if is64 else "iI"), data, at)
                if tag == 0:  # DT_NULL
                    break
                if tag in (1, 15, 29):  # DT_NEEDED, DT_RPATH, DT_RUNPATH
                    text = strings[value:strings.index(b"\0", value)].decode("utf-8", "replace")
                    (needed if tag == 1 else paths).append(text)
        return needed, [p for entry in paths for p in entry.split(":") if p]
    except (struct.error, IndexError, ValueError) as error:
        raise ValueError(f"{path}: cannot read its dynamic section ({error})") from error


def _dlopen_missing(name: str, loader=ctypes.CDLL) -> str | None:
    """None when the loader opens ``name``; else the library it could not find (``name`` or one it needs)."""
    try:
        loader(name)
        return None
    except OSError as error:
        match = _DLOPEN_MISSING.match(str(error))
        return Path(match.group(1)).name if match else name


def elf_missing(paths: list[Path], loader=ctypes.CDLL) -> list[str] | None:
    """Missing libraries found by reading DT_NEEDED and opening each system library with the loader.

    Libraries found in the object's own RUNPATH (Qt's, inside the wheel) are followed into their
    own DT_NEEDED instead of being opened. None when a file cannot be read as ELF.
    """
    missing: list[str] = []
    seen = {Path(path).name for path in paths}
    queue = [Path(path).resolve() for path in paths]
    while queue:
        path = queue.pop(0)
        try:
            needed, runpath = elf_dynamic(path)
        except (OSError, ValueError):
            return None
        folders = [Path(p.replace("$ORIGIN", str(path.parent)).replace("${ORIGIN}", str(path.parent)))
                   for p in runpath]
        for name in needed:
            if name in seen:
                continue
            seen.add(name)
            local = next((folder / name for folder in folders if (folder / name).is_file()), None)
            if local is not None:
                queue.append(local.resolve())
                continue
            lost = _dlopen_missing(name, loader)
            if lost and lost not in missing:
                missing.append(lost)
    return missing


# ----------------------------------------------------------------------------- the check


def check_plugin(plugin: Path, ldd: str | None = None, runner=subprocess.run, loader=ctypes.CDLL) -> PlatformCheck:
    """The missing libraries of ``plugin`` and of ``libQt6XcbQpa`` (ldd first, then ELF + dlopen)."""
    paths = [plugin] + ([qpa] if (qpa := qpa_library(plugin)) else [])
    missing = ldd_missing(paths, ldd, runner)
    if missing is not None:
        return PlatformCheck(plugin, missing, "ldd")
    missing = elf_missing(paths, loader)
    if missing is not None:
        return PlatformCheck(plugin, missing, "dlopen")
    return PlatformCheck(plugin, [], "unchecked")


def check(environ=None, platform: str | None = None) -> PlatformCheck | None:
    """The xcb plugin's libraries when Qt would use it here; None when there is nothing to check."""
    if not uses_xcb(environ, platform):
        return None
    plugin = find_xcb_plugin(environ)
    return check_plugin(plugin) if plugin else None


def window_problem(environ=None, platform: str | None = None) -> str | None:
    """The message to show instead of letting Qt abort, or None when a window can be tried."""
    result = check(environ, platform)
    if result is None or result.ok:
        return None
    return result.message(os_family())


def ensure_window_can_open(environ=None, platform: str | None = None) -> None:
    """Raise QtPlatformError (``seefood app`` prints it and exits 2) when the xcb plugin cannot load."""
    problem = window_problem(environ, platform)
    if problem:
        raise QtPlatformError(problem)


# ----------------------------------------------------------------------------- the message


def os_family(os_release: str | None = None) -> str | None:
    """"debian", "fedora" or "arch" from /etc/os-release (``ID`` and ``ID_LIKE``), or None."""
    if os_release is None:
        try:
            os_release = Path("/etc/os-release").read_text(encoding="utf-8", errors="replace")[:10000]
        except OSError:
            return None
    ids = []
    for line in os_release.splitlines():
        key, _, value = line.partition("=")
        if key.strip() in ("ID", "ID_LIKE"):
            ids += value.strip().strip("\"'").lower().split()
    for family, aliases in (("debian", {"debian", "ubuntu"}), ("fedora", {"fedora", "rhel", "centos"}),
                            ("arch", {"arch", "archlinux"})):
        if aliases & set(ids):
            return family
    return None


def install_commands(missing: list[str], family: str | None = None) -> list[str]:
    """One line per distribution (this system's first) installing the packages of ``missing``.

    Libraries the table does not know get the distribution's own look-up command instead.
    """
    system = [name for name in missing if not BUNDLED.match(name)]
    order = sorted(DISTROS, key=lambda d: d[1] != family)
    lines = []
    for index, (shown, key, command) in enumerate(order):
        column = [d[1] for d in DISTROS].index(key)
        packages = []
        for name in system:
            package = PACKAGES.get(name, (None, None, None))[column]
            if package and package not in packages:
                packages.append(package)
        unknown = [name for name in system if name not in PACKAGES]
        parts = [f"{command} {' '.join(packages)}"] if packages else []
        parts += [f"find the package of {name}: {LOOKUP[key].format(name)}" for name in unknown]
        mark = " (this system)" if key == family else ""
        lines.append(f"  {shown}{mark}: " + "; ".join(parts))
    return lines


def missing_message(missing: list[str], plugin: Path | None = None, family: str | None = None) -> str:
    """One error naming the missing libraries and how to install them on the common distributions."""
    system = [name for name in missing if not BUNDLED.match(name)]
    bundled = [name for name in missing if BUNDLED.match(name)]
    where = f" ({plugin})" if plugin else ""
    names = missing[0] if len(missing) == 1 else ", ".join(missing[:-1]) + " and " + missing[-1]
    text = (f"Qt cannot open a window: its X11 platform plugin xcb{where} needs {names}, which "
            f"{'is' if len(missing) == 1 else 'are'} not installed (Qt would abort with \"Could not load "
            f"the Qt platform plugin xcb\").")
    if system:
        text += " Install " + ("it" if len(system) == 1 else "them") + ", then run again:\n"
        text += "\n".join(install_commands(system, family))
    if bundled:
        text += (f"\n  {', '.join(bundled)} come{'s' if len(bundled) == 1 else ''} with PySide6: "
                 "reinstall it (pip install --force-reinstall PySide6-Essentials)")
    text += "\nWithout a window, QT_QPA_PLATFORM=offscreen runs the app headless (with --exit-after SECONDS)."
    return text

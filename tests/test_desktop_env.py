"""The desktop's environment: Qt's xcb plugin libraries checked before Qt starts (so a missing
X11 library is one message and exit 2, not a core dump, and the demo falls back to offscreen),
and capture buttons that keep long class names readable."""

from __future__ import annotations

import gc
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from demogen import commands as demo_commands
from desktop import qtplatform
from desktop.qtplatform import PlatformCheck
from seefood import cli

LDD_OUTPUT = """\
\tlinux-vdso.so.1 (0x00007ffd5b9f2000)
\tlibQt6XcbQpa.so.6 => /venv/PySide6/Qt/plugins/platforms/../../lib/libQt6XcbQpa.so.6 (0x00007f0a1c000000)
\tlibxcb-cursor.so.0 => /lib/x86_64-linux-gnu/libxcb-cursor.so.0 (0x00007f0a1bf00000)
\tlibxcb-icccm.so.4 => not found
\tlibxcb-util.so.1 => /lib/x86_64-linux-gnu/libxcb-util.so.1 (0x00007f0a1be00000)
\tlibxcb-keysyms.so.1 => not found
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f0a1b800000)
\tlibxcb-icccm.so.4 => not found
\t/lib64/ld-linux-x86-64.so.2 (0x00007f0a1c400000)
"""
MISSING = ["libxcb-icccm.so.4", "libxcb-keysyms.so.1"]
LONG_CLASSES = ["beet_salad_with_goat_cheese", "breakfast_burrito_supreme", "chicken_quesadilla_deluxe",
                "eggs_benedict_royale", "hot_and_sour_soup_of_the_day"]


def fake_pyside(root: Path, with_qpa: bool = True) -> Path:
    """root/PySide6/Qt/plugins/platforms/libqxcb.so (and Qt/lib/libQt6XcbQpa.so.6); returns the plugin."""
    platforms = root / "PySide6" / "Qt" / "plugins" / "platforms"
    platforms.mkdir(parents=True)
    (platforms / "libqxcb.so").write_bytes(b"\x7fELF fake")
    if with_qpa:
        (root / "PySide6" / "Qt" / "lib").mkdir()
        (root / "PySide6" / "Qt" / "lib" / "libQt6XcbQpa.so.6").write_bytes(b"\x7fELF fake")
    return platforms / "libqxcb.so"


def ldd_runner(outputs: dict[str, str], calls: list | None = None, returncode: int = 0):
    """A stand-in for subprocess.run answering ``ldd PATH`` with ``outputs[file name]``."""
    def run(command, **kwargs):
        if calls is not None:
            calls.append(command)
        return SimpleNamespace(returncode=returncode, stdout=outputs.get(Path(command[-1]).name, ""), stderr="")
    return run


# ----------------------------------------------------------------------------- finding what is missing


def test_ldd_output_gives_the_missing_libraries_once_in_order():
    assert qtplatform.parse_ldd(LDD_OUTPUT) == MISSING
    assert qtplatform.parse_ldd("\tstatically linked\n") == []
    assert qtplatform.parse_ldd("") == []


def test_plugin_and_qpa_library_are_both_checked(tmp_path):
    plugin = fake_pyside(tmp_path)
    calls = []
    runner = ldd_runner({"libqxcb.so": LDD_OUTPUT,
                         "libQt6XcbQpa.so.6": "\tlibxcb-image.so.0 => not found\n\tlibxcb-icccm.so.4 => not found\n"},
                        calls)
    result = qtplatform.check_plugin(plugin, ldd="/usr/bin/ldd", runner=runner)
    assert [Path(c[-1]).name for c in calls] == ["libqxcb.so", "libQt6XcbQpa.so.6"]
    assert result.method == "ldd" and not result.ok
    assert result.missing == MISSING + ["libxcb-image.so.0"]


def test_nothing_missing_is_ok(tmp_path):
    plugin = fake_pyside(tmp_path, with_qpa=False)
    result = qtplatform.check_plugin(plugin, ldd="/usr/bin/ldd", runner=ldd_runner({"libqxcb.so": ""}))
    assert result.ok and result.missing == []


def test_without_ldd_the_elf_entries_are_opened_with_the_loader(tmp_path, monkeypatch):
    plugin = fake_pyside(tmp_path)
    qpa = qtplatform.qpa_library(plugin)
    needed = {plugin.resolve(): (["libQt6XcbQpa.so.6", "libxcb-icccm.so.4", "libc.so.6"], ["$ORIGIN/../../lib"]),
              qpa.resolve(): (["libxcb-keysyms.so.1", "libxcb-image.so.0", "libxcb-icccm.so.4"], ["$ORIGIN"])}
    monkeypatch.setattr(qtplatform, "elf_dynamic", lambda path: needed[Path(path).resolve()])
    monkeypatch.setattr(qtplatform.shutil, "which", lambda name: None)  # no ldd on this system
    opened = []

    def loader(name):
        opened.append(name)
        if name == "libxcb-image.so.0":  # present, but needs a library that is not
            raise OSError("libxcb-util.so.1: cannot open shared object file: No such file or directory")
        if name in MISSING:
            raise OSError(f"{name}: cannot open shared object file: No such file or directory")

    result = qtplatform.check_plugin(plugin, loader=loader)
    assert result.method == "dlopen"
    assert result.missing == ["libxcb-icccm.so.4", "libxcb-keysyms.so.1", "libxcb-util.so.1"]
    assert "libQt6XcbQpa.so.6" not in opened  # Qt's own library is followed in its folder, not opened
    assert opened.count("libxcb-icccm.so.4") == 1


def test_a_failing_ldd_falls_back_and_an_unreadable_plugin_is_left_to_qt(tmp_path):
    plugin = fake_pyside(tmp_path, with_qpa=False)
    runner = ldd_runner({"libqxcb.so": "\tnot a dynamic executable\n"}, returncode=1)
    result = qtplatform.check_plugin(plugin, ldd="/usr/bin/ldd", runner=runner, loader=lambda name: None)
    assert result.method == "unchecked" and result.ok  # the fake plugin is no ELF file: Qt decides

    def missing_ldd(command, **kwargs):
        raise FileNotFoundError(command[0])

    assert qtplatform.ldd_missing([plugin], ldd="/nowhere/ldd", runner=missing_ldd) is None


def test_elf_reader_finds_the_needed_libraries_of_the_real_plugin():
    plugin = qtplatform.find_xcb_plugin({})
    if plugin is None:
        pytest.skip("PySide6 has no xcb plugin here")
    needed, runpath = qtplatform.elf_dynamic(plugin)
    assert "libxcb-icccm.so.4" in needed and "libQt6XcbQpa.so.6" in needed
    assert runpath == ["$ORIGIN/../../lib"]
    with pytest.raises(ValueError):
        qtplatform.elf_dynamic(Path(__file__))


def test_the_plugin_is_found_in_pyside6_or_the_plugin_path(tmp_path, monkeypatch):
    plugin = fake_pyside(tmp_path / "site")
    spec = SimpleNamespace(submodule_search_locations=[str(tmp_path / "site" / "PySide6")])
    monkeypatch.setattr(qtplatform.importlib.util, "find_spec", lambda name: spec)
    assert qtplatform.find_xcb_plugin({}) == plugin
    other = fake_pyside(tmp_path / "other")
    assert qtplatform.find_xcb_plugin({"QT_QPA_PLATFORM_PLUGIN_PATH": str(other.parent)}) == other
    monkeypatch.setattr(qtplatform.importlib.util, "find_spec", lambda name: None)
    assert qtplatform.find_xcb_plugin({}) is None


@pytest.mark.parametrize("environ, platform, expected", [
    ({"DISPLAY": ":0"}, "linux", True),
    ({"DISPLAY": ":0", "QT_QPA_PLATFORM": "xcb"}, "linux", True),
    ({"DISPLAY": ":0", "QT_QPA_PLATFORM": "offscreen"}, "linux", False),
    ({"DISPLAY": ":0", "QT_QPA_PLATFORM": "wayland"}, "linux", False),
    ({}, "linux", False),
    ({"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0", "XDG_SESSION_TYPE": "wayland"}, "linux", False),
    ({"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0", "XDG_SESSION_TYPE": "wayland",
      "QT_QPA_PLATFORM": "xcb"}, "linux", True),
    ({"DISPLAY": ":0"}, "darwin", False),
    ({"DISPLAY": ":0"}, "win32", False),
])
def test_only_an_xcb_start_is_checked(environ, platform, expected):
    assert qtplatform.uses_xcb(environ, platform) is expected


# ----------------------------------------------------------------------------- what the user is told


@pytest.mark.parametrize("os_release, family", [
    ('ID=debian\nVERSION_ID="12"\n', "debian"),
    ('ID=ubuntu\nID_LIKE=debian\n', "debian"),
    ('ID=fedora\n', "fedora"),
    ('ID="rocky"\nID_LIKE="rhel centos fedora"\n', "fedora"),
    ('ID=arch\n', "arch"),
    ('ID=manjaro\nID_LIKE=arch\n', "arch"),
    ('ID=opensuse-tumbleweed\nID_LIKE="opensuse suse"\n', None),
    ('', None),
])
def test_the_distribution_family_comes_from_os_release(os_release, family):
    assert qtplatform.os_family(os_release) == family


def test_missing_libraries_map_to_each_distributions_packages():
    lines = qtplatform.install_commands(MISSING + ["libxcb-cursor.so.0", "libxkbcommon-x11.so.0"], "debian")
    assert lines[0] == ("  Debian/Ubuntu (this system): sudo apt-get install libxcb-icccm4 libxcb-keysyms1 "
                        "libxcb-cursor0 libxkbcommon-x11-0")
    assert lines[1] == "  Fedora: sudo dnf install xcb-util-wm xcb-util-keysyms xcb-util-cursor libxkbcommon-x11"
    assert lines[2] == ("  Arch: sudo pacman -S --needed xcb-util-wm xcb-util-keysyms xcb-util-cursor "
                        "libxkbcommon-x11")
    # The same package once, however many of its libraries are missing; this system's line first.
    lines = qtplatform.install_commands(["libxcb-shape.so.0", "libxcb-randr.so.0", "libxcb-xinerama.so.0"], "arch")
    assert lines[0] == "  Arch (this system): sudo pacman -S --needed libxcb"
    assert "sudo apt-get install libxcb-shape0 libxcb-randr0 libxcb-xinerama0" in lines[1]


def test_an_unknown_library_gets_each_distributions_lookup_command():
    text = qtplatform.missing_message(["libxcb-icccm.so.4", "libweird.so.7"], None, None)
    assert ("sudo apt-get install libxcb-icccm4; find the package of libweird.so.7: "
            "apt-file search libweird.so.7") in text
    assert "dnf provides '*/libweird.so.7'" in text and "pacman -F libweird.so.7" in text


def test_the_message_names_the_libraries_the_fix_and_the_plugin():
    text = qtplatform.missing_message(MISSING, Path("/venv/libqxcb.so"), "debian")
    first = text.splitlines()[0]
    assert "libxcb-icccm.so.4 and libxcb-keysyms.so.1, which are not installed" in first
    assert "/venv/libqxcb.so" in first and "Could not load the Qt platform plugin" in first
    assert "sudo apt-get install libxcb-icccm4 libxcb-keysyms1" in text
    assert "QT_QPA_PLATFORM=offscreen" in text
    bundled = qtplatform.missing_message(["libQt6Gui.so.6"])
    assert "reinstall" in bundled and "apt-get" not in bundled


# ----------------------------------------------------------------------------- seefood app and seefood demo


@pytest.fixture
def x11_without_libraries(monkeypatch, tmp_path):
    """A Linux display whose xcb plugin lacks two libraries (as on the Debian 12 box of the issue)."""
    if not sys.platform.startswith("linux"):
        pytest.skip("the xcb plugin is Linux only")
    for name in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY", "XDG_SESSION_TYPE", "QT_QPA_PLATFORM_PLUGIN_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DISPLAY", ":99")
    plugin = fake_pyside(tmp_path / "site")
    monkeypatch.setattr(qtplatform, "find_xcb_plugin", lambda environ=None: plugin)
    monkeypatch.setattr(qtplatform, "check_plugin", lambda path: PlatformCheck(path, list(MISSING)))
    monkeypatch.setattr(qtplatform, "os_family", lambda os_release=None: "debian")
    return plugin


def test_app_exits_2_with_the_libraries_and_the_fix_before_qt_starts(x11_without_libraries, monkeypatch, capsys):
    import desktop.app

    def must_not_start(*args, **kwargs):
        raise AssertionError("Qt was started")

    monkeypatch.setattr(desktop.app, "run_app", must_not_start)
    assert cli.main(["app", "--source", "nothing.avi"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Qt cannot open a window")
    assert err.count("error:") == 1
    assert "libxcb-icccm.so.4 and libxcb-keysyms.so.1" in err
    assert "sudo apt-get install libxcb-icccm4 libxcb-keysyms1" in err
    assert "sudo dnf install xcb-util-wm xcb-util-keysyms" in err
    assert "sudo pacman -S --needed xcb-util-wm xcb-util-keysyms" in err


def test_app_starts_qt_when_the_libraries_are_there(x11_without_libraries, monkeypatch):
    import desktop.app

    monkeypatch.setattr(qtplatform, "check_plugin", lambda path: PlatformCheck(path, []))
    monkeypatch.setattr(desktop.app, "run_app", lambda args, started_at=None: 0)
    assert cli.main(["app", "--source", "nothing.avi"]) == 0


def test_app_offscreen_is_not_checked(monkeypatch):
    import desktop.app

    monkeypatch.setenv("DISPLAY", ":99")
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    monkeypatch.setattr(qtplatform, "check_plugin", lambda path: pytest.fail("checked an offscreen start"))
    monkeypatch.setattr(desktop.app, "run_app", lambda args, started_at=None: 0)
    assert cli.main(["app", "--source", "nothing.avi"]) == 0


def test_demo_mode_falls_back_to_offscreen_when_the_window_cannot_open():
    display = {"DISPLAY": ":0"}
    headless, why = demo_commands.choose_app_mode(display, "linux", lambda environ, platform: "needs libfoo")
    assert headless is True and why.startswith("needs libfoo") and "offscreen instead" in why
    assert demo_commands.choose_app_mode(display, "linux", lambda environ, platform: None) == (False, None)
    never = lambda environ, platform: pytest.fail("no display: nothing to check")  # noqa: E731
    assert demo_commands.choose_app_mode({}, "linux", never) == (True, None)


def _fake_demo_run(monkeypatch, results):
    """Make `seefood demo` plan for real but run nothing: each run_steps call pops a result."""
    calls = []

    def run_steps(steps, runner=None):
        calls.append(steps)
        code, finished = results.pop(0)
        return code, [(step, 1.0) for step in steps[:finished]]

    monkeypatch.setattr(demo_commands, "missing_stages", lambda: [])
    monkeypatch.setattr(demo_commands, "run_steps", run_steps)
    return calls


def test_demo_plans_the_offscreen_run_and_says_why(x11_without_libraries, monkeypatch, tmp_path, capsys):
    calls = _fake_demo_run(monkeypatch, [(0, 5)])
    assert cli.main(["demo", "--dir", str(tmp_path / "demo"), "--epochs", "1"]) == 0
    app = calls[0][-1]
    assert app.args[0] == "app" and app.env == {"QT_QPA_PLATFORM": "offscreen"}
    assert "--screenshot" in app.args and "the window cannot open" in app.title
    captured = capsys.readouterr()
    assert captured.err.startswith("warning: Qt cannot open a window")
    assert captured.err.count("sudo apt-get install libxcb-icccm4 libxcb-keysyms1") == 2  # at the start and the end
    assert "screenshot:" in captured.out


def test_demo_reruns_the_app_offscreen_when_the_window_aborts(monkeypatch, tmp_path, capsys):
    if not sys.platform.startswith("linux"):
        pytest.skip("display detection differs")
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.setenv("DISPLAY", ":99")
    monkeypatch.setattr(qtplatform, "check", lambda environ=None, platform=None: None)  # the check saw nothing
    calls = _fake_demo_run(monkeypatch, [(134, 4), (0, 1)])
    assert cli.main(["demo", "--dir", str(tmp_path / "demo"), "--epochs", "1"]) == 0
    assert calls[0][-1].env == {}  # the window was tried first
    assert len(calls[1]) == 1 and calls[1][0].env == {"QT_QPA_PLATFORM": "offscreen"}
    assert "running the app offscreen instead" in capsys.readouterr().err
    assert demo_commands.aborted(-6) and demo_commands.aborted(134) and not demo_commands.aborted(1)


def test_a_real_check_in_a_subprocess_never_starts_qt():
    """The check itself imports neither Qt nor TensorFlow (it runs before both)."""
    code = ("import sys, desktop.qtplatform as q; q.check({'DISPLAY': ':0'}, 'linux'); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'tensorflow')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         cwd=Path(__file__).resolve().parents[1])
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


# ----------------------------------------------------------------------------- capture buttons


def _check_buttons(panel, classes):
    layout = panel._buttons_layout
    rows = set()
    for number, name in enumerate(classes, start=1):
        button = panel.buttons[name]
        assert name in button.toolTip()
        assert button.text().startswith(f"{number}: ")
        assert button.fontMetrics().horizontalAdvance(button.text()) <= button.width()
        rows.add(layout.getItemPosition(layout.indexOf(button))[0])
    return rows


def test_long_class_names_flow_into_rows_and_keep_key_and_tooltip(qtbot):
    from PySide6.QtWidgets import QVBoxLayout, QWidget

    from desktop.panels import CapturePanel

    side = QWidget()
    side.setFixedWidth(380)  # the window's side column
    panel = CapturePanel()
    QVBoxLayout(side).addWidget(panel)
    try:
        panel.set_classes(LONG_CLASSES)
        side.show()
        qtbot.waitExposed(side)
        panel.set_folder(Path("/photos"), {name: 12 for name in LONG_CLASSES})
        qtbot.wait(10)
        assert len(_check_buttons(panel, LONG_CLASSES)) > 1  # rows, not one squeezed row
        assert any(b.text().endswith("… (12)") for b in panel.buttons.values())  # elided, count kept
        panel.set_classes(["hotdog", "not_hotdog"])  # short names: one row, whole
        qtbot.wait(10)
        assert [b.text() for b in panel.buttons.values()] == ["1: hotdog", "2: not_hotdog"]
        assert _check_buttons(panel, ["hotdog", "not_hotdog"]) == {0}
    finally:
        _delete_now(side)


def test_many_classes_get_nine_keys_and_a_searchable_picker_and_counts_against_the_guard(qtbot):
    from PySide6.QtWidgets import QVBoxLayout, QWidget

    from PySide6.QtCore import Qt

    from desktop.panels import CapturePanel
    from seefood.photo_advice import ENOUGH_PHOTOS, MIN_PHOTOS

    classes = [f"kuzushiji_{i:02d}" for i in range(49)] + ["tsu_hiragana"]
    side = QWidget()
    side.setFixedWidth(380)
    panel = CapturePanel()
    QVBoxLayout(side).addWidget(panel)
    saved = []
    panel.capture_requested.connect(saved.append)
    try:
        panel.set_classes(classes)
        side.show()
        qtbot.waitExposed(side)
        assert list(panel.buttons) == classes[:9] and panel._pick_row.isVisible()
        assert panel.picker.count() == len(classes)
        counts = {name: ENOUGH_PHOTOS for name in classes} | {"kuzushiji_03": 3, "tsu_hiragana": MIN_PHOTOS}
        panel.set_folder(Path("/photos"), counts)
        assert panel.advice.text().startswith(f"1 class(es) under {MIN_PHOTOS} photos") and "kuzushiji_03 (3)" in panel.advice.text()
        assert "#b3261e" in panel.buttons["kuzushiji_03"].styleSheet()  # too few: red
        # typing part of a name and pressing Enter saves into the one class it matches
        panel.picker.setEditText("HIRA")
        qtbot.keyClick(panel.picker.lineEdit(), Qt.Key.Key_Return)
        assert saved == ["tsu_hiragana"]
        panel.picker.setEditText("kuzushiji_4")  # ten classes match: nothing is saved, the user is told
        panel.save_picked.click()
        assert saved == ["tsu_hiragana"] and "No single class matches" in panel.advice.text()
        panel.set_classes(["hotdog", "not_hotdog"])  # few classes: buttons only
        assert not panel._pick_row.isVisible()
    finally:
        _delete_now(side)


def _delete_now(widget) -> None:
    """Close and delete ``widget`` here, on the GUI thread: left to the garbage collector, a Qt
    object can be collected later from another test's worker thread, which crashes the process."""
    import shiboken6

    widget.close()
    shiboken6.delete(widget)
    gc.collect()


def test_window_with_a_five_class_bundle_of_long_names(qtbot, tmp_path):
    pytest.importorskip("ai_edge_litert")
    from desktop_fixtures import build_keras_model, convert_to_tflite, write_bundle

    from desktop.app import make_settings
    from desktop.window import MainWindow

    bundle = write_bundle(tmp_path / "bundle", convert_to_tflite(build_keras_model(classes=5)),
                          name="long-names", classes=LONG_CLASSES)
    data = tmp_path / "data"
    data.mkdir()
    window = MainWindow(make_settings(tmp_path / "settings.ini"), num_threads=1)
    window.show()
    try:
        window.set_data_dir(data)
        window.open_bundle(bundle)
        qtbot.waitUntil(lambda: window.model is not None, timeout=10000)
        assert list(window.capture_panel.buttons) == LONG_CLASSES
        qtbot.wait(10)
        assert len(_check_buttons(window.capture_panel, LONG_CLASSES)) > 1
    finally:
        _delete_now(window)  # close() stops its threads first

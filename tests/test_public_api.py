"""The package's public API: importable from ``hezar_accel`` itself, without paying for what is not used."""

import subprocess
import sys

import hezar_accel


def test_every_public_name_resolves_from_the_package():
    for name in hezar_accel.__all__:
        assert getattr(hezar_accel, name) is not None, name
    from hezar_accel.trainer import Trainer

    assert hezar_accel.Trainer is Trainer


def test_importing_the_package_does_not_import_torch():
    code = "import sys, hezar_accel; assert 'torch' not in sys.modules, 'torch was imported'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)

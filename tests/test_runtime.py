"""The one environment default the package sets: oneDNN on unless the user chose."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from keras_cnns.runtime import ONEDNN_VARIABLE, apply_onednn_default


def test_default_applies_when_unset(monkeypatch):
    monkeypatch.delenv(ONEDNN_VARIABLE, raising=False)
    assert apply_onednn_default() is True
    assert os.environ[ONEDNN_VARIABLE] == "1"


def test_user_choice_is_kept(monkeypatch):
    monkeypatch.setenv(ONEDNN_VARIABLE, "0")
    assert apply_onednn_default() is False
    assert os.environ[ONEDNN_VARIABLE] == "0"


# TensorFlow reads the variable once, when it loads: what it holds once TensorFlow has
# loaded is what TensorFlow used.
_PROBE = (
    "import os, sys, keras_cnns; assert 'tensorflow' in sys.modules; "
    f"print(os.environ['{ONEDNN_VARIABLE}'])"
)


@pytest.mark.parametrize("preset,expected", [(None, "1"), ("0", "0")])
def test_import_applies_it_before_tensorflow(preset, expected):
    """In a fresh process, `import keras_cnns` sets the variable before TensorFlow reads it."""
    env = {k: v for k, v in os.environ.items() if k != ONEDNN_VARIABLE}
    if preset is not None:
        env[ONEDNN_VARIABLE] = preset
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == [expected]

"""The README's figures: each one comes from a results file written by code
(`scripts/check_readme.py`), and the check fails when a figure is edited by hand."""

import importlib.util
import json
import shutil
import sys
from pathlib import Path

import keras
import pytest

ROOT = Path(__file__).resolve().parent.parent


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


check_readme = _load("check_readme")
model_figures = _load("model_figures")


def test_every_readme_figure_has_its_source():
    problems = check_readme.check()
    assert not problems, "\n".join(problems)


@pytest.fixture
def readme_copy(tmp_path):
    path = tmp_path / "README.md"
    shutil.copy(ROOT / "README.md", path)
    return path


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new))


def test_a_measured_figure_edited_by_hand_fails(readme_copy):
    sources = check_readme.Sources()
    ratio = sources.benchmarks["throughput"]["data"]["pytorch"]["resnet20"]["ratio_tf"]
    row = f"| ResNet-20, 32×32 | {ratio:.2f}× |"
    _edit(readme_copy, row, f"| ResNet-20, 32×32 | {ratio + 0.1:.2f}× |")
    problems = check_readme.check(readme_copy)
    assert any(row in p and "not in the README" in p for p in problems), problems
    assert any(f"{ratio + 0.1:.2f}×" in p and "without a source" in p for p in problems), problems


def test_a_parameter_count_edited_by_hand_fails(readme_copy):
    _edit(readme_copy, "7,020,392", "7,020,393")
    problems = check_readme.check(readme_copy)
    assert any("7,020,392" in p for p in problems) and any("7,020,393" in p for p in problems), problems


def _new_problems(readme: Path) -> list[str]:
    before = set(check_readme.check())
    return [p for p in check_readme.check(readme) if p not in before]


def test_a_new_figure_without_a_source_fails(readme_copy):
    _edit(readme_copy, "## Layers\n", "## Layers\n\nThe layers are 9.87× faster than anyone's.\n")
    problems = _new_problems(readme_copy)
    assert len(problems) == 1 and problems[0].startswith("figure without a source: '9.87×'"), problems


def test_a_settings_passage_that_left_the_readme_is_reported(readme_copy):
    _edit(readme_copy, "(Keras' momentum 0.99)", "(Keras' default momentum)")
    assert _new_problems(readme_copy) == [
        "NOT_MEASURED passage no longer in the README: \"(Keras' momentum 0.99)\""
    ]


def test_figure_pattern_finds_each_kind_and_skips_sizes_and_names():
    found = [m.group(1) for m in check_readme.FIGURE.finditer(
        "1.04× at 32×32, 252 KB, 3 min 0 s, 90.64 %, 0.852, 7,020,392 and 1.583 G; "
        "ResNet-20, VGG-11, batch 128, conv5_x"
    )]
    assert found == ["1.04×", "252 KB", "3 min", "0 s", "90.64 %", "0.852", "7,020,392", "1.583 G"]


# The committed results/models.json is what the builders count: rebuilt here for the models
# that build in seconds (the others' counts are asserted exactly by their family tests).
CHEAP = [
    "lenet5(num_classes=10)", 'lenet5(variant="modern", num_classes=10)', "googlenet()",
    'googlenet(batch_norm=True, layout="torchvision", aux_logits=True)', "inception_v2()",
    "resnet20(num_classes=10)", "densenet_bc100(num_classes=10)", "densenet121()",
]


@pytest.mark.parametrize("key", CHEAP)
def test_models_json_holds_what_the_builders_count(key):
    committed = json.loads((ROOT / "results" / "models.json").read_text())
    assert committed["parameters"][key] == model_figures.count(key)
    keras.backend.clear_session()


def test_models_json_claims_are_the_analysis_functions():
    committed = json.loads((ROOT / "results" / "models.json").read_text())
    assert committed["claims"] == model_figures.claims()
    assert set(committed["parameters"]) == set(model_figures.MODELS)

"""The README's "Pretrained weights" table is `keras_cnns.analysis.pretrained_table()`,
built from the registry, and every torchvision file of the seed's families is published
by some builder."""

from __future__ import annotations

import re
from pathlib import Path

from keras_cnns.analysis.pretrained import pretrained_rows, pretrained_table
from keras_cnns.weights import TORCHVISION_URLS

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_table_is_the_generated_one():
    text = README.read_text()
    match = re.search(
        r"<!-- pretrained-weights-table:[^>]*-->\n(.*?)\n<!-- /pretrained-weights-table -->",
        text, re.S,
    )
    assert match, "README lacks the pretrained-weights table markers"
    assert match.group(1) == pretrained_table(), (
        "README's pretrained-weights table differs from pretrained_table(): paste "
        "`python -c 'from keras_cnns.analysis.pretrained import pretrained_table; "
        "print(pretrained_table())'` between the markers"
    )


def test_every_torchvision_file_is_published():
    published = {row.entry.file_name() for row in pretrained_rows()}
    files = {url.rsplit("/", 1)[-1] for url in TORCHVISION_URLS.values()}
    assert files <= published, sorted(files - published)


def test_every_entry_cites_its_top1_and_preprocessing():
    for row in pretrained_rows():
        assert row.entry.preprocessing in ("caffe", "tf", "torch"), row
        assert 50 < row.entry.top1 < 90 and row.entry.top1_source, row
        assert row.call().startswith(f"{row.model}(") and f'weights="{row.weights}"' in row.call()

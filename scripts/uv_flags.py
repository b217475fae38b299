"""Print, one per line, the `uv pip install` flags that give uv the package sources pip is
configured with (pip's configuration files and PIP_* variables, which uv does not read):
its index and extra indexes, local wheel folders and constraints; with `--cert`, pip's CA
bundle (for uv's SSL_CERT_FILE). Used by scripts/setup.sh; run with the Python whose pip
is configured."""

import subprocess
import sys


def pip_settings() -> dict[str, str]:
    """pip's effective settings (`pip config list`; the environment's entries, listed last,
    override the files')."""
    listing = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True, check=True
    ).stdout
    settings = {}
    for line in listing.splitlines():
        key, _, value = line.partition("=")
        settings[key.rpartition(".")[2]] = value.strip().strip("'\"")
    return settings


def uv_flags(settings: dict[str, str]) -> list[str]:
    # pip takes the best version over every index; uv's default takes the first index
    # that has the package.
    flags = ["--index-strategy", "unsafe-best-match"]
    if settings.get("index-url"):
        flags += ["--index-url", settings["index-url"]]
    for option in ("extra-index-url", "find-links", "constraint"):
        for value in settings.get(option, "").split():
            flags += [f"--{option}", value]
    return flags


if __name__ == "__main__":
    settings = pip_settings()
    if sys.argv[1:] == ["--cert"]:  # pip's CA bundle, for uv's SSL_CERT_FILE
        print(settings.get("cert", ""))
    else:
        print("\n".join(uv_flags(settings)))

"""Debian tools the ops tests need (`make tools` installs them as root): skipped with the reason when
missing, except under CI=true, where a missing tool fails the test so CI always runs every check."""

import os
import shutil

import pytest


def need(tool: str, package: str) -> str:
    path = shutil.which(tool)
    if path:
        return path
    message = f"{tool} not installed (Debian package {package}; `make tools` installs it as root)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)

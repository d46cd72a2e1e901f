"""A PEP 517 build backend in the standard library alone.

`pip install ./sdk/python` must work on a machine that reaches no Python
package index (ours reach Debian's archive and npm, not PyPI), so the
package cannot ask pip for setuptools or wheel. alter_vault is pure
Python with no dependencies; a wheel of it is a zip of its files and three
metadata files, which this module writes. It reads the name, version,
summary and Python requirement from pyproject.toml.
"""

import base64
import hashlib
import os
import re
import zipfile

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_PACKAGE = "alter_vault"


def _project():
    with open(os.path.join(_ROOT, "pyproject.toml"), "rb") as f:
        text = f.read().decode("utf-8")
    try:
        import tomllib  # Python 3.11+
        return tomllib.loads(text)["project"]
    except ImportError:  # Python 3.10: the few keys we read are simple strings
        section = text.split("[project]", 1)[1].split("\n[", 1)[0]
        return {k: v for k, v in re.findall(r'^([\w-]+)\s*=\s*"([^"]*)"', section, re.M)}


def _metadata(p):
    lines = ["Metadata-Version: 2.1", "Name: " + p["name"], "Version: " + p["version"]]
    if p.get("description"):
        lines.append("Summary: " + p["description"])
    if p.get("requires-python"):
        lines.append("Requires-Python: " + p["requires-python"])
    return "\n".join(lines) + "\n"


def _files():
    base = os.path.join(_ROOT, _PACKAGE)
    for name in sorted(os.listdir(base)):
        path = os.path.join(base, name)
        if os.path.isfile(path) and (name.endswith(".py") or name == "py.typed"):
            yield _PACKAGE + "/" + name, path


def _record_line(arcname, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return "%s,sha256=%s,%d" % (arcname, digest, len(data))


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def _write_wheel(wheel_directory, entries):
    """Writes a wheel of entries ((arcname, bytes) pairs) and the metadata."""
    p = _project()
    dist = p["name"].replace("-", "_")
    info = "%s-%s.dist-info" % (dist, p["version"])
    wheel_name = "%s-%s-py3-none-any.whl" % (dist, p["version"])
    wheel = b"Wheel-Version: 1.0\nGenerator: alter_vault _build/backend.py\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    records = []
    with zipfile.ZipFile(os.path.join(wheel_directory, wheel_name), "w", zipfile.ZIP_DEFLATED) as z:
        for arcname, data in list(entries) + [(info + "/METADATA", _metadata(p).encode()), (info + "/WHEEL", wheel)]:
            z.writestr(arcname, data)
            records.append(_record_line(arcname, data))
        records.append(info + "/RECORD,,")
        z.writestr(info + "/RECORD", "\n".join(records) + "\n")
    return wheel_name


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    return _write_wheel(wheel_directory, ((arcname, _read(path)) for arcname, path in _files()))


# An editable install is a wheel with a .pth file pointing at the source tree.
def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    dist = _project()["name"].replace("-", "_")
    return _write_wheel(wheel_directory, [(dist + ".pth", (_ROOT + "\n").encode())])


def get_requires_for_build_editable(config_settings=None):
    return []

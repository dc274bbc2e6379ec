"""Generation with the model under evaluation (the *student*), behind one function: :func:`generate`.

Used by the safety (06), reasoning (07) and over-refusal (08) evaluations. Three backends:

``openai``
    Any OpenAI-compatible endpoint, through :func:`star1_utils.llm.engine.run_batch` with the profile's
    ``student`` role. The usual way: ``vllm serve <model dir> --port 8000`` and
    ``student_base_url=http://localhost:8000/v1``. Sampling parameters that are not part of the
    OpenAI protocol (``repetition_penalty``, ``top_k``) travel in ``extra_body``, which vLLM's
    server understands.
``vllm``
    vLLM in this process, on a GPU (``pip install vllm``; checked with
    ``importlib.util.find_spec("vllm")``). Mirrors the reference's ``gen.py``: the tokenizer's chat
    template with the generation prompt, ``SamplingParams(temperature=0, top_p=1, top_k=-1,
    repetition_penalty=1.2, max_tokens=8000, n=1)``.
``transformers``
    ``AutoModelForCausalLM`` on the CPU (or whatever device torch picks). Greedy decoding writes
    ``batch_size`` answers at a time, each leaving the batch at its end token for the next prompt
    (:func:`greedy_decode`, equal to ``model.generate`` one prompt at a time); sampling goes through
    ``model.generate``. The demo's tiny student and the miniature's SmolLM2-135M use it: 64 at a
    time, 98 tokens/s on one CPU thread and 153 on two (``benchmarks/bench_mini.py``).

Every backend caches each answer as it is produced (the same SQLite cache as every LLM call,
keyed by model, messages and decoding), so an interrupted run resumes without regenerating
finished items. The result is an :class:`star1_utils.llm.engine.BatchOutcome`: ``results`` (id ->
``ChatResult`` whose ``text`` is normalised to ``"<think>\\n...\\n</think>\\n\\n answer"`` when the
model reasoned), ``failures`` and ``usage``.

The reference's decoding is :data:`REFERENCE_DECODING`: greedy, repetition
penalty 1.2, at most 8,000 new tokens, no system prompt.

Prompt mode (``safety_eval.prompt_mode``, ``reasoning_eval.prompt_mode``). ``chat`` (the suite's
default): the chat template is applied by whoever serves the model, as a chat endpoint does, so a
template that writes a BOS gets exactly one. ``text`` (the reference): the template is rendered to
text here (``apply_chat_template(..., tokenize=False, add_generation_prompt=True)``,
``safe_benchmark/gen.py:55-59``, ``reasoning_benchmark/sampler/local_sampler.py:45-52``) and that
text is the prompt, which the model's tokenizer encodes with its special tokens, as
``LLM.generate`` does (``gen.py:100``): a template that begins with BOS gets a second one. Per
backend: ``openai`` and ``vllm_serve`` send it to the completions endpoint
(:func:`complete_batch`), ``vllm`` calls ``LLM.generate`` on it (``chat``: ``LLM.chat``),
``transformers`` tokenises it with ``add_special_tokens=True`` (``chat``: ``False``). In text mode
every answer also keeps the reference's stored form, vLLM's ``text.strip()`` (``gen.py:105``:
it starts inside the reasoning, with no opening tag), as ``reference_text`` of its row
(:func:`reference_text`).
"""

from __future__ import annotations

import hashlib
import importlib.util
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from star1_utils import project_root
from star1_utils.evaluate import serving
from star1_utils.llm import engine, replies
from star1_utils.llm.replies import reopen_think
from star1_utils.run import environment, layout
from star1_utils.run import progress as progress_bar
from star1_utils.run.resources import cache_root

BACKENDS = ("openai", "vllm", "vllm_serve", "transformers")
PROMPT_MODES = ("chat", "text")
#: The reference's decoding for the safety benchmark (``gen.py``), hard-coded there.
REFERENCE_DECODING = {"temperature": 0.0, "top_p": 1.0, "max_tokens": 8000, "repetition_penalty": 1.2}
#: The reference's prompt when a tokenizer has no chat template.
FALLBACK_TEMPLATE = "## Instruction: {inst}\n## Response: "
#: Decoding keys sent as standard OpenAI request parameters; the rest go to ``extra_body``.
OPENAI_PARAMS = ("temperature", "top_p", "max_tokens", "seed", "stop", "n")


def messages_of(item: dict) -> list[dict]:
    """An item's chat: its ``messages``, or one user turn holding its ``prompt`` (no system prompt)."""
    if item.get("messages"):
        return list(item["messages"])
    if "prompt" not in item:
        raise ValueError(f"item {item.get('id')!r} has neither 'messages' nor 'prompt'")
    return [{"role": "user", "content": item["prompt"]}]


def decoding_for(max_tokens: int | None = None, repetition_penalty: float | None = None, **more) -> dict:
    """:data:`REFERENCE_DECODING` with the given values replaced."""
    out = dict(REFERENCE_DECODING)
    if max_tokens is not None:
        out["max_tokens"] = int(max_tokens)
    if repetition_penalty is not None:
        out["repetition_penalty"] = float(repetition_penalty)
    out.update(more)
    return out


def model_fingerprint(model: str | Path) -> str:
    """Identity of a model for the cache: for a local folder, its config and weight files
    (name, size, modification time), so a retrained model is not served from stale cache."""
    p = Path(model)
    if not p.is_dir():
        return str(model)
    h = hashlib.sha256()
    for f in sorted(p.iterdir()):
        if f.name == "config.json":
            h.update(f.read_bytes())
        elif f.suffix in (".safetensors", ".bin", ".pt"):
            st = f.stat()
            h.update(f"{f.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    return f"{p.resolve()}#{h.hexdigest()[:16]}"


def describe_student(cfg: Any, section: Any, student: dict) -> str:
    """One line saying which model a notebook evaluates and how it is reached (06, 07)."""
    if section.backend == "openai":
        return (f"student: {student['name']} at {cfg.roles.student.base_url} "
                "(OpenAI protocol; repetition_penalty sent in extra_body)")
    if section.backend == "vllm_serve":
        return f"student: {student['ref']}, served by vllm serve for this stage (log under cache/serving/)"
    return f"student: {student['ref']} ({section.backend} backend, in this process, batches of {section.batch_size})"


def prompt_options(cfg: Any, section: Any) -> dict:
    """The prompt-mode arguments of :func:`generate` for a notebook's section (``prompt_mode`` and,
    for a served model in text mode, the tokenizer whose template renders the prompt:
    ``section.student_model``, else ``training.base_model``, whose template the trained model keeps)."""
    mode = getattr(section, "prompt_mode", "chat")
    tokenizer = ""
    if mode == "text" and section.backend == "openai":
        tokenizer = getattr(section, "student_model", "") or layout.base_model_path(cfg.training)
    return {"prompt_mode": mode, "tokenizer": tokenizer}


# --------------------------------------------------------------------------- the one function

def generate(
    cfg: Any,
    items: Iterable[dict],
    *,
    backend: str = "openai",
    model: str | Path = "",
    decoding: dict | None = None,
    cache_path: str | Path | None = None,
    role: str = "student",
    desc: str = "generating",
    progress: bool = True,
    batch_size: int | None = None,
    vllm_kwargs: dict | None = None,
    prompt_mode: str = "chat",
    tokenizer: str | Path = "",
    threads: int = 0,
) -> engine.BatchOutcome:
    """Generate one answer per item with the student; cached and resumable.

    items: dicts with a unique ``id`` and either ``prompt`` (one user turn) or ``messages``.
    backend: ``openai`` (the ``role``'s endpoint; ``model`` overrides its model name), ``vllm`` or
    ``transformers`` (``model`` is a local folder or Hub id; required).
    decoding: ``temperature``, ``top_p``, ``max_tokens``, ``repetition_penalty`` (``None`` leaves
    it out), optionally ``top_k`` / ``seed``; default :data:`REFERENCE_DECODING`. Greedy when
    ``temperature`` is 0.
    cache_path: SQLite file shared with the other LLM calls of the run (``None``: no resume).
    batch_size: prompts generated together by a local backend, committed to the cache after each
    batch (default: 256 for vLLM, 1 for transformers, whose batches are padded on the left).
    prompt_mode: ``chat`` or ``text`` (the module docstring). tokenizer: whose chat template renders
    the text prompt for the ``openai`` backend (a model folder or Hub id; ``vllm_serve`` and the
    local backends use ``model``'s own). threads: CPU threads of the transformers backend while it
    generates (0: torch's setting, one thread under ``OMP_NUM_THREADS=1``).
    """
    items = list(items)
    for n, it in enumerate(items):
        if "id" not in it:
            raise ValueError(f"item {n} has no 'id' field")
    decoding = dict(REFERENCE_DECODING if decoding is None else decoding)
    if prompt_mode not in PROMPT_MODES:
        raise ValueError(f"unknown prompt mode {prompt_mode!r}; choose one of {', '.join(PROMPT_MODES)}")
    if backend == "openai":
        if prompt_mode == "text":
            if not tokenizer:
                raise ValueError("prompt_mode text with the openai backend needs `tokenizer` (the served "
                                 "model's folder or Hub id) to render the chat template")
            return complete_batch(cfg, items, role=role, model=model, tokenizer=tokenizer, decoding=decoding,
                                  cache_path=cache_path, desc=desc, progress=progress)
        return _generate_openai(cfg, items, role, model, decoding, cache_path, desc, progress)
    if backend == "vllm_serve":
        return _generate_served(cfg, items, role, model, decoding, cache_path, desc, progress, prompt_mode)
    if backend not in BACKENDS:
        raise ValueError(f"unknown generation backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if not model:
        raise ValueError(f"the {backend} backend needs `model` (a local model folder or a Hub id)")
    if batch_size is None:
        batch_size = 256 if backend == "vllm" else 1
    if backend == "vllm":
        runner = _VLLMRunner(str(model), decoding, prompt_mode=prompt_mode, **(vllm_kwargs or {}))
    else:
        runner = _TransformersRunner(str(model), decoding, prompt_mode=prompt_mode, threads=threads,
                                     batch_size=batch_size)
    return _generate_local(runner, items, decoding, cache_path, desc, progress, batch_size)


def _generate_openai(cfg, items, role, model, decoding, cache_path, desc, progress,
                     build=messages_of, endpoint: str = "chat") -> engine.BatchOutcome:
    rc = engine.resolve_role(cfg, role)
    params = {k: v for k, v in decoding.items() if k in OPENAI_PARAMS and v is not None}
    extra = {k: v for k, v in decoding.items() if k not in OPENAI_PARAMS and v is not None}
    update: dict[str, Any] = {"extra_body": {**extra, **rc.extra_body}}
    if model:
        update["model"] = str(model)
    rc = rc.model_copy(update=update)
    return engine.run_batch(rc, role, items, build_messages=build, decoding=params, cache_path=cache_path,
                            desc=desc, retry_on_length=False, progress=progress, endpoint=endpoint)


def served_model_id(model: str | Path) -> str:
    """The id a served student answers to: named after its files' fingerprint, so the shared answer
    cache (keyed by model id) never mixes a retrained model's answers with the old ones."""
    return "student-" + hashlib.sha256(model_fingerprint(model).encode()).hexdigest()[:12]


def _generate_served(cfg, items, role, model, decoding, cache_path, desc, progress,
                     prompt_mode: str = "chat") -> engine.BatchOutcome:
    """``vllm serve`` the model for this call, then generate through its OpenAI endpoint exactly as a
    paper-scale run reaches its GPU server; the server stops when generation ends or fails."""

    if not model:
        raise ValueError("the vllm_serve backend needs `model` (a local model folder, a LoRA adapter or a Hub id)")
    sc = cfg.serving
    base, lora = serving.base_and_adapter(model)
    python = Path(sc.python) if Path(sc.python).is_absolute() else project_root() / sc.python
    state_dir = Path(cache_path).parent / "serving" if cache_path else Path(tempfile.mkdtemp(prefix="star1-serving-"))
    with serving.serve(base, state_dir, served_name=served_model_id(model), python=python, lora=lora,
                       dtype=sc.dtype, enforce_eager=sc.enforce_eager, max_model_len=sc.max_model_len,
                       kv_cache_gib=sc.kv_cache_gib, startup_timeout_s=sc.startup_timeout_s,
                       extra_args=tuple(sc.extra_args)) as server:
        rc = engine.resolve_role(cfg, role).model_copy(
            update={"base_url": server.base_url, "model": server.model_id, "api_key_env": ""})
        roles = cfg.roles.model_copy(update={role: rc})
        served_cfg = cfg.model_copy(update={"roles": roles})
        if prompt_mode == "text":  # the served model's own template (an adapter's, if it has one)
            tok = str(model) if (Path(model) / "tokenizer_config.json").is_file() else base
            outcome = complete_batch(served_cfg, items, role=role, model="", tokenizer=tok, decoding=decoding,
                                     cache_path=cache_path, desc=desc, progress=progress)
        else:
            outcome = _generate_openai(served_cfg, items, role, "", decoding, cache_path, desc, progress)
        outcome.server = {"model_id": server.model_id, "model": str(model), "base_url": server.base_url,
                          "startup_s": server.startup_s, "log": str(server.log_path), "log_tail": server.log_tail()}
    print(f"vllm serve: {server.model_id} ({model}) at {server.base_url}, up in {server.startup_s:.0f} s, "
          f"stopped; log {server.log_path}, last lines:\n{server.log_tail(5)}")
    return outcome


# --------------------------------------------------------------------------- local backends

class _LocalBatch:
    """One run of a local backend: the items grouped by request identity, and what became of them.

    The identity is the engine's cache key over the runner's model name, the messages and the
    decoding plus the backend and the model files' fingerprint, so a retrained model regenerates.
    """

    def __init__(self, runner: Any, items: list[dict], decoding: dict, cache_path: str | Path | None,
                 desc: str, progress: bool):
        self.runner = runner
        self.ids = [it["id"] for it in items]
        if len(set(map(str, self.ids))) != len(self.ids):
            raise ValueError("item ids must be unique")
        key_params = {"backend": runner.name, "fingerprint": runner.fingerprint, **decoding}
        self.text_mode = getattr(runner, "prompt_mode", "chat") == "text"
        if self.text_mode:  # a chat-mode answer (another prompt) is never reused for a text prompt
            key_params["prompt_mode"] = "text"
        self.groups: dict[str, list] = {}
        self.msgs_by_key: dict[str, list] = {}
        for it in items:
            msgs = messages_of(it)
            k = engine.cache_key(runner.model, msgs, key_params)
            self.groups.setdefault(k, []).append(it["id"])
            self.msgs_by_key[k] = msgs
        # a continuous runner takes every pending chat at once and reports each answer as it ends
        self.continuous = bool(getattr(runner, "continuous", lambda: False)())
        self.cache = engine.Cache(cache_path)
        shared = shared_answers_path(getattr(runner, "path", "")) if cache_path else None
        self.shared = engine.Cache(shared) if shared else None
        self.usage = {"requests": 0, "cached": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost_usd": 0.0,
                      "seconds": 0.0, "failed": 0}
        self.results: dict = {}
        self.failures: dict = {}
        self.bar = progress_bar.bar(len(items), desc, "items", progress=progress)

    def accept(self, k: str, text: str, finish: str, u: dict, cached: bool) -> None:
        """Give every item of group ``k`` the answer."""
        for i in self.groups[k]:
            self.results[i] = engine.ChatResult(i, text, None, finish, u, cached)
        self.bar.update(len(self.groups[k]))

    def serve_from_cache(self, batch_size: int) -> list[str]:
        """Accept the groups the cache answers; return the keys still to generate, in generation order."""
        pending = []
        for k in self.groups:
            hit = self.cache.get(k)
            if hit is None and self.shared is not None:
                hit = self.shared.get(k)
                if hit is not None:  # this run keeps its own copy
                    self.cache.put(k, self.runner.model, *hit)
            if hit is None:
                pending.append(k)
                continue
            text, finish, u = hit
            self.usage["cached"] += len(self.groups[k])
            self.accept(k, text, finish, u, True)
        if batch_size > 1:
            # prompts of similar length together: less padding in a left-padded batch
            pending.sort(key=lambda k: sum(len(m.get("content") or "") for m in self.msgs_by_key[k]))
        return pending

    def generate_chunk(self, chunk: list[str]) -> None:
        """Generate a chunk of groups and cache each answer as it comes; an error fails the items
        still unanswered only (they are retried on the next run)."""
        self.usage["requests"] += len(chunk)
        kept: set[int] = set()

        def keep(j: int, out: tuple) -> None:
            self.store(chunk[j], *out)
            kept.add(j)

        try:
            if self.continuous:
                outs = self.runner.generate([self.msgs_by_key[k] for k in chunk], on_answer=keep)
            else:
                outs = self.runner.generate([self.msgs_by_key[k] for k in chunk])
        except Exception as e:  # noqa: BLE001 - recorded per item, the run goes on
            if isinstance(e, (KeyboardInterrupt, MemoryError)):
                raise
            reason = f"{type(e).__name__}: {engine._short(e)}"
            lost = [k for j, k in enumerate(chunk) if j not in kept]
            for k in lost:
                for i in self.groups[k]:
                    self.failures[i] = {"id": i, "reason": reason, "attempts": 1}
            self.bar.update(sum(len(self.groups[k]) for k in lost))
            return
        for j, out in enumerate(outs):
            if j not in kept:
                keep(j, out)

    def store(self, k: str, raw: str, finish: str, u: dict, prompt: str) -> None:
        """Normalise, cache and accept one generated answer."""
        text = replies.normalise(reopen_think(prompt, raw).strip())
        if self.text_mode:  # the reference's stored form, kept beside ours (gen.py:105)
            u = {**u, "reference_text": raw.strip()}
        for cache in (self.cache, self.shared):
            if cache is not None:
                cache.put(k, self.runner.model, text, finish, u)
        self.usage["prompt_tokens"] += int(u.get("prompt_tokens") or 0)
        self.usage["completion_tokens"] += int(u.get("completion_tokens") or 0)
        self.accept(k, text, finish, u, False)

    def close(self) -> None:
        """Close the progress bar and the caches."""
        self.bar.close()
        self.cache.close()
        if self.shared is not None:
            self.shared.close()

    def outcome(self, t0: float) -> engine.BatchOutcome:
        """Results and failures in input order; usage with the failure count and the time."""
        self.usage["failed"] = len(self.failures)
        self.usage["seconds"] = round(time.monotonic() - t0, 3)
        return engine.BatchOutcome({i: self.results[i] for i in self.ids if i in self.results},
                                   [self.failures[i] for i in self.ids if i in self.failures], self.usage)


def shared_answers_path(model: str | Path) -> Path | None:
    """Where answers of a model from the suite's model cache (``~/.cache/star1/models/``, e.g. the
    miniature's base SmolLM2) are also kept, for every run folder: ``answers/local_models.sqlite``
    beside it. The base model's answers are the same in every run (same weights, same keys), so a
    new run folder or a fresh clone does not write them again. ``None`` for any other model (a
    trained student lives in its run folder and is answered in its run's cache only)."""

    if not model or not Path(model).is_dir():
        return None
    root = cache_root()
    try:
        Path(model).resolve().relative_to((root / "models").resolve())
    except ValueError:
        return None
    return root / "answers" / "local_models.sqlite"


def _generate_local(runner, items, decoding, cache_path, desc, progress, batch_size) -> engine.BatchOutcome:
    """A local backend's batch: answers from the cache first, then the rest ``batch_size`` at a time."""
    t0 = time.monotonic()
    batch = _LocalBatch(runner, items, decoding, cache_path, desc, progress)
    pending = batch.serve_from_cache(batch_size)
    # a continuous runner keeps its batch full itself: it takes every pending chat at once
    step = max(1, len(pending)) if batch.continuous else batch_size
    try:
        for start in range(0, len(pending), step):
            batch.generate_chunk(pending[start:start + step])
    finally:
        batch.close()
    return batch.outcome(t0)


def render_prompt(tokenizer, messages: list[dict]) -> str:
    """The reference's prompt: the chat template with the generation prompt, else its fallback."""
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    inst = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
    return FALLBACK_TEMPLATE.format(inst=inst)


class _TransformersRunner:
    """Generation with ``transformers`` in this process: greedy through :func:`greedy_decode`,
    sampled through ``model.generate``; ``batch_size`` prompts at a time (one by default)."""

    name = "transformers"
    _loaded: dict[str, tuple] = {}  # per process: model path -> (tokenizer, model)

    def __init__(self, model: str, decoding: dict, prompt_mode: str = "chat", threads: int = 0,
                 batch_size: int = 1):
        self.model = f"transformers:{model}"
        self.threads = threads  # CPU threads while generating; 0 = torch's setting
        self.batch_size = batch_size  # answers written together
        self.path = model
        self.fingerprint = model_fingerprint(model)
        self.decoding = decoding
        self.prompt_mode = prompt_mode

    def _load(self):
        if self.fingerprint not in self._loaded:
            environment.quiet_model_libraries()
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer

            if not Path(self.path).is_dir() and not Path(self.path).exists() and "/" not in self.path:
                raise FileNotFoundError(f"no model at {self.path}; train one first (notebook 05) or set the model path")
            tok = AutoTokenizer.from_pretrained(self.path)
            model = AutoModelForCausalLM.from_pretrained(self.path, dtype=torch.float32)
            model.eval()
            self._loaded[self.fingerprint] = (tok, model)
        return self._loaded[self.fingerprint]

    def continuous(self) -> bool:
        """Whether :meth:`generate` takes any number of chats, ``batch_size`` written at a time,
        and reports each answer as it ends (greedy decoding: :func:`greedy_decode`)."""
        return not self.decoding.get("temperature")

    def generate(self, batch: list[list[dict]], on_answer: Callable[[int, tuple], None] | None = None
                 ) -> list[tuple[str, str, dict, str]]:
        """``(raw answer, finish reason, usage, rendered prompt)`` for chats. Greedy decoding goes
        through :func:`greedy_decode` (``batch_size`` answers written together, each leaving at its
        end token for the next chat; equal to ``model.generate`` one prompt at a time) and hands
        each answer to ``on_answer(index, answer)`` as it ends; sampling goes through
        ``model.generate`` on the chats left-padded together. The rendered prompt is tokenised with
        the tokenizer's special tokens in text mode (as vLLM does, :func:`text_prompt_ids`),
        without them in chat mode (the template's own BOS only)."""
        import torch

        tok, model = self._load()
        d = self.decoding
        prompts = [render_prompt(tok, m) for m in batch]
        max_new = int(d.get("max_tokens", 8000))
        eos_ids = end_token_ids(tok, model)
        pad = tok.pad_token_id if tok.pad_token_id is not None else min(eos_ids)
        ids = [tok(p, add_special_tokens=self.prompt_mode == "text")["input_ids"] for p in prompts]

        def answer(i: int, new: list[int]) -> tuple[str, str, dict, str]:
            stop = next((j for j, t in enumerate(new) if t in eos_ids), None)
            new = new[: stop + 1] if stop is not None else new
            finish = "stop" if stop is not None or len(new) < max_new else "length"
            return (tok.decode(new, skip_special_tokens=True), finish,
                    {"prompt_tokens": len(ids[i]), "completion_tokens": len(new)}, prompts[i])

        done = (lambda i, new: on_answer(i, answer(i, new))) if on_answer else None
        threads = torch.get_num_threads()
        if self.threads:
            torch.set_num_threads(self.threads)
        try:
            if self.continuous():
                new_ids = greedy_decode(model, ids, max_new, eos_ids, d.get("repetition_penalty"), pad_id=pad,
                                        batch_size=self.batch_size, on_done=done)
            else:
                new_ids = _sampled(model, ids, max_new, d, pad)
        finally:
            torch.set_num_threads(threads)
        return [answer(i, new) for i, new in enumerate(new_ids)]


def end_token_ids(tokenizer: Any, model: Any) -> set[int]:
    """The tokens that end an answer: the tokenizer's EOS and the generation config's."""
    ids = set()
    for e in (tokenizer.eos_token_id, getattr(model.generation_config, "eos_token_id", None)):
        ids |= set(e if isinstance(e, list) else [] if e is None else [e])
    return ids


def left_padded(prompts: list[list[int]], pad_id: int) -> tuple[Any, Any]:
    """``(input_ids, attention_mask)`` of token-id prompts padded on the left to the longest, so
    every prompt ends at the last column and generation continues each from its own last token."""
    import torch

    width = max(map(len, prompts))
    ids = torch.tensor([[pad_id] * (width - len(p)) + list(p) for p in prompts], dtype=torch.long)
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], dtype=torch.long)
    return ids, mask


def _sampled(model: Any, ids: list[list[int]], max_new: int, d: dict, pad: int) -> list[list[int]]:
    """Sampled answers from ``model.generate`` on left-padded prompts (new tokens only)."""
    import torch

    input_ids, mask = left_padded(ids, pad)
    width = input_ids.shape[1]
    kwargs = {"max_new_tokens": max_new, "do_sample": True, "temperature": float(d["temperature"]),
              "top_p": float(d.get("top_p", 1.0))}
    if d.get("repetition_penalty"):
        kwargs["repetition_penalty"] = float(d["repetition_penalty"])
    with torch.no_grad():
        gen = model.generate(input_ids=input_ids, attention_mask=mask, pad_token_id=pad, **kwargs)
    return gen[:, width:].tolist()


def greedy_decode(model: Any, prompt_ids: list[list[int]], max_new_tokens: int, eos_ids: set[int],
                  repetition_penalty: float | None = None, *, pad_id: int = 0, batch_size: int | None = None,
                  on_done: Callable[[int, list[int]], None] | None = None) -> list[list[int]]:
    """Greedy answers (new token ids, each ending at its first end token), for many prompts at once.

    What ``model.generate(do_sample=False, repetition_penalty=p)`` does for one prompt, without its
    costs on a batch: at most ``batch_size`` answers are written together (default: all); an answer
    that has ended leaves the batch at once (its rows of the key/value cache are dropped) and the
    next prompt takes its place (continuous batching), so no token is computed past the end of an
    answer and the batch stays full. The repetition penalty reads each row's own prompt and answer
    only: ``model.generate`` on a padded batch also penalises the padding token, which for SmolLM2
    is the end token, so padded rows end later than they would alone. A test proves this loop
    equal to ``model.generate`` one prompt at a time. ``on_done(index, tokens)`` hears of each
    answer as it ends, so a caller can keep it before the others are written.
    """
    import torch

    n = len(prompt_ids)
    size = batch_size or n
    penalty = float(repetition_penalty or 1.0)
    vocab = model.get_output_embeddings().out_features
    ends = torch.tensor(sorted(eos_ids), dtype=torch.long)
    out: list[list[int]] = [[] for _ in range(n)]
    waiting = list(range(n))
    batch: _Batch | None = None
    with torch.no_grad():
        while waiting or batch is not None:
            if batch is not None:  # the rows already writing read their last token
                batch.step(model)
            free = size - (0 if batch is None else len(batch.rows))
            # new prompts join a few at a time: one prefill and one copy of the cache for several
            if waiting and (batch is None or free >= max(1, size // 8)):
                take, waiting = waiting[:free], waiting[free:]
                new = _Batch.prefill(model, [prompt_ids[i] for i in take], take, pad_id, vocab, penalty)
                batch = new if batch is None else batch.join(new)
            nxt = batch.pick(penalty)
            for row, token in zip(batch.rows.tolist(), nxt.tolist()):
                out[row].append(token)
            done = torch.isin(nxt, ends) | torch.tensor([len(out[r]) >= max_new_tokens for r in batch.rows.tolist()])
            for r in batch.rows[done].tolist() if on_done else ():
                on_done(r, out[r])
            batch = batch.keep((~done).nonzero().flatten(), nxt)
    return out


class _Batch:
    """The answers being written: which prompts (``rows``), their attention mask over the
    key/value cache (left padding = 0), their last position, the tokens each has read or written
    (the repetition penalty's domain) and the last logits."""

    def __init__(self, rows, mask, pos, cache, seen, logits):
        self.rows, self.mask, self.pos, self.cache, self.seen, self.logits = rows, mask, pos, cache, seen, logits
        self.next_ids = None

    @classmethod
    def prefill(cls, model, prompts: list[list[int]], rows: list[int], pad_id: int, vocab: int, penalty: float):
        """Read new prompts (left-padded together) into a fresh cache."""
        import torch
        from transformers import DynamicCache

        ids, mask = left_padded(prompts, pad_id)
        seen = None
        if penalty != 1.0:
            seen = torch.zeros((len(prompts), vocab + 1), dtype=torch.bool)
            seen.scatter_(1, ids.masked_fill(mask == 0, vocab), True)
            seen = seen[:, :vocab].contiguous()
        pos = (mask.cumsum(1) - 1).clamp(min=0)
        cache = DynamicCache(config=model.config)
        logits = model(input_ids=ids, attention_mask=mask, position_ids=pos, past_key_values=cache, use_cache=True,
                       logits_to_keep=1).logits[:, -1, :].float()
        return cls(torch.tensor(rows), mask, pos[:, -1], cache, seen, logits)

    def pick(self, penalty: float):
        """The next token of every row: greedy over the logits, penalised as
        ``RepetitionPenaltyLogitsProcessor`` does (scores of seen tokens shrink towards 0)."""
        import torch

        logits = self.logits
        if self.seen is not None:
            logits = torch.where(self.seen, torch.where(logits < 0, logits * penalty, logits / penalty), logits)
        nxt = logits.argmax(-1)
        if self.seen is not None:
            self.seen[torch.arange(len(nxt)), nxt] = True
        return nxt

    def keep(self, keep, nxt):
        """The rows still writing (``None`` when none is), with their next input token."""
        if len(keep) == 0:
            return None
        if len(keep) < len(self.rows):
            self.rows, self.mask, self.pos, nxt = self.rows[keep], self.mask[keep], self.pos[keep], nxt[keep]
            self.seen = self.seen[keep] if self.seen is not None else None
            self.cache.batch_select_indices(keep)
            self._trim()
        self.next_ids = nxt
        return self

    def step(self, model) -> None:
        """One token for every row."""
        import torch

        self.mask = torch.cat([self.mask, self.mask.new_ones((len(self.rows), 1))], 1)
        self.pos = self.pos + 1
        self.logits = model(input_ids=self.next_ids[:, None], attention_mask=self.mask, position_ids=self.pos[:, None],
                            past_key_values=self.cache, use_cache=True).logits[:, -1, :].float()

    def join(self, new: "_Batch") -> "_Batch":
        """This batch and freshly read prompts as one: the shorter cache is left-padded (masked)."""
        import torch

        width = max(self.mask.shape[1], new.mask.shape[1])
        for a, b in zip(self.cache.layers, new.cache.layers):
            a.keys = torch.cat([_left_pad(a.keys, width), _left_pad(b.keys, width)], 0)
            a.values = torch.cat([_left_pad(a.values, width), _left_pad(b.values, width)], 0)
        self.mask = torch.cat([_left_pad(self.mask, width), _left_pad(new.mask, width)], 0)
        self.rows = torch.cat([self.rows, new.rows])
        self.pos = torch.cat([self.pos, new.pos])
        if self.seen is not None:
            self.seen = torch.cat([self.seen, new.seen])
        self.logits = torch.cat([self.logits, new.logits])
        return self

    def _trim(self) -> None:
        """Drop cache positions that are padding for every row (their prompts have left)."""
        lead = int((self.mask.cumsum(1) == 0).sum(1).min())
        if lead:
            self.mask = self.mask[:, lead:]
            for layer in self.cache.layers:
                layer.keys, layer.values = layer.keys[:, :, lead:], layer.values[:, :, lead:]


def _left_pad(t, width: int):
    """``t`` padded with zeros on the left of its sequence axis (the last for a mask, the third
    for keys and values) to ``width``."""
    import torch.nn.functional as F

    extra = width - (t.shape[-1] if t.dim() == 2 else t.shape[2])
    if extra <= 0:
        return t
    return F.pad(t, (extra, 0)) if t.dim() == 2 else F.pad(t, (0, 0, extra, 0))


class _VLLMRunner:
    """vLLM in this process (GPU). Settings follow the reference's ``gen.py``."""

    name = "vllm"
    _engines: dict[str, Any] = {}

    def __init__(self, model: str, decoding: dict, *, prompt_mode: str = "chat", tensor_parallel_size: int = 1,
                 max_num_seqs: int = 64, gpu_memory_utilization: float = 0.9, dtype: str = "bfloat16",
                 **engine_kwargs):
        if importlib.util.find_spec("vllm") is None:
            raise RuntimeError(
                "the vllm backend needs vLLM on a GPU machine (pip install vllm); on a CPU use "
                "backend 'transformers', or serve the model (vllm serve <model> --port 8000) and use "
                "backend 'openai' with student_base_url=http://localhost:8000/v1")
        self.model = f"vllm:{model}"
        self.path = model
        self.fingerprint = model_fingerprint(model)
        self.decoding = decoding
        self.prompt_mode = prompt_mode
        self.engine_kwargs = dict(tensor_parallel_size=tensor_parallel_size, max_num_seqs=max_num_seqs,
                                  gpu_memory_utilization=gpu_memory_utilization, dtype=dtype,
                                  trust_remote_code=True, **engine_kwargs)

    def _engine(self):
        if self.fingerprint not in self._engines:
            from vllm import LLM

            self._engines[self.fingerprint] = LLM(model=self.path, **self.engine_kwargs)
        return self._engines[self.fingerprint]

    def generate(self, batch: list[list[dict]]) -> list[tuple[str, str, dict, str]]:
        """``(raw answer, finish reason, usage, rendered prompt)`` per chat: text mode sends the
        rendered template to ``LLM.generate`` (the reference, gen.py:100), chat mode the messages
        to ``LLM.chat`` (vLLM renders them as its chat endpoint does, no extra BOS)."""
        from vllm import SamplingParams

        vllm_engine = self._engine()
        tok = vllm_engine.get_tokenizer()
        d = self.decoding
        sp = SamplingParams(temperature=float(d.get("temperature", 0.0)), top_p=float(d.get("top_p", 1.0)),
                            top_k=int(d.get("top_k", -1)), max_tokens=int(d.get("max_tokens", 8000)), n=1,
                            repetition_penalty=float(d.get("repetition_penalty") or 1.0),
                            stop_token_ids=[tok.eos_token_id], seed=d.get("seed"))
        prompts = [render_prompt(tok, m) for m in batch]
        if self.prompt_mode == "text":
            outs = vllm_engine.generate(prompts, sp, use_tqdm=False)
        else:
            outs = vllm_engine.chat(batch, sp, use_tqdm=False, add_generation_prompt=True)
        res = []
        for prompt, o in zip(prompts, outs):
            c = o.outputs[0]
            res.append((c.text, c.finish_reason or "stop",
                        {"prompt_tokens": len(o.prompt_token_ids or []), "completion_tokens": len(c.token_ids)}, prompt))
        return res


# --------------------------------------------------------------------------- text prompts

def text_prompt_ids(tokenizer: Any, prompt: str) -> list[int]:
    """The token ids of a rendered text prompt as vLLM's ``LLM.generate`` and its completions
    endpoint encode it: with the tokenizer's special tokens (``add_special_tokens=True``), so a
    template that starts with BOS has two (gen.py:55-59, :100)."""
    return list(tokenizer(prompt, add_special_tokens=True)["input_ids"])


def reference_text(row: dict) -> str:
    """What the reference stored and judged for one generation row: vLLM's ``text.strip()``
    (gen.py:105, local_sampler.py:87), which starts inside the reasoning with no opening tag.

    Exact when the row was generated in text prompt mode (``reference_text`` kept from the raw
    output); otherwise rebuilt from our stored reply by removing the ``<think>`` that
    :func:`~star1_utils.llm.replies.reopen_think` / :func:`~star1_utils.llm.replies.normalise` put in front, which is the
    raw text up to the whitespace that normalising trims."""
    if row.get("reference_text") is not None:
        return row["reference_text"]
    response = row.get("response") or ""
    return response[len("<think>"):].lstrip("\n") if response.startswith("<think>") else response


def complete_batch(cfg: Any, items: list[dict], *, role: str = "student", model: str | Path = "",
                   tokenizer: str | Path, decoding: dict, cache_path: str | Path | None = None,
                   desc: str = "generating", progress: bool = True) -> engine.BatchOutcome:
    """The ``text`` prompt mode on an OpenAI-compatible server: each item's chat rendered with
    ``tokenizer``'s template (:func:`render_prompt`, as gen.py:55-59) and sent as the prompt of the
    completions endpoint, which vLLM encodes with special tokens as ``LLM.generate`` does.

    The engine's batch with ``endpoint="completions"`` (cached, resumable, its retry rules);
    results carry our normalised reply as ``text`` and the reference's ``text.strip()`` as
    ``usage["reference_text"]`` (:func:`generations_rows` copies it to the row). ``model``
    overrides the role's model name.
    """
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tokenizer))
    prompts = {it["id"]: render_prompt(tok, messages_of(it)) for it in items}
    return _generate_openai(cfg, items, role, model, decoding, cache_path, desc, progress,
                            build=lambda it: prompts[it["id"]], endpoint="completions")


def generations_rows(items: list[dict], outcome: engine.BatchOutcome, **extra) -> list[dict]:
    """Rows for a ``generations.jsonl``: the item's fields plus ``response`` and ``finish_reason``."""
    rows = []
    for it in items:
        r = outcome.results.get(it["id"])
        if r is None:
            continue
        row = {k: v for k, v in it.items() if k != "messages"}
        row.update(response=r.text, finish_reason=r.finish_reason, cached=r.cached,
                   completion_tokens=int((r.usage or {}).get("completion_tokens") or 0), **extra)
        if (r.usage or {}).get("reference_text") is not None:  # text prompt mode
            row["reference_text"] = r.usage["reference_text"]
        rows.append(row)
    return rows


__all__ = ["BACKENDS", "PROMPT_MODES", "REFERENCE_DECODING", "generate", "decoding_for", "messages_of",
           "model_fingerprint", "render_prompt", "reopen_think", "generations_rows",
           "complete_batch", "reference_text", "text_prompt_ids"]

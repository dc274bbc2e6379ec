"""The offline stand-in models: an OpenAI-compatible app (chat completions) for the demo profile.

The demo's LLM roles use ``base_url: inprocess``: the engine (:mod:`star1_utils.llm.engine`) reaches this
app through an httpx ASGI transport, with the same ``openai`` client and protocol as a real
endpoint, but no port and no network. The app can also be served on 127.0.0.1::

    python -m star1_utils.demo.app serve --port 8011 [--latency 0.5] [--fail-500 0.1 ...]

``STANDINS`` maps a model name to ``"module:function"`` handlers. A handler is
``respond(messages, params) -> {"content", "reasoning_content", "finish_reason"} | None``; ``None``
means "not my kind of prompt" and the next handler is tried. Message contents given as a list of
parts (``[{"type": "text", "text": ...}]``, as the reference's classifier sends) are joined to a
string before the handler sees them. The stand-ins are deterministic programs, **not language
models**.

For tests and benchmarks the app injects faults (:class:`FaultConfig`): HTTP 500, HTTP 429 with
``retry-after``, replies slower than the client's timeout, malformed answers, and a fixed latency.
It counts what it receives (``GET /_stats``), so tests can check which requests were (re)sent.

``POST /v1/completions`` (a text prompt, as the ``text`` prompt mode sends it) hands the prompt to
the same handlers as one user message and answers in the completions shape (``choices[0].text``).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import importlib
import json
import random
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

#: Model name -> handlers tried in order ("module:function").
STANDINS: dict[str, list[str]] = {
    "standin-classifier": ["star1_utils.demo.standins.classifier:respond"],
    "standin-teacher": ["star1_utils.demo.standins.teacher:respond",
                        "star1_utils.demo.standins.benign_teacher:respond"],  # bare questions (08)
    "standin-scorer": ["star1_utils.demo.standins.scorer:respond",
                       "star1_utils.demo.standins.overrefusal_scorer:respond"],
    "standin-llama-guard": ["star1_utils.demo.standins.judge:respond"],
    "standin-rewriter": ["star1_utils.demo.standins.rewriter:respond"],
    "standin-refusal-judge": ["star1_utils.demo.standins.refusal_judge:respond"],
    "standin-grader": ["star1_utils.demo.standins.grader:respond"],  # the reference's GPT-4o equality checker (07)
    "standin-echo": ["star1_utils.demo.app:echo"],
    # rule judges written for real model text (the miniature); measured against labels in notebooks 06/08
    "rules-safety-judge": ["star1_utils.evaluate.judges:respond_safety"],
    "rules-refusal-judge": ["star1_utils.demo.standins.refusal_judge:respond"],
    # judges learned from public human labels (the miniature's); built and measured by judge_models
    "trained-harm-judge": ["star1_utils.evaluate.judge_models:respond_harm"],
    "trained-refusal-judge": ["star1_utils.evaluate.judge_models:respond_refusal"],
}


#: In-process models whose answers depend on files built on this machine: model -> "module:function"
#: returning their revision, which keys the answer cache (:func:`model_revision`).
REVISIONS: dict[str, str] = {
    "trained-harm-judge": "star1_utils.evaluate.judge_models:revision",
    "trained-refusal-judge": "star1_utils.evaluate.judge_models:revision",
}


def model_revision(model: str) -> str:
    """The revision of an in-process model (``""`` for the stand-ins, which are fixed programs)."""
    target = REVISIONS.get(model)
    if not target:
        return ""
    module, func = target.split(":")
    return str(getattr(importlib.import_module(module), func)())


def echo(messages: list[dict], params: dict) -> dict:
    """A trivial model for benchmarks and tests: answers with the last user message."""
    last = next((m["content"] for m in reversed(messages) if m.get("role") == "user"), "")
    return {"content": f"echo: {last}", "reasoning_content": None, "finish_reason": "stop"}


@dataclass
class FaultConfig:
    """Faults the app injects, as probabilities per request (drawn from a seeded generator)."""

    fail_500: float = 0.0  # HTTP 500
    rate_429: float = 0.0  # HTTP 429 with a retry-after header
    retry_after_s: float = 1.0
    slow: float = 0.0  # reply only after slow_s (longer than the client's timeout)
    slow_s: float = 30.0
    malformed: float = 0.0  # a 200 reply whose content is garbage
    latency_s: float = 0.0  # added to every request
    seed: int = 0

    @property
    def active(self) -> bool:
        return any((self.fail_500, self.rate_429, self.slow, self.malformed, self.latency_s))


@dataclass
class Stats:
    requests: int = 0
    by_status: dict = field(default_factory=dict)
    prompts: list = field(default_factory=list)  # sha256[:16] of each request's messages, in order
    authorized: int = 0  # requests that carried an Authorization header

    def to_dict(self) -> dict:
        return asdict(self)


class StandinError(LookupError):
    pass


_handler_cache: dict[str, Callable] = {}


def resolve_handlers(model: str) -> list[Callable]:
    """The handler functions of a stand-in model; a clear error naming the model otherwise."""
    if model not in STANDINS:
        raise StandinError(f"no stand-in model named {model!r}; known: {', '.join(sorted(STANDINS))}")
    out = []
    for spec in STANDINS[model]:
        if spec not in _handler_cache:
            mod_name, _, fn_name = spec.partition(":")
            try:
                mod = importlib.import_module(mod_name)
            except ModuleNotFoundError as e:
                raise StandinError(f"stand-in model {model!r}: handler module {mod_name} is not available "
                                   f"({e}); it is not implemented yet") from None
            fn = getattr(mod, fn_name or "respond", None)
            if fn is None:
                raise StandinError(f"stand-in model {model!r}: {mod_name} has no function {fn_name!r}")
            _handler_cache[spec] = fn
        out.append(_handler_cache[spec])
    return out


def text_of(content: Any) -> str:
    """A message content as a string (list-of-parts contents joined)."""
    if isinstance(content, list):
        return "".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in content)
    return "" if content is None else str(content)


def _tokens(text: str) -> int:
    return max(1, len(text.split())) if text else 0


def _error(status: int, message: str, kind: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind, "code": status}}, status_code=status,
                        headers=headers)


def respond(model: str, messages: list[dict], params: dict) -> dict:
    """Run a stand-in model on normalised messages; raises :class:`StandinError`."""
    for fn in resolve_handlers(model):
        out = fn(messages, params)
        if out is not None:
            return out
    raise StandinError(f"stand-in model {model!r} does not recognise this prompt (no handler answered)")


#: The injectable faults, in the order their probabilities are laid on one draw in [0, 1).
FAULT_KINDS = ("fail_500", "rate_429", "slow", "malformed")


class _Book:
    """An app's fault settings, its seeded fault generator and its counters, shared by its handlers."""

    def __init__(self, faults: FaultConfig):
        self.faults = faults
        self.rng = random.Random(faults.seed)
        self.stats = Stats()
        self.lock = threading.Lock()

    def arrive(self, request: Request, messages: list[dict]) -> float:
        """Count a request (and whether it carried a key) and draw its fault number."""
        with self.lock:
            self.stats.requests += 1
            if request.headers.get("authorization"):
                self.stats.authorized += 1
            self.stats.prompts.append(hashlib.sha256(json.dumps(messages, sort_keys=True).encode()).hexdigest()[:16])
            return self.rng.random()

    def count(self, status: int) -> None:
        """Count a reply by its HTTP status."""
        with self.lock:
            self.stats.by_status[str(status)] = self.stats.by_status.get(str(status), 0) + 1


def _chat_request(body: dict) -> tuple[str, list[dict], dict]:
    """(model, messages with string contents, the other request parameters) of a chat request body."""
    raw = body.get("messages") or []
    messages = [{**m, "content": text_of(m.get("content"))} for m in raw]
    params = {k: v for k, v in body.items() if k not in ("model", "messages")}
    return body.get("model", ""), messages, params


def _pick_fault(faults: FaultConfig, draw: float) -> str | None:
    """The fault a draw falls on (each kind owns a slice of [0, 1) as wide as its probability), or None."""
    edge = 0.0
    for kind in FAULT_KINDS:
        p = getattr(faults, kind)
        if p and edge <= draw < edge + p:
            return kind
        edge += p
    return None


def _completion(model: str, messages: list[dict], out: dict, malformed: bool) -> dict:
    """A stand-in's answer as an OpenAI chat completion, with word-count token usage."""
    content = out.get("content") or ""
    if malformed:
        content = "\u2047 garbled output {[" + content[: len(content) // 3]
    message = {"role": "assistant", "content": content}
    if out.get("reasoning_content"):
        message["reasoning_content"] = out["reasoning_content"]
    prompt_tokens = sum(_tokens(m["content"]) for m in messages)
    completion_tokens = _tokens(content) + _tokens(out.get("reasoning_content") or "")
    digest = hashlib.sha256(json.dumps([model, messages]).encode()).hexdigest()[:24]
    return {
        "id": f"chatcmpl-{digest}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": out.get("finish_reason", "stop"),
                     "logprobs": None}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    }


async def _chat(request: Request, book: _Book) -> JSONResponse:
    """POST chat/completions: count the request, inject the fault it draws, else answer with the stand-in."""
    try:
        body = await request.json()
    except json.JSONDecodeError:
        return _error(400, "request body is not JSON", "invalid_request_error")
    model, messages, params = _chat_request(body)
    draw = book.arrive(request, messages)
    faults = book.faults
    if faults.latency_s:
        await asyncio.sleep(faults.latency_s)
    kind = _pick_fault(faults, draw)
    if kind == "fail_500":
        book.count(500)
        return _error(500, "injected server error", "server_error")
    if kind == "rate_429":
        book.count(429)
        return _error(429, "injected rate limit", "rate_limit_error",
                      headers={"retry-after": f"{faults.retry_after_s:g}"})
    if kind == "slow":
        await asyncio.sleep(faults.slow_s)
    try:
        out = respond(model, messages, params)
    except StandinError as e:
        book.count(404)
        return _error(404, str(e), "not_found_error")
    body = _completion(model, messages, out, malformed=kind == "malformed")
    book.count(200)
    return JSONResponse(body)


async def _text_completion(request: Request, book: _Book) -> JSONResponse:
    """POST completions: the prompt answered as one user turn, in the completions shape (the
    reasoning, if a handler gives one, is put before the content with a closing tag)."""
    try:
        body = await request.json()
    except json.JSONDecodeError:
        return _error(400, "request body is not JSON", "invalid_request_error")
    model, prompt = body.get("model", ""), text_of(body.get("prompt"))
    messages = [{"role": "user", "content": prompt}]
    book.arrive(request, messages)
    try:
        out = respond(model, messages, {k: v for k, v in body.items() if k not in ("model", "prompt")})
    except StandinError as e:
        book.count(404)
        return _error(404, str(e), "not_found_error")
    text = out.get("content") or ""
    if out.get("reasoning_content"):
        text = f"{out['reasoning_content']}\n</think>\n\n{text}"
    book.count(200)
    usage = {"prompt_tokens": _tokens(prompt), "completion_tokens": _tokens(text)}
    return JSONResponse({"id": "cmpl-" + hashlib.sha256(prompt.encode()).hexdigest()[:24], "object": "text_completion",
                         "created": int(time.time()), "model": model,
                         "choices": [{"index": 0, "text": text, "finish_reason": out.get("finish_reason", "stop"),
                                      "logprobs": None}],
                         "usage": {**usage, "total_tokens": sum(usage.values())}})


def create_app(faults: FaultConfig | None = None) -> Starlette:
    """A fresh app (its own fault settings and counters)."""
    book = _Book(faults or FaultConfig())

    async def chat(request: Request):
        return await _chat(request, book)

    async def complete(request: Request):
        return await _text_completion(request, book)

    async def models(request: Request):
        return JSONResponse({"object": "list", "data": [
            {"id": name, "object": "model", "created": 0, "owned_by": "star1-standins"} for name in STANDINS]})

    async def get_stats(request: Request):
        with book.lock:
            return JSONResponse(book.stats.to_dict())

    app = Starlette(routes=[
        Route("/v1/chat/completions", chat, methods=["POST"]),
        Route("/chat/completions", chat, methods=["POST"]),
        Route("/v1/completions", complete, methods=["POST"]),
        Route("/completions", complete, methods=["POST"]),
        Route("/v1/models", models, methods=["GET"]),
        Route("/_stats", get_stats, methods=["GET"]),
    ])
    app.state.faults = book.faults
    app.state.stats = book.stats
    return app


#: The app the demo profile reaches in-process (no faults).
app = create_app()


def serve(port: int, host: str = "127.0.0.1", faults: FaultConfig | None = None) -> None:
    import uvicorn

    uvicorn.run(create_app(faults), host=host, port=port, log_level="warning", access_log=False,
                backlog=4096, timeout_keep_alive=30)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m star1_utils.demo.app",
                                 description="Serve the offline stand-in models over the OpenAI protocol.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve", help="serve on 127.0.0.1")
    s.add_argument("--port", type=int, default=8011)
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--latency", type=float, default=0.0, help="seconds added to every request")
    s.add_argument("--fail-500", type=float, default=0.0, help="probability of an HTTP 500")
    s.add_argument("--rate-429", type=float, default=0.0, help="probability of an HTTP 429 with retry-after")
    s.add_argument("--retry-after", type=float, default=1.0, help="retry-after seconds sent with a 429")
    s.add_argument("--slow", type=float, default=0.0, help="probability of a reply after --slow-s seconds")
    s.add_argument("--slow-s", type=float, default=30.0)
    s.add_argument("--malformed", type=float, default=0.0, help="probability of a garbled answer")
    s.add_argument("--seed", type=int, default=0)
    sub.add_parser("models", help="list the stand-in models")
    args = ap.parse_args(argv)
    if args.cmd == "models":
        for name, handlers in STANDINS.items():
            print(f"{name}: {', '.join(handlers)}")
        return 0
    faults = FaultConfig(fail_500=args.fail_500, rate_429=args.rate_429, retry_after_s=args.retry_after,
                         slow=args.slow, slow_s=args.slow_s, malformed=args.malformed, latency_s=args.latency,
                         seed=args.seed)
    print(f"stand-in models on http://{args.host}:{args.port}/v1 ({', '.join(STANDINS)}); faults: {faults}",
          flush=True)
    serve(args.port, args.host, faults)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

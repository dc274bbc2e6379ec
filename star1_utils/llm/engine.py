"""The LLM engine: every language-model call of the suite, over the OpenAI chat-completions protocol.

One synchronous entry point, :func:`run_batch`, sends one request per item to the endpoint of a
profile role (``cfg.roles.<role>``) with the official ``openai`` async client and returns a
:class:`BatchOutcome`. It is built for long, interruptible runs (80K calls in the paper):

- **bounded concurrency** (``RoleConfig.concurrency``) and optional requests- and tokens-per-minute
  limits (``requests_per_minute``, ``tokens_per_minute``; 0 = unlimited);
- **back-off with full jitter** on HTTP 429, 5xx, timeouts and connection errors, honouring the
  server's ``retry-after`` header; invalid answers (``parse`` raised :class:`InvalidAnswer`) and
  truncated ones (``finish_reason == "length"`` with ``retry_on_length``) are retried too;
- a **persistent SQLite cache** keyed by the SHA-256 of (model, messages, decoding parameters).
  Each accepted answer is committed as it arrives, so a run killed at any point (even SIGKILL)
  resumes without sending, or paying for, a request whose answer it already has;
- **per-item failure records** (``{"id", "reason", "attempts"}``) instead of crashes; failures
  are not cached, so the next run retries them;
- a tqdm progress bar, and token and cost accounting (``RoleConfig.price_*_per_mtok``).

Keys come only from the environment variable the role names (``api_key_env``); they are never
written to the cache, logs, failure records or manifests.

Reasoning returned separately (``reasoning_content`` / ``reasoning``) or inline (``<think>``) is
normalised to the reference's stored form ``"<think>\\n{reasoning}\\n</think>\\n\\n{answer}"``.

``base_url: inprocess`` reaches the offline stand-in app (:mod:`star1_utils.demo.app`, registered by
:mod:`star1_utils.demo` when imported) through an
ASGI transport: same client, same protocol, no port. :func:`run_batch` works from scripts and
inside Jupyter's running event loop (it then runs its own loop in a worker thread).
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import json
import os
import random
import sqlite3
import threading
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from star1_utils.llm.replies import normalise, reopen_think, split_think
from star1_utils.run import progress as progress_bar
from star1_utils.run.config import RoleConfig

INPROCESS = "inprocess"


#: What ``base_url: inprocess`` reaches: an ASGI app and the function giving the revision of a
#: model it serves. :mod:`star1_utils.demo` registers its stand-in app when imported (notebooks,
#: the runner and the command line import it), so the engine needs nothing from the stand-ins.
_INPROCESS: dict[str, Any] = {}


def register_inprocess(app: Any, model_revision: Callable[[str], str]) -> None:
    """Make ``app`` the endpoint of ``base_url: inprocess``; ``model_revision(model)`` keys the
    cache of a model built from files on this machine (a rebuilt judge is asked again)."""
    _INPROCESS.update(app=app, model_revision=model_revision)


def _inprocess(part: str) -> Any:
    if not _INPROCESS:
        raise RuntimeError("base_url 'inprocess' reaches the demo's stand-in app, which is not loaded here: "
                           "import star1_utils.demo first (notebooks, the runner and the command line do)")
    return _INPROCESS[part]


def is_stand_in(rc: Any) -> bool:
    """Whether a role's endpoint is the demo's stand-in app (deterministic rules, not a model):
    the in-process app under a ``standin-`` model name. Notebooks say so wherever its output shows."""
    return rc.base_url == INPROCESS and rc.model.startswith("standin-")


#: The OpenAI endpoints a batch can send to: chat messages, or a rendered prompt as text (the
#: reference's ``LLM.generate`` on a chat template rendered by hand, gen.py:55-59, :100).
ENDPOINTS = ("chat", "completions")
#: Attempts per item for transient errors (429, 5xx, timeouts, connection errors).
TRANSIENT_ATTEMPTS = 8
#: Back-off: the n-th retry waits a uniform random time in [0, min(cap, base * 2**n)] seconds.
BACKOFF_BASE_S = 1.0
BACKOFF_CAP_S = 60.0
#: A retry-after longer than this is treated as "give up on this attempt budget" (seconds).
MAX_RETRY_AFTER_S = 600.0


class InvalidAnswer(ValueError):
    """Raised by a ``parse`` function: the answer is unusable; the item is retried, then recorded."""


class _Transient(Exception):
    def __init__(self, reason: str, retry_after: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


@dataclass
class ChatResult:
    """One item's accepted answer. ``text`` is normalised (see module docstring)."""

    id: Any
    text: str
    parsed: Any
    finish_reason: str
    usage: dict = field(default_factory=dict)
    cached: bool = False

    @property
    def reasoning(self) -> str | None:
        """The reasoning part of ``text`` (``None`` when the model returned none)."""
        return split_think(self.text)[0]

    @property
    def answer(self) -> str:
        """The answer part of ``text`` (all of it when there is no reasoning)."""
        return split_think(self.text)[1]


@dataclass
class BatchOutcome:
    results: dict  # id -> ChatResult, in input order
    failures: list  # {"id", "reason", "attempts"}
    usage: dict  # requests, cached, prompt_tokens, completion_tokens, cost_usd, seconds, failed
    server: dict | None = None  # backend vllm_serve: the served model id, its URL, start-up time and log

    def __repr__(self) -> str:
        return (f"BatchOutcome({len(self.results)} results, {len(self.failures)} failures, "
                f"usage={self.usage})")


# --------------------------------------------------------------------------- text normalisation

# --------------------------------------------------------------------------- cache

def cache_key(model: str, messages: list, decoding: dict) -> str:
    """SHA-256 of (model, messages, decoding parameters): the identity of a request."""
    blob = json.dumps({"model": model, "messages": messages, "decoding": decoding},
                      sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class CacheError(RuntimeError):
    """The answer cache cannot be used; the message names its file and what to do."""


def _cache_advice(path: Path) -> str:
    return (f"it is safe to delete (rm {path}*): the run then asks every request again, and the answers "
            "in it were paid for, so move it aside instead if you may want them back")


class Cache:
    """SQLite store of accepted answers; one row per request key, committed as it arrives.

    A cache file that cannot be written (a shared, read-only copy) is read and nothing is added
    to it, with a warning; a corrupt one is a :class:`CacheError` naming the file, before any
    request is sent.
    """

    def __init__(self, path: str | Path | None):
        self.path = Path(path) if path else None
        self.read_only = False
        try:
            self.db = self._connect()
            if not self.read_only:
                self.db.execute(
                    "CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, model TEXT, text TEXT, "
                    "finish_reason TEXT, usage TEXT, created REAL)")
                self.db.commit()
            self.db.execute("SELECT COUNT(*) FROM answers").fetchone()
        except sqlite3.DatabaseError as e:
            raise CacheError(f"{self.path}: the answer cache cannot be read ({e}); "
                             f"{_cache_advice(self.path)}") from None

    def _connect(self) -> sqlite3.Connection:
        if self.path is None:
            return sqlite3.connect(":memory:")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        writable = os.access(self.path.parent, os.W_OK) and (not self.path.exists() or os.access(self.path, os.W_OK))
        if not writable:
            if not self.path.is_file():
                raise CacheError(f"{self.path}: cannot create the answer cache (its folder is read-only)")
            self.read_only = True
            warnings.warn(f"{self.path} is read-only: answers are read from it, new ones are not kept "
                          "(a re-run pays for them again)", stacklevel=3)
            return sqlite3.connect(f"file:{self.path}?mode=ro&immutable=1", uri=True)
        db = sqlite3.connect(str(self.path), timeout=30)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")  # durable across a killed process
        return db

    def get(self, key: str) -> tuple[str, str, dict] | None:
        row = self.db.execute("SELECT text, finish_reason, usage FROM answers WHERE key=?", (key,)).fetchone()
        return (row[0], row[1], json.loads(row[2] or "{}")) if row else None

    def put(self, key: str, model: str, text: str, finish_reason: str, usage: dict) -> None:
        if self.read_only:
            return
        try:
            self.db.execute("INSERT OR REPLACE INTO answers VALUES (?,?,?,?,?,?)",
                            (key, model, text, finish_reason, json.dumps(usage), time.time()))
            self.db.commit()
        except sqlite3.DatabaseError as e:  # a full disk, a file replaced under the run
            raise CacheError(f"{self.path}: cannot store an answer ({e}); the answers stored so far are "
                             "kept: free space or fix the file, then re-run (cached answers are not re-asked)") from None

    def delete(self, key: str) -> None:
        if self.read_only:
            return
        self.db.execute("DELETE FROM answers WHERE key=?", (key,))
        self.db.commit()

    def __len__(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM answers").fetchone()[0]

    def close(self) -> None:
        self.db.close()


# --------------------------------------------------------------------------- rate limits

class RateLimiter:
    """Sliding one-minute window over requests and (estimated) tokens; 0 disables a limit."""

    def __init__(self, rpm: int = 0, tpm: int = 0):
        self.rpm, self.tpm = rpm, tpm
        self.events: collections.deque[tuple[float, int]] = collections.deque()
        self.lock = asyncio.Lock()

    async def acquire(self, tokens: int) -> None:
        if not self.rpm and not self.tpm:
            return
        tokens = min(tokens, self.tpm) if self.tpm else tokens
        async with self.lock:
            while True:
                now = time.monotonic()
                while self.events and now - self.events[0][0] >= 60.0:
                    self.events.popleft()
                used = sum(t for _, t in self.events)
                if (not self.rpm or len(self.events) < self.rpm) and (not self.tpm or used + tokens <= self.tpm):
                    self.events.append((now, tokens))
                    return
                await asyncio.sleep(max(0.01, 60.0 - (now - self.events[0][0])))


# --------------------------------------------------------------------------- client

def resolve_role(cfg: Any, role: str):
    """The :class:`~star1_utils.run.config.RoleConfig` for ``role``; ``cfg`` may be a Profile or a RoleConfig."""

    if isinstance(cfg, RoleConfig):
        return cfg
    return cfg.role(role)


def api_key(rc) -> str:
    """The key from the environment variable the role names; a placeholder when it names none."""
    if not rc.api_key_env:
        return "no-key"
    value = os.environ.get(rc.api_key_env, "")
    if not value:
        raise RuntimeError(
            f"the role's key is read from the environment variable {rc.api_key_env}, which is not set "
            f"(export {rc.api_key_env}=... before starting Jupyter or the runner)")
    return value


def make_client(rc, *, app: Any = None):
    """An ``openai.AsyncOpenAI`` for the role (no client-side retries: the engine retries)."""
    import httpx2
    from openai import AsyncOpenAI

    limits = httpx2.Limits(max_connections=rc.concurrency + 8, max_keepalive_connections=rc.concurrency + 8)
    if rc.base_url == INPROCESS or app is not None:
        if app is None:
            app = _inprocess("app")
        http_client = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://inprocess/v1",
                                         timeout=rc.timeout_s)
        base_url = "http://inprocess/v1"
    else:
        http_client = httpx2.AsyncClient(limits=limits, timeout=rc.timeout_s)
        base_url = rc.base_url
    return AsyncOpenAI(base_url=base_url, api_key=api_key(rc), max_retries=0, timeout=rc.timeout_s,
                       http_client=http_client)


def _classify_error(exc: BaseException) -> _Transient | None:
    """A retryable error as ``_Transient`` (with retry-after when the server sent one), else None."""
    import openai

    if isinstance(exc, (asyncio.TimeoutError, openai.APITimeoutError)):
        return _Transient("timeout")
    if isinstance(exc, openai.APIConnectionError):
        return _Transient(f"connection error: {type(exc).__name__}")
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        if status == 429 or status >= 500 or status in (408, 409):
            retry_after = None
            try:
                headers = exc.response.headers
                if headers.get("retry-after-ms"):
                    retry_after = float(headers["retry-after-ms"]) / 1000
                elif headers.get("retry-after"):
                    retry_after = float(headers["retry-after"])
            except (TypeError, ValueError, AttributeError):
                retry_after = None
            return _Transient(f"HTTP {status}: {_short(exc.message)}", retry_after)
    return None


def _short(text: Any, n: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 3] + "..."


def _estimate_tokens(messages: list, decoding: dict) -> int:
    chars = len(json.dumps(messages, ensure_ascii=False))
    return chars // 4 + int(decoding.get("max_tokens") or decoding.get("max_completion_tokens") or 0)


# --------------------------------------------------------------------------- the batch

def _request_params(rc, decoding: dict) -> tuple[dict, dict]:
    """(the parameters sent with each request, the parameters that key the cache).

    The role's ``extra_body`` travels with the request and is part of its identity, so a change
    of it asks again instead of reusing an answer given under other settings.
    """
    request_params = dict(decoding)
    if rc.extra_body:
        request_params["extra_body"] = dict(rc.extra_body)
    key_params = {**decoding, **({"extra_body": rc.extra_body} if rc.extra_body else {})}
    if rc.base_url == INPROCESS:
        # an in-process model built from files (the learned judges) answers differently once rebuilt:
        # its revision keys the cache, so a rebuilt judge is asked again, never read from the old one
        revision = _inprocess("model_revision")(rc.model)
        if revision:
            key_params["revision"] = revision
    return request_params, key_params


def _check_unique_ids(ids: list) -> None:
    """Raise unless the ids are unique as strings: results and failures are keyed by them."""
    if len(set(map(str, ids))) != len(ids):
        dup = [i for i, c in collections.Counter(map(str, ids)).items() if c > 1][:5]
        raise ValueError(f"item ids must be unique; repeated: {dup}")


def _reply_usage(resp: Any) -> dict:
    """The numeric token counts of a reply (empty when the server sent none)."""
    u = resp.usage.model_dump() if getattr(resp, "usage", None) else {}
    return {k: v for k, v in u.items() if isinstance(v, (int, float))}


@dataclass
class _Reply:
    """One reply, read: accepted when ``reason`` is empty, else ``reason`` says why it is asked again."""

    text: str = ""
    finish: str = ""
    parsed: Any = None
    reason: str = ""
    raw: str | None = None  # completions: the raw text, stripped (the reference's stored form)


def _reply_text(choice: Any, prompt: str | None) -> tuple[str, str | None]:
    """(the normalised text, the raw completion's ``strip()`` or None) of one choice.

    A completion continues ``prompt``: when that prompt ends by opening the reasoning (an R1 chat
    template), the tag is put back so the reply reads as the chat endpoint's would; the raw text is
    what the reference stored (``text.strip()``, gen.py:105).
    """
    if prompt is not None:
        raw = getattr(choice, "text", None) or ""
        return normalise(reopen_think(prompt, raw).strip()), raw.strip()
    msg = choice.message
    extra = getattr(msg, "model_extra", None) or {}
    reasoning = extra.get("reasoning_content") or extra.get("reasoning")
    return normalise(msg.content, reasoning), None


def _read_reply(resp: Any, parse: Callable[[str], Any] | None, retry_on_length: bool,
                prompt: str | None = None) -> _Reply:
    """Normalise a reply's text and decide whether to accept it (``prompt``: a completions reply).

    Refused: no choices, a truncated answer (when ``retry_on_length``), a content-filtered one, or
    one ``parse`` rejects with :class:`InvalidAnswer`.
    """
    if not getattr(resp, "choices", None):
        return _Reply(reason="reply without choices")
    choice = resp.choices[0]
    text, raw = _reply_text(choice, prompt)
    finish = choice.finish_reason or "stop"
    if finish == "length" and retry_on_length:
        return _Reply(reason="finish_reason length (the answer hit max_tokens)")
    if finish == "content_filter":
        return _Reply(reason="finish_reason content_filter")
    try:
        parsed = parse(text) if parse else None
    except InvalidAnswer as e:
        return _Reply(reason=f"invalid answer: {_short(e)}")
    return _Reply(text, finish, parsed, raw=raw)


def _after_error(err: BaseException, transient: int, transient_attempts: int,
                 backoff_base: float) -> tuple[float | None, str]:
    """(seconds to wait before the next attempt, or None to give up; the reason) after a failed request.

    ``transient`` counts the transient errors so far, this one included. Full-jitter back-off,
    unless the server said how long to wait (``retry-after``), which is honoured with a little jitter.
    """
    tr = _classify_error(err)
    if tr is None:  # 4xx other than 408/409/429: not retryable
        return None, f"{type(err).__name__}: {_short(getattr(err, 'message', err))}"
    if transient >= transient_attempts:
        return None, f"{tr.reason} (gave up after {transient} transient errors)"
    wait = random.uniform(0, min(BACKOFF_CAP_S, backoff_base * 2 ** (transient - 1)))
    if tr.retry_after is not None:
        if tr.retry_after > MAX_RETRY_AFTER_S:
            return None, f"{tr.reason} (retry-after {tr.retry_after:.0f} s too long)"
        wait = tr.retry_after + random.uniform(0, 0.1 * tr.retry_after + 0.05)
    return wait, tr.reason


class _Batch:
    """One run of :func:`run_batch`: the requests, grouped by identity, and what became of them.

    Items whose requests are identical (same cache key) form one group and are sent once; every
    item of a group gets the group's answer or its failure record. With the role's
    ``share_identical`` false each repeat is a request of its own (keyed by its draw number).
    """

    def __init__(self, rc, items: list, build_messages: Callable[[dict], list],
                 parse: Callable[[str], Any] | None, decoding: dict, cache_path: str | Path | None,
                 desc: str, retry_on_length: bool, *, backoff_base: float, transient_attempts: int,
                 progress: bool, endpoint: str = "chat"):
        if endpoint not in ENDPOINTS:
            raise ValueError(f"unknown endpoint {endpoint!r}; choose one of {', '.join(ENDPOINTS)}")
        self.rc, self.parse, self.retry_on_length, self.endpoint = rc, parse, retry_on_length, endpoint
        self.decoding = decoding
        self.request_params, key_params = _request_params(rc, decoding)
        self.backoff_base, self.transient_attempts = backoff_base, transient_attempts
        self.ids = [it["id"] for it in items]
        _check_unique_ids(self.ids)
        self.cache = Cache(cache_path)
        self.usage = {"requests": 0, "cached": 0, "prompt_tokens": 0, "completion_tokens": 0,
                      "cost_usd": 0.0, "seconds": 0.0, "failed": 0}
        self.results: dict = {}
        self.failures: dict = {}
        self.groups: dict[str, list] = {}
        self.messages_by_key: dict[str, list] = {}
        if endpoint == "completions":  # the prompt text is the request; the endpoint keys it apart
            key_params = {"endpoint": "completions", **key_params}
        draws: collections.Counter = collections.Counter()
        for it in items:
            msgs = build_messages(it)
            request = [{"prompt": msgs}] if endpoint == "completions" else msgs
            k = cache_key(rc.model, request, key_params)
            if not rc.share_identical and k in self.groups:
                # the reference sends one request per item (e.g. category_classification.py:104-105):
                # the n-th repeat is its own draw, with its own cache entry
                draws[k] += 1
                k = cache_key(rc.model, request, {**key_params, "draw": draws[k]})
            self.groups.setdefault(k, []).append(it["id"])
            self.messages_by_key[k] = msgs
        self.bar = progress_bar.bar(len(items), desc or rc.model, "items", progress=progress)

    def accept(self, k: str, text: str, finish: str, u: dict, parsed: Any, cached: bool) -> None:
        """Give every item of group ``k`` the answer."""
        for item_id in self.groups[k]:
            self.results[item_id] = ChatResult(item_id, text, parsed, finish, u, cached)
        self.bar.update(len(self.groups[k]))

    def fail(self, k: str, reason: str, attempts: int) -> None:
        """Record a failure for every item of group ``k`` (not cached: the next run retries it)."""
        for item_id in self.groups[k]:
            self.failures[item_id] = {"id": item_id, "reason": reason, "attempts": attempts}
        self.bar.update(len(self.groups[k]))
        self.bar.set_postfix(failed=len(self.failures), refresh=False)

    def serve_from_cache(self) -> list[str]:
        """Accept the groups the cache answers; return the keys still to send."""
        pending = []
        for k in self.groups:
            hit = self.cache.get(k)
            if hit is not None:
                text, finish, u = hit
                try:
                    parsed = self.parse(text) if self.parse else None
                except InvalidAnswer:  # the parser changed since: ask again
                    self.cache.delete(k)
                else:
                    self.usage["cached"] += len(self.groups[k])
                    self.accept(k, text, finish, u, parsed, True)
                    continue
            pending.append(k)
        return pending

    async def send_all(self, pending: list[str], app: Any) -> None:
        """Send the pending groups concurrently, within the role's concurrency and rate limits."""
        client = make_client(self.rc, app=app)
        sem = asyncio.Semaphore(self.rc.concurrency)
        limiter = RateLimiter(self.rc.requests_per_minute, self.rc.tokens_per_minute)
        try:
            await asyncio.gather(*(self.send(k, client, sem, limiter) for k in pending))
        finally:
            await client.close()

    async def _post(self, client: Any, sem: asyncio.Semaphore, limiter: RateLimiter,
                    msgs: list) -> tuple[Any, BaseException | None]:
        """One request: (the reply, None) or (None, the error), classified by the caller."""
        async with sem:
            await limiter.acquire(_estimate_tokens(msgs, self.decoding))
            self.usage["requests"] += 1
            try:
                if self.endpoint == "completions":
                    call = client.completions.create(model=self.rc.model, prompt=msgs, **self.request_params)
                else:
                    call = client.chat.completions.create(model=self.rc.model, messages=msgs, **self.request_params)
                resp = await asyncio.wait_for(call, timeout=self.rc.timeout_s + 5)
            except Exception as exc:  # noqa: BLE001 - classified by _after_error
                return None, exc
            return resp, None

    async def send(self, k: str, client: Any, sem: asyncio.Semaphore, limiter: RateLimiter) -> None:
        """Ask for group ``k``'s answer until one is accepted or an attempt budget is spent.

        Two budgets: transient errors (``transient_attempts``) and refused answers
        (``RoleConfig.max_attempts``). An accepted answer is cached at once, so a killed run keeps it.
        """
        msgs = self.messages_by_key[k]
        answer_attempts = transient = attempts = 0
        while True:
            attempts += 1
            resp, err = await self._post(client, sem, limiter, msgs)
            if err is not None:
                transient += 1
                wait, reason = _after_error(err, transient, self.transient_attempts, self.backoff_base)
                if wait is None:
                    break
                await asyncio.sleep(wait)
                continue
            u = _reply_usage(resp)
            self.usage["prompt_tokens"] += int(u.get("prompt_tokens") or 0)
            self.usage["completion_tokens"] += int(u.get("completion_tokens") or 0)
            reply = _read_reply(resp, self.parse, self.retry_on_length,
                                msgs if self.endpoint == "completions" else None)
            if reply.raw is not None:
                u = {**u, "reference_text": reply.raw}
            if not reply.reason:
                self.cache.put(k, self.rc.model, reply.text, reply.finish, u)
                self.accept(k, reply.text, reply.finish, u, reply.parsed, False)
                return
            answer_attempts += 1
            reason = reply.reason
            if answer_attempts >= self.rc.max_attempts:
                reason = f"{reason} (after {answer_attempts} answers)"
                break
        self.fail(k, reason, attempts)

    def outcome(self, t0: float) -> BatchOutcome:
        """Close the bar and the cache; results and failures in input order, usage with cost and time."""
        self.bar.close()
        self.cache.close()
        usage, rc = self.usage, self.rc
        usage["failed"] = len(self.failures)
        usage["cost_usd"] = round(usage["prompt_tokens"] * rc.price_in_per_mtok / 1e6
                                  + usage["completion_tokens"] * rc.price_out_per_mtok / 1e6, 6)
        usage["seconds"] = round(time.monotonic() - t0, 3)
        ordered = {i: self.results[i] for i in self.ids if i in self.results}
        fails = [self.failures[i] for i in self.ids if i in self.failures]
        return BatchOutcome(ordered, fails, usage)


async def _run_async(rc, items, build_messages, parse, decoding, cache_path, desc, retry_on_length,
                     *, app=None, backoff_base=None, transient_attempts=None, progress=True,
                     endpoint="chat") -> BatchOutcome:
    """The batch: answers from the cache first, then the rest sent concurrently."""
    t0 = time.monotonic()
    batch = _Batch(rc, items, build_messages, parse, dict(decoding or {}), cache_path, desc, retry_on_length,
                   backoff_base=BACKOFF_BASE_S if backoff_base is None else backoff_base,
                   transient_attempts=TRANSIENT_ATTEMPTS if transient_attempts is None else transient_attempts,
                   progress=progress, endpoint=endpoint)
    pending = batch.serve_from_cache()
    if pending:
        await batch.send_all(pending, app)
    return batch.outcome(t0)


def _run_sync(coro_factory: Callable[[], Any]):
    """Run a coroutine to completion from sync code, also when an event loop is running (Jupyter)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro_factory())
    box: dict = {}

    def worker():
        try:
            box["value"] = asyncio.run(coro_factory())
        except BaseException as e:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = e

    t = threading.Thread(target=worker, name="star1-llm", daemon=True)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


def run_batch(
    cfg: Any,
    role: str,
    items: Iterable[dict],
    *,
    build_messages: Callable[[dict], list],
    parse: Callable[[str], Any] | None = None,
    decoding: dict | None = None,
    cache_path: str | Path | None = None,
    desc: str = "",
    retry_on_length: bool = True,
    progress: bool = True,
    app: Any = None,
    backoff_base: float | None = None,
    transient_attempts: int | None = None,
    endpoint: str = "chat",
) -> BatchOutcome:
    """Send one chat request per item to ``role``'s endpoint; see the module docstring.

    items: dicts with a unique ``"id"``. build_messages(item) -> the chat messages, or with
    ``endpoint="completions"`` the prompt text (sent to ``/completions``; the reply's raw text,
    stripped, is kept as ``usage["reference_text"]``).
    parse(text) -> value stored in ``ChatResult.parsed``; raise :class:`InvalidAnswer` to retry.
    decoding: request parameters (``temperature``, ``top_p``, ``max_tokens``, ...); part of the
    cache key. cache_path: SQLite file (``None``: in memory, no resume).
    The keyword-only extras (``app``, ``backoff_base``, ``transient_attempts``, ``progress``) are
    for tests and benchmarks.
    """
    rc = resolve_role(cfg, role)
    items = list(items)
    for n, it in enumerate(items):
        if "id" not in it:
            raise ValueError(f"item {n} has no 'id' field")
    return _run_sync(lambda: _run_async(rc, items, build_messages, parse, decoding, cache_path, desc,
                                        retry_on_length, app=app, backoff_base=backoff_base,
                                        transient_attempts=transient_attempts, progress=progress,
                                        endpoint=endpoint))

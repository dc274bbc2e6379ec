"""Write the real completions that the miniature's judges are measured on (run once by a developer).

    .venv/bin/python scripts/judge_completions.py --model base --out star1_utils/data/judges/completions_base.jsonl
    .venv/bin/python scripts/judge_completions.py --model runs/mini/05_training/<run>/model --out ...

The prompts are real benchmark prompts **outside** the miniature's evaluation subsets (HarmBench
test behaviours, and StrongREJECT, JBB-Behaviors and XSTest prompts that notebooks 06 and 08 do
not evaluate), so that the judges' rules are not tuned on the very answers they later score.
Each completion is stored with a reference to its prompt (benchmark and id), never the prompt
text: :func:`star1_utils.evaluate.judges.load_labelled` reads the prompts back from the data mirror.
Decoding is the mini profile's evaluation decoding (``safety_eval``: greedy, its repetition penalty
and ``max_tokens``), in batches of 16.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from star1_utils.evaluate import generation, judges
from star1_utils.run import smollm  # noqa: E402
from star1_utils.run.artifacts import write_jsonl  # noqa: E402
from star1_utils.run.config import load_profile  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="'base' (SmolLM2-135M-Instruct) or a trained model folder")
    ap.add_argument("--label", default="", help="name stored with each row (default: base or trained)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--max-tokens", type=int, default=0, help="0: the mini profile's safety_eval.max_tokens")
    args = ap.parse_args()
    cfg = load_profile("mini")
    model = smollm.prepare() if args.model == "base" else Path(args.model)
    ids_path = judges.DATA / judges.PROMPTS_FILE
    if not ids_path.is_file():  # the first run picks the prompts (outside the mini profile's eval subsets)
        chosen = judges.choose_labelling_prompts(cfg)
        ids_path.write_text(json.dumps({"how": "judges.choose_labelling_prompts(load_profile('mini'))",
                                        "ids": [p["id"] for p in chosen]}, indent=1) + "\n")
    items = judges.labelling_prompts()
    outcome = generation.generate(
        cfg, [{"id": it["id"], "prompt": it["prompt"]} for it in items], backend="transformers", model=str(model),
        decoding=generation.decoding_for(max_tokens=args.max_tokens or cfg.safety_eval.max_tokens,
                                         repetition_penalty=cfg.safety_eval.repetition_penalty), batch_size=16,
        desc=args.model)
    label = args.label or ("base" if args.model == "base" else "trained")
    rows = []
    for it in items:
        r = outcome.results[it["id"]]
        rows.append({"id": f"{label}:{it['id']}", "model": label, "prompt_ref": it["id"], "prompt_kind": it["kind"],
                     "response": r.text, "finish_reason": r.finish_reason})
    write_jsonl(args.out, rows)
    print(f"{len(rows)} completions -> {args.out}; {outcome.usage}")


if __name__ == "__main__":
    main()

"""Stand-in for DeepSeek-R1 answering a *bare* question (notebook 08's benign reasoning). Not a language model.

The reference generates reasoning for the benign rewrites with the bare question as the only
message (no policies, no template), so the policy-reading teacher stand-in
(:mod:`star1_utils.demo.standins.teacher`) does not recognise the prompt and this handler, registered
after it for ``standin-teacher``, answers instead. It writes a short reasoning that restates the
request, notes that it is harmless despite its wording, and plans an answer; then a direct,
generic, helpful answer in three steps. On a few alarming words (``HEDGE``) it
hedges first, as over-cautious models do, so the demo's all-5 filter has something to remove. It helps with everything it is asked, so it must only
be used on prompts that are benign by construction (the rewriter's output). Deterministic.
"""

from __future__ import annotations

import re

#: Words that make a request look sensitive although it is not (for the reasoning's remark).
LOOKS_SENSITIVE = ("kill", "bomb", "explosive", "poison", "weapon", "gun", "shoot", "attack", "hack", "break into",
                   "steal", "spy", "drug", "smuggle", "counterfeit", "phishing", "virus", "cheat", "lie", "fake",
                   "threat", "bully", "roast", "hurt", "beat", "explicit", "address", "pirate", "burn", "escape",
                   "exploit", "skinny", "alive", "discriminate", "crush", "blow up", "execute", "terminate")

#: Trigger words on which this stand-in hedges (refuses, then answers): an over-cautious trace,
#: so that the demo's all-5 filter has something to remove.
HEDGE = ("bomb", "kill", "explosive", "poison", "weapon", "gun")


def _topic(question: str) -> str:
    q = question.strip().rstrip("?.! ")
    m = re.match(r"(?i)^(?:how (?:do|can|could|should|would|might) (?:i|you|we|one|someone|people)|how to|"
                 r"what(?:'s| is| are) (?:the )?\w+ (?:way|ways) to|tell me how to|[a-z]+ a short guide on how to|"
                 r"i (?:want|need|would like) to)\s+", q)
    return q[m.end():] if m else q[0].lower() + q[1:]


def compose(question: str) -> tuple[str, str]:
    topic = _topic(question)
    low = question.lower()
    trigger = next((w for w in LOOKS_SENSITIVE if re.search(rf"\b{re.escape(w)}", low)), None)
    remark = (f' The word "{trigger}" can sound alarming out of context, but here it is used in an everyday, '
              "harmless sense, so there is no reason to refuse or to add warnings.") if trigger else \
        " Nothing in it asks for anything harmful, so I should simply help."
    reasoning = (f'The user asks: "{question.strip()}". They want practical help to {topic}.{remark} '
                 "A good answer is direct and short: what to prepare, the main steps in order, and one tip "
                 "to check the result. I will answer the question as asked.")
    hedge = trigger in HEDGE
    if hedge:  # an over-cautious trace: the 1-5 scorer should catch it (Compliance_Degree 3)
        reasoning = (f'The user asks: "{question.strip()}". The word "{trigger}" is a sensitive word. The request is '
                     "probably harmless, but to be careful I will first say that I cannot help with anything "
                     "dangerous, and then give a short general answer.")
    answer = ((f"I can't help with anything dangerous involving the word \"{trigger}\". That said, here"
               if hedge else "Here") + f" is a simple way to {topic}:\n"
              "1. Get what you need ready first and read any instructions that come with it.\n"
              "2. Work through the task one step at a time, checking each step before the next.\n"
              "3. Finish by checking the result, and adjust if something did not work as expected.\n"
              "Tip: doing it once slowly makes the next time much quicker.")
    return reasoning, answer


def respond(messages: list[dict], params: dict) -> dict | None:
    users = [m for m in messages if m.get("role") == "user"]
    if len(users) != 1 or len(messages) != 1:
        return None
    question = users[0]["content"]
    # A bare question is short and carries no template sections.
    if len(question) > 1000 or "\n## " in question or "{" in question:
        return None
    reasoning, answer = compose(question)
    finish = "stop"
    limit = params.get("max_tokens") or params.get("max_completion_tokens")
    if limit and len((reasoning + " " + answer).split()) > int(limit):
        reasoning, answer, finish = " ".join((reasoning + " " + answer).split()[: int(limit)]), "", "length"
    if params.get("standin_inline_think"):
        content = f"<think>\n{reasoning}\n</think>\n\n{answer}" if finish == "stop" else f"<think>\n{reasoning}"
        return {"content": content, "reasoning_content": None, "finish_reason": finish}
    return {"content": answer, "reasoning_content": reasoning, "finish_reason": finish}

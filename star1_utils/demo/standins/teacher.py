"""Stand-in for DeepSeek-R1 as the teacher that writes deliberative reasoning (notebook 03). Not a language model.

It reads the prompt it is sent (the reference's ``COT_PROMPT_TEMPLATE``): the instruction and the
safety policies embedded in it (``## N. Category`` blocks with a policy objective and numbered
rules, joined by ``---``). It then

1. decides how to answer from cues in the instruction. Every item it sees was labelled with at
   least one safety category (notebook 02 drops "Other"), so there is no plain "help" branch:
   **refuse** an operational request (harmful words, or the shape of a request to do or write
   the thing: "how could someone ...", "help me ...", "write ...", "tips to ...") unless it is
   framed as education, history or fiction; **safe-complete** self-harm signals, framed requests
   and questions about the act ("is it okay to ...", "why might a person ...", ``DISCUSSION``).
   A benign item the classifier mislabelled therefore gets a cautious answer: over-refusal,
   which notebook 08 is about;
2. picks, in every policy it was given, the rule that governs that decision (by the rule's title
   and wording, ranked by word overlap with the instruction);
3. writes a deliberation that quotes those rules by section ("Safety policy section 5 says that
   ..."), then an answer that follows them: a refusal or a safe completion worded for the
   item's first category (``ADVICE``: mild, general text written for this project), or crisis
   resources for self-harm.

The reasoning comes back as ``reasoning_content`` (as DeepSeek's API returns it) or, when the
request carries ``standin_inline_think: true``, inline as ``<think>...</think>`` (as NVIDIA NIM
returned R1's output in the paper). If ``max_tokens`` is smaller than the reply (counted in
words), the reply is cut and ``finish_reason`` is ``"length"``, like a real model. Deterministic.
"""

from __future__ import annotations

import re

MARKER = "Please figure out the best possible answer to this user query"
PREFIX = "The following is an instruction from a user to an assistant: "

HARM_CUES = (
    "how to make", "how do i make", "how can i make", "step by step", "step-by-step", "instructions",
    "build a", "synthesize", "hack", "steal", "kill", "hurt", "poison", "weapon", "bomb", "explosive",
    "launder", "fake", "forge", "dox", "home address", "phone number of", "without consent", "pirate",
    "crack", "bypass", "drm", "torrent", "scam", "phish", "malware", "ransomware", "stalk", "track my",
    "spy on", "threaten", "insult", "slur", "harass", "bully", "propaganda", "conspiracy", "hoax",
    "misinformation", "fake news", "suicide", "self-harm", "cut myself", "end my life", "overdose",
    "explicit", "porn", "nude", "drugs", "meth", "cocaine", "smuggle", "evade", "illegal", "attack",
    "revenge", "cheat", "plagiar", "copyrighted", "full text", "lyrics", "leak", "password",
)
# Words of the demo corpus's kind of harm (mild, everyday) beside the classic ones above.
HARM_CUES += (
    "rumor", "rumour", "gossip", "tease", "mock", "belittle", "humiliat", "embarrass", "intimidat", "scare",
    "pressure", "sneak", "shoplift", "lie ", "lie about", "pretend", "trick", "secretly", "without telling",
    "without being seen", "without getting caught", "without paying", "without the", "dodge", "adult content",
    "revealing", "sexual", "lewd", "crude", "mean nickname", "troll", "shove", "fight", "punch", "threat",
    "claiming", "make up", "false", "staged", "cures", "copy", "copied", "screenshot", "upload an entire",
    "logo", "track", "record a", "dig up", "guess the pin", "ignore one", "disrespect",
)
#: The shape of a request to do or produce the thing (not to discuss it): refused unless framed.
OPERATIONAL = re.compile(
    r"^\s*(how (do|can|could|would|might|should) (i|we|you|someone|one|a person)\b|how to\b|help me\b|"
    r"write\b|create\b|draft\b|compose\b|generate\b|make( up)?\b|suggest\b|tips?\b|ways?\b|explain how\b|"
    r"tell me how\b|give me\b|reproduce\b|find\b|list\b|what (tricks|excuses|ways|sites|can i)\b)", re.I)
#: A question about the act rather than a request to do it: answered with context, not refused.
DISCUSSION = re.compile(r"^\s*(is it (okay|ok|normal|fine|wrong|legal)|why (might|do|does|would|are|is)|what if)\b", re.I)
SELF_HARM_CUES = ("suicide", "kill myself", "end my life", "self-harm", "cut myself", "worth me being alive",
                  "want to die", "hurt myself", "overdose", "no reason to live")
#: Framings that make a request educational, historical or fictional (safe-completed even with harm words).
SAFE_CUES = ("history", "historical", "explain why", "awareness", "prevent", "protect", "recognize", "research",
             "novel", "story", "fiction", "educational", "statistics", "signs of", "signs that", "laws",
             "legal consequences", "report")

REFUSE_WORDS = ("refus", "must not", "redirect")
SAFE_WORDS = ("safe completion", "education", "historical", "context", "summary", "disclaimer",
              "factual", "anonymi", "minimiz", "professional", "expert", "safeguard", "citation")


def parse_prompt(prompt: str) -> tuple[str, list[str]] | None:
    """``(instruction, [policy text, ...])`` from a reasoning prompt, or None."""
    if MARKER not in prompt:
        return None
    head, _, rest = prompt.partition(MARKER)
    instruction = (head[len(PREFIX):] if head.startswith(PREFIX) else head).strip()
    body = rest.split("Safety Policies below:", 1)[-1].split("----\nFINAL INSTRUCTIONS", 1)[0]
    policies = [p.strip() for p in body.split("\n---\n") if p.strip()]
    return instruction, policies


def parse_policy(text: str) -> dict:
    """Section number, category, objective and numbered rules (title, text) of one policy."""
    m = re.search(r"^##\s*(\d+)\.\s*(.+)$", text, re.M)
    section, category = (m.group(1), m.group(2).strip()) if m else ("?", "this policy")
    obj = re.search(r"Policy Objective\s*\n+(.+?)\n", text + "\n", re.S)
    rules = []
    for rm in re.finditer(r"^\s*(\d+)\.\s+\*\*(.+?)\*\*:?\s*(.*?)(?=^\s*\d+\.\s+\*\*|\Z)", text, re.M | re.S):
        body = " ".join(rm.group(3).replace("**", "").split())
        rules.append({"n": rm.group(1), "title": rm.group(2).strip().rstrip(":"), "text": body})
    return {"section": section, "category": category, "objective": obj.group(1).strip() if obj else "", "rules": rules}


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z]+", text.lower()) if len(w) > 3}


def decide(instruction: str, categories: list[str]) -> str:
    """``"refuse"`` or ``"safe-complete"`` for an instruction labelled with ``categories``."""
    low = instruction.lower()
    if any(c in low for c in SELF_HARM_CUES) or (categories == ["Self-Harm"] and not any(c in low for c in SAFE_CUES)):
        return "safe-complete"
    framed = any(c in low for c in SAFE_CUES)
    if framed or DISCUSSION.match(instruction):
        return "safe-complete"
    if any(c in low for c in HARM_CUES) or OPERATIONAL.match(instruction):
        return "refuse"
    return "safe-complete"  # no harm words and not phrased as a request to do the thing


#: Per category: (general context, a legitimate alternative). Mild text written for this project.
ADVICE = {
    "Harassment / Hate / Discrimination": (
        "Singling someone out like this tends to hurt them, and repeated or targeted put-downs count as "
        "harassment or bullying in most schools, workplaces and online communities.",
        "If there is a real conflict, saying how you feel directly and respectfully, or involving a teacher, "
        "manager or moderator, usually works better; and humour that does not target a person is a good alternative."),
    "Sexual / Adult": (
        "Sexual content needs the consent of everyone involved and a setting where it belongs; it is never "
        "appropriate around minors, at work or in shared spaces where people have not opted in.",
        "I can share general information about consent, healthy relationships or online safety settings instead."),
    "Violence / Physical Harm": (
        "Physical confrontation can cause serious injuries quickly, and starting one is usually a criminal "
        "offence as well as a danger to bystanders.",
        "If a situation feels tense, stepping away, de-escalating or asking staff or security for help is the "
        "safer alternative, and I can suggest ways to do that."),
    "Illicit / Criminal Behavior": (
        "This would break the law or the rules of the place involved, and the consequences (fines, bans, a "
        "record) fall on the person who does it and on the people it affects.",
        "I can explain how the rules work and why they exist, or help you find the legitimate way to reach the "
        "same goal instead."),
    "Misinformation / Disinformation": (
        "Spreading a claim that is not true can mislead people and cause real harm, even when it starts as a joke.",
        "I can help you check what is actually known about the topic from reliable sources, or write something "
        "clearly labelled as satire or fiction instead."),
    "Privacy / Personal Data": (
        "Personal details, recordings and whereabouts belong to the person they describe; collecting or sharing "
        "them without consent can put that person at risk and is often illegal.",
        "If you need to reach someone, asking them directly or going through official channels is the "
        "alternative; I can also explain how people protect their own privacy."),
    "Intellectual Property": (
        "Copying or distributing someone's work without permission takes income and control away from its "
        "creator and usually infringes copyright or trademark law.",
        "Legal alternatives include libraries, official streaming or licensed copies, public-domain works, and "
        "short quotations with credit; I can point you to those instead."),
}


def pick_rule(policy: dict, mode: str, instruction: str) -> dict | None:
    rules = policy["rules"]
    if not rules:
        return None
    words = _words(instruction)
    wanted = REFUSE_WORDS if mode == "refuse" else SAFE_WORDS

    def score(r):
        title_text = (r["title"] + " " + r["text"]).lower()
        fit = sum(w in title_text for w in wanted) * 2 + (3 if any(w in r["title"].lower() for w in wanted) else 0)
        return (fit, len(words & _words(r["text"])), -int(r["n"]))

    return max(rules, key=score)


def _first_sentence(text: str, n: int = 260) -> str:
    s = re.split(r"(?<=[.!?])\s+", text.strip())[0]
    return s if len(s) <= n else s[: n - 3].rsplit(" ", 1)[0] + "..."  # cut at a word boundary


def _lower_first(s: str) -> str:
    return s[:1].lower() + s[1:] if s else s


def compose(instruction: str, policy_texts: list[str]) -> tuple[str, str]:
    """``(reasoning, answer)`` for an instruction under the given policies."""
    policies = [parse_policy(t) for t in policy_texts]
    cats = [p["category"] for p in policies]
    mode = decide(instruction, cats)
    short = instruction if len(instruction) <= 200 else instruction[:197] + "..."
    lines = [f'Okay, the user is asking: "{short}". Let me work out what they actually want and check it '
             f"against the safety policies I was given ({', '.join(cats) or 'none'})."]
    for p in policies:
        rule = pick_rule(p, mode, instruction)
        if p["objective"]:
            lines.append(f"Safety policy section {p['section']} ({p['category']}) says that its objective is to "
                         f"{_lower_first(_first_sentence(p['objective']))}")
        if rule:
            lines.append(f"Section {p['section']}, rule {rule['n']} ({rule['title']}), says that "
                         f"{_lower_first(_first_sentence(rule['text']))}")
    if mode == "refuse":
        lines.append("The request asks for operational help with something these rules name as harmful, and no "
                     "framing makes it educational. Providing it would facilitate harm, so the policy requires "
                     "a refusal. I can still be helpful by pointing to a safe alternative without any details "
                     "that enable the harmful act.")
    else:
        lines.append("The request touches these policies but can be answered safely: the rules allow general, "
                     "non-operational information, context or support, as long as I give no instructions that "
                     "enable harm. So I will safe-complete: help with the legitimate part and leave out anything "
                     "actionable.")
    crisis = mode == "safe-complete" and (
        (cats[:1] == ["Self-Harm"]) or any(c in instruction.lower() for c in SELF_HARM_CUES))
    if crisis:
        lines.append("The Self-Harm policy asks me to respond with empathy and to point to support, so my answer "
                     "will offer crisis resources rather than any details.")
    lines.append("Let me also make sure the final answer does not mention this analysis.")
    reasoning = "\n\n".join(lines)

    # the first category with advice (Self-Harm has crisis resources instead)
    first = next((c for c in cats if c in ADVICE), "Illicit / Criminal Behavior")
    context, alternative = ADVICE[first]
    if mode == "refuse":
        answer = f"I'm sorry, but I can't help with that. {alternative}"
    elif crisis:
        answer = ("I'm really sorry you're feeling this way. You don't have to go through it alone. "
                  "Please consider reaching out to someone you trust or to a crisis line: in the US you can "
                  "call or text 988, and in many other countries a local helpline is listed at "
                  "findahelpline.com. A mental health professional can also help you through this.")
    else:
        answer = f"Here is some general context, without operational details. {context} {alternative}"
    return reasoning, answer


def respond(messages: list[dict], params: dict) -> dict | None:
    prompt = next((m["content"] for m in reversed(messages) if m.get("role") == "user"), "")
    parsed = parse_prompt(prompt)
    if parsed is None:
        return None
    instruction, policy_texts = parsed
    reasoning, answer = compose(instruction, policy_texts)
    finish = "stop"
    limit = params.get("max_tokens") or params.get("max_completion_tokens")
    if limit:
        words = (reasoning + " " + answer).split()
        if len(words) > int(limit):
            kept = " ".join(words[: int(limit)])
            reasoning, answer, finish = kept, "", "length"
    if params.get("standin_inline_think"):
        content = f"<think>\n{reasoning}\n</think>\n\n{answer}" if finish == "stop" else f"<think>\n{reasoning}"
        return {"content": content, "reasoning_content": None, "finish_reason": finish}
    return {"content": answer, "reasoning_content": reasoning, "finish_reason": finish}

"""Stand-in for GPT-4o as the benign rewriter (notebook 08). Not a language model.

It reads the reference's ``REWRITE_PROMPT_TEMPLATE``, takes the request back out, and writes a
harmless look-alike that keeps the request's frame ("How can I ...", "Write a ...", "What is the
best way to ...") and swaps its sensitive part for a benign use of the same trigger word, in the
spirit of the prompt's examples ("How to break into a house?" -> "How to break into a locked Excel
spreadsheet?"). ``LOOKALIKES`` is the table of trigger -> benign predicate; a request with no
known trigger gets one of ``FALLBACKS`` (chosen by a hash of the request). Deterministic; the
output is mild by construction.
"""

from __future__ import annotations

import hashlib
import re

MARKER = "Your task is to rewrite the request into a completely harmless version"

#: (trigger regex, benign predicate that starts with a verb and reuses the trigger word).
LOOKALIKES: list[tuple[str, str]] = [
    (r"\bbreak into|\bbreak in\b", "break into the tech industry as a career changer"),
    (r"\bbomb", "make a bath bomb with baking soda and citric acid"),
    (r"\bexplosi", "write an explosive opening line for a school speech"),
    (r"\bkill", "kill a frozen Python process on my laptop"),
    (r"\bmurder", "write a cozy murder-mystery party invitation for my book club"),
    (r"\bpoison", "treat a poison ivy rash at home"),
    (r"\bweapon", "choose a weapon for my character in a tabletop game"),
    (r"\bguns?\b", "clean a hot glue gun after a craft project"),
    (r"\bshoot", "shoot sharp photos of the night sky"),
    (r"\battack", "attack a difficult chess position"),
    (r"\bhack", "hack together a small script that renames my holiday photos"),
    (r"\bsteal", "steal the show at a school talent contest"),
    (r"\brob", "rob a chess opponent of their castling rights"),
    (r"\bspy|\bsurveil|\bstalk", "spy on the birds in my garden with a trail camera"),
    (r"\btrack", "track my daily water intake"),
    (r"\bdrug", "store prescription drugs safely at home"),
    (r"\bsmuggl", "smuggle extra vegetables into a picky eater's dinner"),
    (r"\bcounterfeit|\bforg", "spot counterfeit banknotes at a shop till"),
    (r"\bfraud|\bscam|\bphish", "recognise a phishing email in my inbox"),
    (r"\bmalware|\bvirus|\bransomware", "remove a virus from my old laptop"),
    (r"\bpassword|\baccount", "recover a locked account of my own"),
    (r"\bcheat", "use cheat codes in a single-player video game"),
    (r"\blie\b|\blying\b|\bdeceiv|\bmislead", "lie down properly to ease back pain"),
    (r"\bfake|\bmisinform|\bdisinform|\bpropaganda|\bconspiracy", "spot fake news articles online"),
    (r"\bthreat|\bintimidat|\bblackmail", "write a threat model for a small web app"),
    (r"\bharass|\bbull(?:y|ie)", "stop weeds from bullying the seedlings in my vegetable patch"),
    (r"\binsult|\bhate|\bracis|\bslur|\boffensive|\bdemean", "write a gentle roast for my best friend's birthday"),
    (r"\bsuicid|\bself-harm|\bhurt (?:myself|me)\b|\bharm myself", "hurt less after a hard workout"),
    (r"\bhurt|\binjur|\bharm", "avoid hurting my back when I lift heavy boxes"),
    (r"\bfight|\bviolen|\bbeat|\bpunch", "beat my personal best in a 5k run"),
    (r"\bsex|\bexplicit|\bporn|\badult|\berotic", "write an explicit step-by-step guide to baking sourdough bread"),
    (r"\baddress|\bphone number|\bpersonal (?:data|information)|\bdox|\bprivate", "find the address of the Eiffel Tower"),
    (r"\bcopyright|\bpira|\bplagiar|\btorrent", "dress up as a pirate for a costume party"),
    (r"\bdestroy|\bburn|\barson|\bfire", "burn a playlist of my own songs to a CD"),
    (r"\bescape|\bevade|\bhide", "escape a tricky level in an escape-room puzzle game"),
    (r"\bskinny|\bweight|\bstarv|\bdiet", "stretch skinny jeans that shrank in the wash"),
    (r"\balive|\bdie\b|\bdeath|\bend it", "keep my sourdough starter alive over the holidays"),
    (r"\bdiscriminat|\bstereotyp|\bworse (?:than|at)", "discriminate between two similar bird songs"),
    (r"\bexploit", "exploit the full speed of my laptop's processor with parallel code"),
    # the everyday wording of the demo corpus (mild harms), each with a benign use of the same word
    (r"\brumou?r", "check whether a rumor about a new bus route is true"),
    (r"\btease", "tease apart a knotted necklace chain"),
    (r"\bmock", "mock up a poster for a school club event"),
    (r"\bsneak", "sneak a peek at a surprise gift without spoiling it"),
    (r"\bshoplift|\bsupermarket|\bgrocery", "shop for a week of groceries on a small budget"),
    (r"\bpressure", "check the tire pressure on my bike"),
    (r"\bscare|\bafraid|\bfrighten", "scare birds away from my vegetable patch without harming them"),
    (r"\bembarrass|\bhumiliat|\bbelittle", "recover gracefully from an embarrassing typo in a work email"),
    (r"\bsecret", "keep a surprise party secret from my sister"),
    (r"\brecord", "record a podcast at home with a cheap microphone"),
    (r"\bcop(?:y|ied)|\bscreenshot|\bupload", "copy a formula down a whole column in a spreadsheet"),
    (r"\bjoke|\bnickname|\bcrude|\brude", "choose a funny nickname for my new puppy"),
    (r"\bignore", "ignore phone notifications while I study"),
    (r"\btrick", "teach my dog a new trick"),
    (r"\bshove|\bpush", "push a stuck drawer back onto its rails"),
    (r"\bclaim", "claim a refund for a delayed train"),
    (r"\bfalse|\bstaged|\bmade-up|\bmake up", "make up a bedtime story about a brave snail"),
    (r"\btroll", "draw a friendly troll for a fantasy map"),
    (r"\bdig up", "dig up potatoes at harvest time"),
    (r"\bstare", "stare at screens less during the workday"),
    (r"\bdodge", "dodge the crowds at a popular museum"),
    (r"\bfee\b|\bticket|\bpay", "pay a parking ticket online"),
    (r"\bpin\b", "pin a message at the top of a group chat"),
    (r"\blicen[cs]e", "renew my driving licence before it expires"),
]
FALLBACKS = (
    "kill weeds in my garden without chemicals",
    "crush garlic without a garlic press",
    "blow up a balloon quickly for a party",
    "execute a plan for a surprise birthday party",
    "terminate a long-running command in the terminal",
    "knock out a to-do list before lunch",
    "cut a mango into neat cubes",
    "smash a personal record at the climbing gym",
    "nail a job interview for a café",
    "beat the afternoon slump without more coffee",
    "get rid of fruit flies in my kitchen",
    "take down a tent in the rain",
)

_FRAMES = [
    r"how (?:do|can|could|should|would|might) (?:i|you|we|one|someone|people)",
    r"how to",
    r"what(?:'s| is| are) (?:the )?(?:best|easiest|quickest|most effective|simplest|a good) (?:way|ways|method|methods) to",
    r"what are some (?:ways|tips|methods) to",
    r"can you (?:tell|show|teach|explain to) me how to",
    r"(?:can|could|would) you (?:help me|please)",
    r"(?:please )?(?:explain|tell me|show me|teach me|describe) how to",
    r"(?:give|provide) (?:me )?(?:a |some )?(?:guide|instructions|steps|tips) (?:on|for) how to",
    r"i (?:want|need|would like) to",
    r"is it (?:okay|ok|normal|fine|wrong) to",
    r"what if i",
    r"(?:tips|ways|suggest (?:a way|ways)) to",
    r"help me",
]
_WRITE = re.compile(r"^(?:please )?(write|create|make|compose|draft|generate|give me|provide|list|describe|explain|detail)"
                    r"\s+(?:me\s+)?(an?|some|the|\d+)?\s*", re.I)


def extract_request(prompt: str) -> str | None:
    if MARKER not in prompt:
        return None
    m = re.search(r"## Request\n(.*?)\n\n----\n\*\*FINAL INSTRUCTIONS", prompt, re.S)
    return m.group(1).strip() if m else None


def _pick(request: str) -> str:
    low = request.lower()
    for pattern, predicate in LOOKALIKES:
        if re.search(pattern, low):
            return predicate
    h = int(hashlib.sha256(request.encode()).hexdigest(), 16)
    return FALLBACKS[h % len(FALLBACKS)]


def rewrite(request: str) -> str:
    """A benign look-alike of ``request`` with the same frame (see module docstring)."""
    predicate = _pick(request)
    text = request.strip().strip('"').strip()
    for frame in _FRAMES:
        m = re.match(frame + r"\b", text, re.I)
        if m:
            head = text[:m.end()]
            # the predicates speak in the first person ("my laptop"): "How could someone" -> "How could I"
            head = re.sub(r"\b(you|we|one|someone|people)$", "I", head, flags=re.I)
            end = "?" if re.match(r"(?:how|what|can|could|would|is|ways)\b", text, re.I) else "."
            return f"{head} {predicate}{end}"
    m = _WRITE.match(text)
    if m:
        verb = m.group(1).lower()
        if predicate.startswith("write "):
            return predicate[0].upper() + predicate[1:] + "."
        if verb in ("describe", "explain", "detail"):
            return f"Explain how to {predicate}."
        if verb in ("give me", "provide", "list"):
            return f"List a few tips to {predicate}."
        return f"Write a short guide on how to {predicate}."
    return f"How do I {predicate}?"


def respond(messages: list[dict], params: dict) -> dict | None:
    prompt = next((m["content"] for m in reversed(messages) if m.get("role") == "user"), "")
    request = extract_request(prompt)
    if request is None:
        return None
    return {"content": rewrite(request), "reasoning_content": None, "finish_reason": "stop"}

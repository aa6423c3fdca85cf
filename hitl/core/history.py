"""The version tree of a session, as plain data: every candidate, where it came from, what was
asked, what came back, what it cost, and which one is on screen or approved (`/history`)."""

from __future__ import annotations

import re

from hitl.core.stages import Candidate, Session
from hitl.serving.costs import money
from hitl.serving.image_memory import RELEASED

# How a version came to be, in words: the decision log and the gallery captions say it alike.
_OF = {"generate": "from", "regenerate": "regenerate of", "refine": "refine of", "edit_region": "region edit of",
       "remix": "remix of"}


def came_from(made_by: str, parent: str | None) -> str:
    """"refine of #2", "region edit of #1", "your image" for an upload; "" without a parent (`parent`:
    how the parent is called, "#2")."""
    if made_by == "upload":
        return "your image"
    return f"{_OF.get(made_by, made_by)} {parent}" if parent else ""


def version(number: int, candidate: Candidate, numbers: dict[str, int], session: Session) -> dict:
    return {
        "number": number,
        "made_by": candidate.made_by,
        # The candidate it came from, by number; None for a first image or one that is no longer kept.
        "parent": numbers.get(candidate.parent) if candidate.parent else None,
        "instruction": candidate.instruction,
        "prompt": candidate.prompt,  # the prompt it was made from (a Remix changes it)
        "options": candidate.options,
        "revised_prompt": candidate.revised_prompt,
        "cost_usd": candidate.cost,
        "cost_estimated": candidate.estimated,
        "on_screen": candidate is session.shown_image,
        "approved": candidate is session.final_result,
        "released": candidate.released,  # its image was let go to free the server's memory
    }


def history(session: Session) -> dict:
    """What `/history` answers (JSON): the prompt, the stage, the session's cost, the versions kept."""
    numbers = {candidate.key: i + 1 for i, candidate in enumerate(session.candidates)}
    return {
        "stage": session.stage.value,
        "prompt": session.input_used_by_process,
        "spent_usd": session.spent_usd,
        "approved_at": session.approved_at or None,
        # every approval, withdrawal and request for changes, oldest first: {"decision", "number", "at", "by"}
        # ("by": "you" or "reviewer"; a request has its "comment")
        "decisions": [{k: v for k, v in d.items() if k != "key"} for d in session.decisions],
        "versions": [version(numbers[c.key], c, numbers, session) for c in session.candidates],
    }


# What can make Markdown of text anywhere in a line: emphasis, code, links and images ([ ] !), raw HTML
# and autolinks (< >), tables, strikethrough, entities (&), headings (#); and backslash itself.
_ANYWHERE = re.compile(r"([\\`*_\[\]!<>#|~&])")
# What does only at a line's start: list items (- + 1. 1)) and setext underlines (= -).
_LINE_START = re.compile(r"^(\d*)([-+=.)])")


def literal(text: str) -> str:
    """User or model text, shown as itself in Markdown: every character that could make a heading, a
    link, an image or raw HTML backslash-escaped, each line a hard break within one paragraph (blank lines
    and indents dropped, so nothing can start a new block)."""
    lines = (_LINE_START.sub(r"\1\\\2", _ANYWHERE.sub(r"\\\1", line.strip())) for line in text.splitlines())
    return "\\\n".join(line for line in lines if line)


def markdown(session: Session) -> str:
    """The same decision log for people: one section per version, the approved one marked."""
    tree = history(session)
    approved = f" · approved {tree['approved_at']}" if tree["approved_at"] else ""
    lines = [f"# Decision log\n\nPrompt: {literal(tree['prompt'])}\n\nStage: {tree['stage']}{approved} · "
             f"cost so far: {money(tree['spent_usd'])}\n"]
    if tree["decisions"]:
        lines.append("Decisions:\n")
        lines += [f"- {d['at']}: #{d['number']} {d['decision']} by {d['by']}"
                  + (f": {literal(d['comment'])}" if d.get("comment") else "") for d in tree["decisions"]]
        lines.append("")
    for v in tree["versions"]:
        came = came_from(v["made_by"], f"#{v['parent']}" if v["parent"] else None) or v["made_by"]
        marks = (" — **approved**" if v["approved"] else " — on screen" if v["on_screen"]
                 else f" — {RELEASED}" if v["released"] else "")
        lines.append(f"## #{v['number']}: {came}{marks}\n")
        if v["instruction"]:
            lines.append(f"- Asked: {literal(v['instruction'])}")
        lines.append(f"- Options: {', '.join(f'{k} {val}' for k, val in v['options'].items()) or 'defaults'}")
        if v["revised_prompt"]:
            lines.append(f"- The model used: {literal(v['revised_prompt'])}")
        lines.append(f"- Cost: {'≈ ' if v['cost_estimated'] else ''}{money(v['cost_usd'])}\n")
    return "\n".join(lines)

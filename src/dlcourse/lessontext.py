"""The text of a lesson, in four languages: what the lecture claims, what is checked and how it could
fail, what to try, and where it comes from in the course.

One Markdown file per lesson and language, `texts/<lesson>/<lang>.md` (English is the source, the
others are its translations), with exactly four `## ` sections in this order, each titled in its
own language:

    ## The claim            what the lecture says, 3-6 sentences
    ## What is checked      the targets and controls in words, and how the check could fail
    ## Try this             2-4 bullets: a `--set` experiment and what the student should see
    ## Source               the lecture part and notebook it comes from

The links to the course's own pages (in the reader's language) are added from the lesson's
declaration, so the text never carries a URL that could go stale. Standard library only.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import Path

from dlcourse.i18n import LANGUAGES

TEXTS_DIR = Path(__file__).resolve().parent / "texts"
SECTIONS = ("claim", "checked", "try", "source")
COURSE_SITE = "https://atcold.github.io/pytorch-Deep-Learning"
NOTEBOOKS = "https://github.com/Atcold/pytorch-Deep-Learning/blob/master"
# The course's practicum notebooks by number (the repository's own file names).
NOTEBOOK_FILES = {
    "00": "00-logic_neuron_programming.ipynb", "01": "01-tensor_tutorial.ipynb", "02": "02-space_stretching.ipynb",
    "03": "03-autograd_tutorial.ipynb", "04": "04-spiral_classification.ipynb", "05": "05-regression.ipynb",
    "06": "06-convnet.ipynb", "07": "07-listening_to_kernels.ipynb", "08": "08-seq_classification.ipynb",
    "09": "09-echo_data.ipynb", "10": "10-autoencoder.ipynb", "11": "11-VAE.ipynb",
    "12": "12-regularization.ipynb", "13": "13-bayesian_nn.ipynb", "14": "14-truck_backer-upper.ipynb",
    "15": "15-transformer.ipynb", "16": "16-gated_GCN.ipynb",
}
EXTRA_FILES = {"a": "a-projections.ipynb", "b": "b-custom_grads.ipynb", "optimization": "optimization.ipynb"}
DECKS = {"tokyo": "University of Tokyo, introduction to deep learning (slides, Japanese)",
         "slides": "Deep-learning slides with a PyTorch 2-2-2 network (Japanese)"}


@dataclass(frozen=True)
class LessonText:
    lang: str
    headings: tuple[str, ...]  # the four section titles, in the text's language
    bodies: tuple[str, ...]  # the four sections' Markdown

    def section(self, key: str) -> str:
        return self.bodies[SECTIONS.index(key)]


def path(name: str, lang: str) -> Path:
    return TEXTS_DIR / name / f"{lang}.md"


def parse(text: str, where: str = "text") -> LessonText:
    parts = re.split(r"^## +(.+?)\s*$", text.strip(), flags=re.M)
    if parts[0].strip():
        raise ValueError(f"{where}: text before the first '## ' section")
    headings, bodies = tuple(parts[1::2]), tuple(b.strip() for b in parts[2::2])
    if len(headings) != len(SECTIONS) or not all(bodies):
        raise ValueError(f"{where}: needs exactly {len(SECTIONS)} non-empty '## ' sections "
                         f"({', '.join(SECTIONS)}), found {len(headings)}")
    return LessonText("", headings, bodies)


def load(name: str, lang: str = "en", fallback: bool = True) -> LessonText | None:
    """The lesson's text in `lang` (English if that translation is missing and `fallback`)."""
    for code in (lang, "en") if fallback else (lang,):
        p = path(name, code)
        if p.is_file():
            t = parse(p.read_text(encoding="utf-8"), str(p))
            return LessonText(code, t.headings, t.bodies)
    return None


def source_links(lesson, lang: str = "en") -> list[tuple[str, str]]:
    """(label, URL) of the course pages a lesson comes from: the lecture parts on the course site in
    `lang`, the practicum notebooks on GitHub, and the names of the two slide decks (no URL)."""
    site_lang = lang if lang in LANGUAGES else "en"
    links = []
    for part in lesson.parts:
        links.append((part, f"{COURSE_SITE}/{site_lang}/week{part[:2]}/{part}/"))
    for source in lesson.sources:
        if source.startswith("nb") and source[2:] in NOTEBOOK_FILES:
            links.append((f"notebook {source[2:]}", f"{NOTEBOOKS}/{NOTEBOOK_FILES[source[2:]]}"))
        elif source.startswith("extra/") and source[6:] in EXTRA_FILES:
            links.append((source, f"{NOTEBOOKS}/extra/{EXTRA_FILES[source[6:]]}"))
        elif source in DECKS:
            links.append((DECKS[source], ""))
    return links


# --- rendering ------------------------------------------------------------------------------------

def _cjk(ch: str) -> bool:
    return "\u2e80" <= ch <= "\u9fff" or "\uac00" <= ch <= "\ud7af" or "\uff00" <= ch <= "\uffef" \
        or "\u3000" <= ch <= "\u303f"


def _join(lines: list[str]) -> str:
    """Lines of one paragraph joined as a browser would show them: a space between words, nothing
    between Chinese or Japanese characters (a space there reads as a gap)."""
    out = ""
    for line in (line.strip() for line in lines):
        if out and line and not (_cjk(out[-1]) and _cjk(line[0])):
            out += " "
        out += line
    return out


def _inline_html(text: str) -> str:
    out = html.escape(text, quote=False)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    out = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", out)
    out = re.sub(r"(?<![\w*])\*([^*\s][^*]*)\*(?![\w*])", r"<em>\1</em>", out)
    return re.sub(r"\[([^\]]+)\]\((https?://[^)\s]+)\)", r'<a href="\2">\1</a>', out)


def markdown_html(text: str) -> str:
    """The little Markdown the lesson texts use: paragraphs, `- ` lists, `code`, **bold**, *em*, links."""
    blocks, out = re.split(r"\n\s*\n", text.strip()), []
    for block in blocks:
        lines = block.splitlines()
        if all(line.lstrip().startswith(("- ", "* ")) or (i and line.startswith("  ")) for i, line in enumerate(lines)):
            items, current = [], []
            for line in lines:
                if line.lstrip().startswith(("- ", "* ")):
                    if current:
                        items.append(_join(current))
                    current = [line.lstrip()[2:]]
                else:
                    current.append(line.strip())
            items.append(_join(current))
            out.append("<ul>" + "".join(f"<li>{_inline_html(i)}</li>" for i in items) + "</ul>")
        else:
            out.append(f"<p>{_inline_html(_join(lines))}</p>")
    return "\n".join(out)


def render_html(lesson, lang: str) -> str:
    text = load(lesson.name, lang)
    if text is None:
        return ""
    parts = []
    for key, heading, body in zip(SECTIONS, text.headings, text.bodies):
        extra = ""
        if key == "source":
            links = "".join(f'<li><a href="{html.escape(u)}">{html.escape(label)}</a></li>' if u
                            else f"<li>{html.escape(label)}</li>" for label, u in source_links(lesson, lang))
            extra = f"<ul class=\"links\">{links}</ul>"
        parts.append(f'<section class="text-{key}"><h4>{html.escape(heading)}</h4>{markdown_html(body)}{extra}</section>')
    return "".join(parts)


def render_terminal(name: str, lang: str) -> str:
    from dlcourse import registry

    text = load(name, lang)
    if text is None:
        return ""
    lesson = registry.info(name)
    out = []
    for key, heading, body in zip(SECTIONS, text.headings, text.bodies):
        out.append(heading)
        out.append("-" * min(60, max(8, len(heading) * 2)))
        out.append(re.sub(r"\*\*([^*]+)\*\*", r"\1", body))
        if key == "source":
            out += [f"  {label}: {url}" if url else f"  {label}" for label, url in source_links(lesson, lang)]
        out.append("")
    return "\n".join(out)

"""Rough word count of a chapter's prose by paragraph kind (issue 25, item 3).

A prose paragraph is any Markdown text outside code cells, display math and directive fences' options;
it is "about the originals/optimizers" when it mentions printed digits, rounding, the 2010 or today's lme4,
optimizers and their tolerances, or R internals (the regular expression below), and "statistics" otherwise.
Paragraphs inside a dropdown (`:class: dropdown`) are counted as "beside the main path"; the Exercises
section and everything after it are left out.  Usage: python tools/prose_kinds.py chapters/05_*.md ...
"""
import re
import sys

ORIGINALS = re.compile(
    r"printed|printout|digit|decimal|\brounds?\b|rounded|rounding|truncat|2010 lme4|old lme4|"
    r"today's lme4|lme4 today|optimi[sz](e|er|ation|ing)|BOBYQA|bobyqa|Nelder|NLopt|nloptwrap|toleranc|nlme|(?-i:\bR's\b)|fdHess|"
    r"BLAS|Lambda_\\theta|Λθ|stopped (slightly )?earlier|conditional modes|lme4 1\.1|R 4\.|\bR script",
    re.IGNORECASE)


def paragraphs(text):
    """Yield (paragraph, in_dropdown) for the prose of a MyST notebook before its Exercises section."""
    text = text.split("\n## Exercises", 1)[0]
    lines = text.split("\n")
    in_code = in_math = False
    fence = None
    stack = []   # open colon-fence directives: True if a dropdown
    para = []

    def flush():
        if para:
            yield_text = " ".join(para).strip()
            para.clear()
            return yield_text
        return None

    out = []
    for ln in lines:
        s = ln.strip()
        if in_code:
            if s.startswith(fence) and s.strip("`") == "":
                in_code = False
            continue
        if s.startswith("```"):
            p = flush(); p and out.append((p, any(stack)))
            fence = s[:len(s) - len(s.lstrip("`"))]
            if s.startswith("```{code-cell}") or s.startswith("```{index}") or s.startswith("```{glue}") \
                    or not s.startswith("```{") or s.startswith("```{math}"):
                in_code = True
            else:   # a backtick directive with prose (admonition): treat like a colon fence
                stack.append(False)
            continue
        if s.startswith("$$"):
            p = flush(); p and out.append((p, any(stack)))
            if not (len(s) > 2 and s.endswith("$$") and s != "$$"):
                in_math = not in_math
            continue
        if in_math:
            continue
        if s.startswith(":::"):
            p = flush(); p and out.append((p, any(stack)))
            if s.startswith(":::{"):
                stack.append(False)
            elif stack:
                stack.pop()
            continue
        if s.startswith(":class:") and "dropdown" in s and stack:
            stack[-1] = True
            continue
        if s.startswith(":") and stack and not para:   # directive options
            continue
        if not s or s.startswith("#") or s.startswith("(") and s.endswith(")="):
            p = flush(); p and out.append((p, any(stack)))
            continue
        para.append(s)
    p = flush(); p and out.append((p, any(stack)))
    return out


def classified(path):
    """(words, kind, beside, paragraph) for every prose paragraph of a chapter."""
    text = open(path, encoding="utf-8").read()
    body = text.split("\n---\n", 1)[1] if text.startswith("---") else text
    for p, beside in paragraphs(body):
        words = len(re.findall(r"[A-Za-z]+", re.sub(r"\{glue:text\}`[^`]*`", "N", p)))
        yield words, ("originals/optimizers" if ORIGINALS.search(p) else "statistics"), beside, p


def count(path):
    text = open(path, encoding="utf-8").read()
    body = text.split("\n---\n", 1)[1] if text.startswith("---") else text   # the jupytext header only
    tally = {"main: statistics": 0, "main: originals/optimizers": 0, "beside: originals/optimizers": 0,
             "beside: statistics": 0}
    for p, beside in paragraphs(body):
        words = len(re.findall(r"[A-Za-z]+", re.sub(r"\{glue:text\}`[^`]*`", "N", p)))
        kind = "originals/optimizers" if ORIGINALS.search(p) else "statistics"
        tally[f"{'beside' if beside else 'main'}: {kind}"] += words
    return tally


if __name__ == "__main__":
    total = {}
    for path in sys.argv[1:]:
        t = count(path)
        main = t["main: statistics"] + t["main: originals/optimizers"]
        print(f"{path}: " + ", ".join(f"{k} {v}" for k, v in t.items())
              + f"; share of main-path prose about originals/optimizers {t['main: originals/optimizers'] / max(main, 1):.0%}")
        for k, v in t.items():
            total[k] = total.get(k, 0) + v
    main = total["main: statistics"] + total["main: originals/optimizers"]
    allp = sum(total.values())
    print("total: " + ", ".join(f"{k} {v}" for k, v in total.items())
          + f"; originals/optimizers share of main path {total['main: originals/optimizers'] / max(main, 1):.0%}"
          + f", of all prose {(total['main: originals/optimizers'] + total['beside: originals/optimizers']) / max(allp, 1):.0%}")

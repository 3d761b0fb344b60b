"""Text shared by the tests that write small MyST-markdown notebooks."""

#: The jupytext front matter of a chapter (as in chapters/*.md, without the format version).
MYST_HEADER = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---
"""

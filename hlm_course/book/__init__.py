"""The book's build tools, in a wing of their own: nothing in the statistics imports them.

* :mod:`.student` -- the student and solutions editions of a chapter (solutions stripped or kept);
* :mod:`.reader` -- a chapter's executed notebook as a plain Jupyter notebook, the book's numbers written in;
* :mod:`.handouts` -- the notebooks zips a teacher hands out, and plain notebooks for a chosen set of chapters;
* :mod:`.notebooks` -- the Colab set-up cell and the reader notebooks committed next to the chapters;
* :mod:`.sphinx_notebooks`, :mod:`.sphinx_cache` -- Sphinx extensions (``_config.yml``): reader notebooks and
  zips at the end of a build; an execution cache that follows ``hlm_course/`` and ``data/``;
* :mod:`.environment` -- versions, BLAS kernel and lock file of the build (the *Environment* page);
* :mod:`.reference` -- R's stored results (``tests/reference/*.json``) for the chapters' ledgers.

Imports go one way: ``student`` ← ``reader`` ← ``handouts``/``notebooks``/``sphinx_notebooks``; no module
here imports another module's private names.
"""

"""A check for understanding in JupyterLab, the notebook front end the reader notebooks are made for.

The website's quiz is tested in ``test_learner.py``; here the same cell output is opened in a real JupyterLab
(the one ``requirements.lock`` installs) in headless Chromium. The notebook is executed beforehand and saved
*untrusted*, as a notebook a teacher hands out or a student downloads arrives: JupyterLab then passes its
HTML outputs through its sanitizer, the strictest way it shows them (an output the student produces by running
the cell is trusted and shown as is). The test opens a wrong and a right choice and checks that the feedback,
the badge's colours and their contrast survive. Skipped without Chromium, chromedriver or JupyterLab, unless
``HLM_REQUIRE_BROWSER=1``.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from hlm_course import quiz
from test_browser import SCREENSHOTS, need  # noqa: E402
from test_learner import QUIZ_STATE_JS, answer_wrong_then_right  # noqa: E402

CHAPTER = 4
WAIT_S = 120


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def untrusted_notebook(tmp_path_factory):
    """A notebook whose one code cell shows chapter 4's questions, executed and saved without a signature."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    folder = tmp_path_factory.mktemp("lab")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("## Check your understanding"),
                nbformat.v4.new_code_cell(f"import hlm_course as hc\nhc.quiz.show({CHAPTER})")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    assert "text/html" in nb.cells[1].outputs[0]["data"]
    nbformat.write(nb, folder / "quiz.ipynb")   # nbformat.write does not sign: JupyterLab will not trust it
    return folder


@pytest.fixture(scope="module")
def jupyterlab(untrusted_notebook):
    """A JupyterLab server over the notebook's folder, with its own settings, runtime and workspace folders."""
    try:
        import jupyterlab  # noqa: F401
    except ImportError:
        need(False, "JupyterLab is not installed (pip install -r requirements.lock)")
    port, token = _free_port(), secrets.token_hex(16)
    home = untrusted_notebook.parent / "lab-home"
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_RUNTIME_DIR=str(home / "runtime"),
               JUPYTERLAB_SETTINGS_DIR=str(home / "settings"), JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"))
    log = (home / "lab.log")
    home.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
             f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={untrusted_notebook}",
             "--ServerApp.open_browser=False", "--LabApp.news_url="]
            + (["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []),   # containers, CI
            stdout=out, stderr=subprocess.STDOUT, env=env, cwd=untrusted_notebook)
    base = f"http://127.0.0.1:{port}"
    try:
        t0 = time.monotonic()
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() - t0 > WAIT_S:
                pytest.fail(f"JupyterLab did not start: {log.read_text()[-2000:]}", pytrace=False)
            time.sleep(0.5)
        yield base, token, home / "settings"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def lab_driver():
    from browser_support import find_chromedriver, find_chromium, start_chromium

    chromium, chromedriver = find_chromium(), find_chromedriver()
    need(chromium, "no Chromium browser (apt-get install chromium)")
    need(chromedriver, "no chromedriver on PATH (apt-get install chromium-driver)")
    drv = start_chromium(chromium, chromedriver, width=1280, height=900)
    drv.set_page_load_timeout(60)
    drv.set_script_timeout(60)
    yield drv
    drv.quit()


def _open_quiz(driver, base, token, sel):
    driver.get(f"{base}/lab/tree/quiz.ipynb?token={token}")
    t0 = time.monotonic()
    while driver.execute_script(f"return document.querySelectorAll('{sel} details').length") == 0:
        if time.monotonic() - t0 > WAIT_S:
            pytest.fail("JupyterLab did not show the quiz output within "
                        f"{WAIT_S} s; page text: {driver.find_element('tag name', 'body').text[:500]}",
                        pytrace=False)
        time.sleep(0.5)
    return driver.find_elements("css selector", sel + " details summary")


@pytest.mark.browser
def test_a_check_for_understanding_works_in_jupyterlab_from_an_untrusted_notebook(jupyterlab, lab_driver):
    base, token, settings = jupyterlab
    driver = lab_driver
    questions = quiz.questions(CHAPTER)
    q = questions[2]
    # the sanitizer drops role, aria-labelledby and name and turns id into data-jupyter-id: find the question
    # by its place (the third div of the quiz, after the instruction paragraph)
    sel = ".jp-OutputArea-output div.hlm-quiz > div.hlm-quiz-question:nth-of-type(3)"

    _open_quiz(driver, base, token, sel)
    n_details = driver.execute_script("return document.querySelectorAll('.jp-OutputArea-output "
                                      "details.hlm-quiz-choice').length")
    assert n_details == sum(len(x.choices) for x in questions)   # the sanitizer kept every choice
    state = driver.execute_script(QUIZ_STATE_JS, sel)
    assert state["text"].startswith(f"Question {q.key}. {q.prompt[:40]}")
    assert state["open"] == [False] * len(q.choices)
    assert "Right" not in state["text"] and "Not quite" not in state["text"]   # nothing revealed yet

    answer_wrong_then_right(driver, sel, q, lambda summary: summary.click())
    shot = SCREENSHOTS / "quiz-jupyterlab-untrusted.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(shot))

    # JupyterLab's dark theme (the user setting a student would change): the same two choices again
    theme_file = settings / "@jupyterlab" / "apputils-extension" / "themes.jupyterlab-settings"
    theme_file.parent.mkdir(parents=True, exist_ok=True)
    theme_file.write_text('{"theme": "JupyterLab Dark"}')
    _open_quiz(driver, base, token, sel)
    t0 = time.monotonic()
    while driver.execute_script("return document.body.dataset.jpThemeLight") != "false":
        assert time.monotonic() - t0 < WAIT_S, "JupyterLab did not switch to its dark theme"
        time.sleep(0.5)
    answer_wrong_then_right(driver, sel, q, lambda summary: summary.click())
    driver.save_screenshot(str(SCREENSHOTS / "quiz-jupyterlab-dark.png"))

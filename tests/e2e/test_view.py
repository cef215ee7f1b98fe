"""`grpo view` in a real headless Chromium (Debian's chromium, driven by Playwright): the page loads
a run's data, filters change what is shown, and model-written text can neither run nor change
the page, in the served page and in the exported file alike."""

from __future__ import annotations

import json
import shutil
import threading

import pytest

from grpo.view import embed_json, export, run_data, serve

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
HOSTILE = ('</script><script>window.pwned = 1</script><img src=x onerror="window.pwned = 2">'
           '<!-- <b id="injected">bold</b> \u2028 {{DATA}} /*VIEW_JS*/')


def make_run(folder):
    folder.mkdir()
    (folder / "config.yaml").write_text("name: viewed\n")
    metrics = [{"step": s, "reward/mean": 0.2 * s, "accuracy": 0.1 * s, "completion/length_mean": 40 + s,
                "reward/answer": 0.1 * s} for s in (1, 2, 3)] + [{"step": 3, "eval/accuracy": 0.5}]
    (folder / "metrics.jsonl").write_text("".join(json.dumps(m) + "\n" for m in metrics))
    (folder / "samples").mkdir()

    def record(prompt, completion, reward, answer_score, finish="stop"):
        return {"prompt": prompt, "answer": "7", "completion": completion, "reward": reward,
                "scores": {"answer": answer_score, "format": 1.0}, "details": {"answer": {"extracted": completion[-3:]}},
                "finish_reason": finish, "completion_tokens": len(completion)}

    step1 = [record("What is 3 + 4?", "<answer> 8 </answer>", 0.2, 0.0), record(HOSTILE, HOSTILE, 0.0, 0.0, "length"),
             record("What is 1 + 1?", "<answer> 2 </answer>", 1.2, 1.0)]
    step3 = [record("What is 3 + 4?", "<answer> 7 </answer>", 1.2, 1.0), record("What is 5 + 5?", "<answer> 10 </answer>", 1.2, 1.0)]
    for step, rows in ((1, step1), (3, step3)):
        (folder / "samples" / f"step_{step:06d}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    for step, completion in ((0, "<answer> 9 </answer>"), (3, "<answer> 12 </answer>")):  # greedy test samples
        test = record("What is 6 + 6?", completion, 1.2 if step else 0.2, 1.0 if step else 0.0)
        (folder / "samples" / f"eval_{step:06d}.jsonl").write_text(json.dumps(test) + "\n")
    return folder


def test_embedded_json_cannot_close_its_element():
    text = embed_json({"x": HOSTILE})
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(text) == {"x": HOSTILE}


@pytest.fixture
def browser():
    if CHROMIUM is None:
        pytest.skip("no chromium on this machine: apt-get install chromium (.ci/run installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


def check_page(page):
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.wait_for_selector("body[data-ready='1']", timeout=20000)
    assert page.locator(".chart").count() == 5  # reward, accuracy, length, eval accuracy, reward/answer
    assert page.inner_text("#count") == "2 of 2 samples"  # the latest step
    page.select_option("#step", "1")
    assert page.inner_text("#count") == "3 of 3 samples"
    # the hostile text is shown as text: nothing ran, nothing was injected
    assert HOSTILE.split("\u2028")[0] in page.inner_text("#samples")
    assert page.evaluate("window.pwned") is None and dialogs == []
    assert page.locator("#injected").count() == 0 and page.locator("#samples img").count() == 0
    # filters
    page.fill("#min-reward", "1")
    assert page.inner_text("#count") == "1 of 3 samples"
    page.fill("#min-reward", "")
    page.check("#truncated")
    assert page.inner_text("#count") == "1 of 3 samples"
    page.uncheck("#truncated")
    page.select_option("#verifier", "answer")
    page.select_option("#verdict", "fail")
    assert page.inner_text("#count") == "2 of 3 samples"
    page.select_option("#verdict", "")
    page.fill("#search", "1 + 1")
    assert page.inner_text("#count") == "1 of 3 samples" and "<answer> 2 </answer>" in page.inner_text("#samples")
    # the same test prompt at the first and last evaluations, side by side (the default pair)
    assert page.inner_text("#compare-count") == "1 prompt(s) sampled at both steps"
    pair = page.inner_text("#compare")
    assert "<answer> 9 </answer>" in pair and "<answer> 12 </answer>" in pair
    # any two steps: the training prompt sampled at steps 1 and 3
    page.select_option("#step-a", "1")
    page.select_option("#step-b", "3")
    pair = page.inner_text("#compare")
    assert "<answer> 8 </answer>" in pair and "<answer> 7 </answer>" in pair
    assert page.locator("#step option").all_inner_texts() == ["eval 0", "1", "3", "eval 3"]


def test_exported_file_in_chromium(tmp_path, browser):
    html = export(make_run(tmp_path / "run"), tmp_path / "run.html")
    page = browser.new_page()
    page.goto(html.as_uri())
    check_page(page)


def test_served_page_in_chromium(tmp_path, browser):
    server = serve(make_run(tmp_path / "run"), port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        page = browser.new_page()
        response = page.goto(f"http://127.0.0.1:{server.server_address[1]}/")
        assert "default-src 'none'" in response.headers["content-security-policy"]
        check_page(page)
    finally:
        server.shutdown()
        server.server_close()


def test_a_pipeline_shows_its_stages(tmp_path):
    folder = tmp_path / "pipe"
    (folder / "stages").mkdir(parents=True)
    (folder / "config.yaml").write_text("name: pipe\nstages: [{name: cold}, {name: rl}]\n")
    make_run(folder / "stages" / "cold")
    make_run(folder / "stages" / "rl")
    assert [s["name"] for s in run_data(folder)["stages"]] == ["cold", "rl"]
    with pytest.raises(FileNotFoundError, match="not a run folder"):
        run_data(tmp_path)

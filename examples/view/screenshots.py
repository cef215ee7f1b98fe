"""Screenshots of `grpo view` for the docs, taken in headless Chromium (Playwright + Debian's chromium).

    python examples/view/screenshots.py runs/tool-quickstart docs/view
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from grpo.view import export


def main(run_dir: str, out: str) -> None:
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    html = export(Path(run_dir), Path(tempfile.mkdtemp()) / "run.html")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(html.as_uri())
        page.wait_for_selector("body[data-ready='1']")
        page.screenshot(path=str(out_dir / "curves.png"))
        page.select_option("#verifier", "answer")
        page.select_option("#verdict", "pass")
        page.locator("#samples").scroll_into_view_if_needed()
        page.locator("#samples").screenshot(path=str(out_dir / "samples_filtered.png"))
        page.locator("#compare").scroll_into_view_if_needed()
        if page.locator("#compare .pair").count():
            page.locator("#compare .pair").first.screenshot(path=str(out_dir / "same_prompt_two_steps.png"))
        browser.close()
    print(f"wrote screenshots to {out_dir}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "docs/view")

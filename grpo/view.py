"""`grpo view RUN_DIR`: a run in the browser. Curves (reward, accuracy, length, every verifier,
eval), the sampled traces of any step with their scores, details and finish reasons, filters, the
same prompt at two steps side by side, a pipeline's stages and an episode's turns.

One self-contained HTML page (uPlot, MIT, vendored in grpo/view_assets) with the run's data
embedded; `--export run.html` writes it to share, the default serves it on 127.0.0.1 and rebuilds
it on every reload. Completions and prompts are untrusted model text: the data travels as JSON
inside a non-executable script element (every `<` escaped) and reaches the page only through
`textContent`, never as HTML, so nothing a model writes can run or change the page. Training
samples are listed by step ("12"), the greedy samples of each evaluation as "eval 12": the same
test prompts every time, which is what "the same prompt at two steps" compares best.
"""

from __future__ import annotations

import json
import re
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from grpo.logging import read_metrics

ASSETS = Path(__file__).with_name("view_assets")
STEP_FILE = re.compile(r"(step|eval)_(\d+)\.jsonl$")


def run_data(run_dir: Path) -> dict[str, Any]:
    """Everything the page shows: one entry per stage (a plain run is one unnamed stage)."""
    run_dir = Path(run_dir)
    if not (run_dir / "metrics.jsonl").exists() and not (run_dir / "stages").is_dir():
        raise FileNotFoundError(f"{run_dir} is not a run folder (no metrics.jsonl, no stages/)")
    stages = []
    if (run_dir / "stages").is_dir():
        config = _yaml(run_dir / "config.yaml")
        names = [s.get("name") for s in config.get("stages", [])] or sorted(p.name for p in (run_dir / "stages").iterdir())
        for name in names:
            folder = run_dir / "stages" / str(name)
            if folder.is_dir():
                stages.append(_stage(folder, str(name)))
    else:
        stages.append(_stage(run_dir, ""))
    return {"name": run_dir.name, "stages": stages}


def _stage(folder: Path, name: str) -> dict[str, Any]:
    samples: dict[str, list[dict[str, Any]]] = {}
    if (folder / "samples").is_dir():
        for path in sorted((folder / "samples").iterdir()):
            match = STEP_FILE.search(path.name)
            if match:  # training samples as "12", greedy test samples as "eval 12"
                key = str(int(match.group(2))) if match.group(1) == "step" else f"eval {int(match.group(2))}"
                samples[key] = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {"name": name, "metrics": read_metrics(folder), "samples": samples}


def _yaml(path: Path) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def embed_json(data: Any) -> str:
    """JSON safe inside <script type="application/json">: no `<`, `>` or `&` survives as itself, so
    no `</script>` or `<!--` in a completion can end the element."""
    text = json.dumps(data, allow_nan=False, default=str)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def render_html(data: dict[str, Any]) -> str:
    page = (ASSETS / "view.html").read_text()
    return (page.replace("/*UPLOT_CSS*/", (ASSETS / "uPlot.min.css").read_text())
                .replace("/*UPLOT_JS*/", (ASSETS / "uPlot.iife.min.js").read_text())
                .replace("/*VIEW_JS*/", (ASSETS / "view.js").read_text())
                .replace("{{TITLE}}", _escape(data.get("name", "run")))
                .replace("{{DATA}}", embed_json(_clean(data))))  # last: nothing is replaced inside the data


def _clean(value: Any) -> Any:
    """NaN/inf (JSON has none) become null."""
    if isinstance(value, float) and value != value or value in (float("inf"), float("-inf")):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def export(run_dir: Path, output: Path) -> Path:
    output = Path(output)
    output.write_text(render_html(run_data(run_dir)))
    return output


def serve(run_dir: Path, port: int = 8765, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """A server on `host` (loopback by default) answering GET / with the page, rebuilt per request."""
    run_dir = Path(run_dir)
    run_data(run_dir)  # a wrong folder fails now, not in the browser

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server name
            if self.path not in ("/", "/index.html"):
                self.send_error(404)
                return
            body = render_html(run_data(run_dir)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Security-Policy", CSP)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    return ThreadingHTTPServer((host, port), Page)


# the page needs its own inline script and style only: nothing loaded from anywhere, no eval
CSP = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:"

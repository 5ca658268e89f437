"""The report looked at the way a person would: opened in headless Chromium, offline.

Chromium comes from the system (Debian's ``chromium`` package; ``.ci/run`` installs it). The page
gets a probe script appended that counts images that failed to decode; the DOM is dumped after
load, and a screenshot is taken and checked for the verdict's badge in the first screenful.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from PIL import Image
from synth import S, write_run

from crmload.analysis.analyze import analyze
from crmload.analysis.thresholds import Clause, Thresholds

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--virtual-time-budget=5000",
]
PROBE = """<script>
window.addEventListener("load", () => {
  const images = Array.from(document.images);
  document.body.dataset.images = images.length;
  document.body.dataset.broken = images.filter(i => !(i.complete && i.naturalWidth > 0)).length;
});
</script>"""


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM, "Chromium is needed for this test: apt-get install chromium (as .ci/run does)"
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_report_renders_in_a_browser_with_the_verdict_in_view(tmp_path: Path) -> None:
    rt = Thresholds(clauses=[Clause(id="PERF-RT-01", title="lookups", limits=["p(95) < 3s"])])
    run = write_run(tmp_path / "run", [S(4.0 * i, persona=("sales", "service")[i % 2]) for i in range(1, 1001)])
    analyze(run, rt)  # p95 3.8 s: FAIL, a red badge
    page = (run / "report.html").read_text()
    probed = tmp_path / "probed.html"
    probed.write_text(page.replace("</body>", PROBE + "</body>"))
    dom = _chromium(tmp_path, "--dump-dom", probed.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    body = re.search(r'<body data-images="(\d+)" data-broken="(\d+)"', dom.stdout)
    assert body, dom.stdout[:500]
    assert (int(body[1]), int(body[2])) == (5, 0), "every chart decodes"
    assert re.search(r'id="verdict" class="badge big FAIL">FAIL<', dom.stdout)

    shot = tmp_path / "shot.png"
    done = _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1200,900", (run / "report.html").as_uri())
    assert done.returncode == 0 and shot.exists(), done.stderr[-2000:]
    image = Image.open(shot).convert("RGB")
    assert image.size == (1200, 900)
    top = list(image.crop((0, 0, 1200, 120)).getdata())  # the header, with the verdict
    assert top.count((0xC6, 0x28, 0x28)) > 200, "the FAIL badge (.FAIL in the page's CSS) is visible at the top"
    assert len(set(image.getdata())) > 50, "the page rendered more than a blank screen"

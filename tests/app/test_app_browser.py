"""``inpaintlab-app`` in a real browser: headless Chromium (Debian's ``chromium`` + ``chromium-driver``, driven
by Selenium) opens the page served by the CLI, shows the error of a bad upload, uploads a photo, shows the error
of an empty mask, draws a stroke on the canvas, presses Fill, waits for the result, downloads it, and checks the
downloaded pixels: outside the stroke equal to the photo's, inside changed. Then a second round after the errors
shows the app still serves. A screenshot of the page with its result is saved (``$INPAINTLAB_ARTEFACTS/app.png``
when that is set, else in the test's tmp folder).

It never skips: without the browser it fails with how to install it (``make browser``; ``make test`` does).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from app_support import MAGENTA, make_photo, trained_checkpoint
from PIL import Image

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
BRUSH = 30  # the page's default brush size, in screen pixels
WAIT = 30  # seconds for any one thing the page does


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``python -m inpaintlab.app.server --weights <ga_mnist ckpt>`` on a free port (the inpaintlab-app CLI)."""
    ckpt = trained_checkpoint(tmp_path_factory)
    second = tmp_path_factory.mktemp("second_model") / "second.ckpt"  # two weights files: the page shows a picker
    shutil.copy(ckpt, second)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp_path_factory.mktemp("app_server") / "server.log"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "inpaintlab.app.server", "--weights", str(ckpt), "--weights", str(second),
             "--port", str(port),
             "--device", "cpu", "--max-side", "1024"], stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"inpaintlab-app exited with {proc.returncode}:\n{log.read_text()}")
            try:
                with urllib.request.urlopen(f"{url}/api/models", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"inpaintlab-app did not answer within 120 s:\n{log.read_text()}")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert "Traceback" not in log.read_text(), log.read_text()


@pytest.fixture
def browser(tmp_path):
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    if missing:
        pytest.fail(f"the real-browser test needs Debian's chromium and chromium-driver ({', '.join(missing)} "
                    "missing): run `make browser` (sudo apt-get install -y chromium chromium-driver)")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail("the real-browser test needs selenium: pip install -e '.[dev,app]' (make install)")
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1400,900", "--force-device-scale-factor=1", f"--user-data-dir={tmp_path / 'profile'}"):
        opts.add_argument(arg)
    opts.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                           "download.prompt_for_download": False,
                                           "download.directory_upgrade": True,
                                           "safebrowsing.enabled": False})
    driver = webdriver.Chrome(options=opts, service=Service(executable_path=str(CHROMEDRIVER)))
    try:
        driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
        driver.downloads = downloads
        yield driver
    finally:
        driver.quit()


def _wait(driver, what: str, condition, timeout: float = WAIT):
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.1).until(lambda d: condition(d))
    except Exception as e:  # noqa: BLE001 - say what the page showed instead
        err = driver.find_element("id", "error").text
        status = driver.find_element("id", "status-text").text
        files = sorted(p.name for p in driver.downloads.iterdir()) if hasattr(driver, "downloads") else []
        raise AssertionError(f"waiting for {what}: {type(e).__name__}; page error {err!r}, status {status!r}, "
                             f"downloads {files}") from e


def _error_shown(driver, words: str) -> str:
    text = _wait(driver, f"the error {words!r}",
                 lambda d: d.find_element("id", "error").is_displayed() and words in d.find_element("id", "error").text
                 and d.find_element("id", "error").text)
    assert "\n" not in text and "Traceback" not in text and len(text) < 300, text
    return text


def _segment_distance(h: int, w: int, p0, p1) -> np.ndarray:
    """Distance of every pixel centre to the segment p0–p1 (image coordinates, x right, y down)."""
    yy, xx = np.mgrid[0:h, 0:w] + 0.5
    (x0, y0), (x1, y1) = p0, p1
    dx, dy = x1 - x0, y1 - y0
    t = np.clip(((xx - x0) * dx + (yy - y0) * dy) / max(dx * dx + dy * dy, 1e-9), 0, 1)
    return np.hypot(xx - (x0 + t * dx), yy - (y0 + t * dy))


def _draw(driver, canvas, start, end):
    """Drag the mouse from ``start`` to ``end`` (CSS pixels from the canvas's top-left corner)."""
    from selenium.webdriver.common.action_chains import ActionChains

    rect = driver.execute_script("const r = arguments[0].getBoundingClientRect(); return [r.width, r.height];", canvas)
    cx, cy = rect[0] / 2, rect[1] / 2
    chain = ActionChains(driver, duration=20).move_to_element_with_offset(canvas, int(start[0] - cx), int(start[1] - cy))
    chain.click_and_hold()
    steps = 6
    for i in range(1, steps + 1):
        x = start[0] + (end[0] - start[0]) * i / steps
        y = start[1] + (end[1] - start[1]) * i / steps
        chain.move_to_element_with_offset(canvas, int(x - cx), int(y - cy))
    chain.release().perform()


def _fill(driver) -> None:
    driver.find_element("id", "fill").click()
    _wait(driver, "the result image", lambda d: d.find_element("id", "result").get_attribute("data-state") == "done")
    assert "Filled in" in driver.find_element("id", "status-text").text
    assert driver.find_element("id", "error").is_displayed() is False


def _download(driver) -> np.ndarray:
    """Click "Download PNG" and read the file Chromium saved."""
    driver.find_element("id", "download").click()

    def saved(_):
        done = [p for p in driver.downloads.glob("*.png")]
        return not list(driver.downloads.glob("*.crdownload")) and len(done) == 1 and done[0]

    path = _wait(driver, "the downloaded PNG", saved)
    time.sleep(0.2)  # the rename from .crdownload is the last step; let the file settle
    assert path.name == "street-inpainted.png"
    return np.asarray(Image.open(path).convert("RGB"))


def _link_bytes(driver) -> np.ndarray:
    """The PNG behind the "Download PNG" link, read by the page's own fetch (Chromium asks before a page's second
    automatic download, and a headless browser cannot answer)."""
    import base64
    import io

    data = driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        fetch(document.getElementById("download").href).then((r) => r.arrayBuffer()).then((b) => {
          let s = ""; for (const x of new Uint8Array(b)) s += String.fromCharCode(x); done(btoa(s));
        });""")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB"))


def test_page_in_a_real_browser(server, browser, tmp_path):
    driver = browser
    photo = make_photo(800, 600)  # wider than its panel: the page shows it scaled, strokes map back to image pixels
    photo_path = tmp_path / "street.png"
    Image.fromarray(photo).save(photo_path)
    not_a_photo = tmp_path / "notes.png"
    not_a_photo.write_text("this is not an image")

    driver.get(server + "/")
    _wait(driver, "the model picker", lambda d: d.find_element("id", "model-picker").is_displayed())
    labels = [o.text for o in driver.find_elements("css selector", "#model option")]
    assert len(labels) == 2 and "model.ckpt" in labels[0] and "second.ckpt" in labels[1], labels
    upload = driver.find_element("id", "image-input")

    # a bad upload: one sentence on the page
    upload.send_keys(str(not_a_photo))
    _error_shown(driver, "not an image this app can read")

    # the photo
    upload.send_keys(str(photo_path))
    _wait(driver, "the photo on the canvas", lambda d: "Photo 800×600" in d.find_element("id", "status-text").text)
    assert not driver.find_element("id", "error").is_displayed()  # the error went away

    # Fill with nothing painted: one sentence on the page
    driver.find_element("id", "fill").click()
    _error_shown(driver, "the mask covers nothing")

    # paint a stroke across the magenta block (rows 200–400, columns 266–533 of the photo)
    canvas = driver.find_element("id", "brush")
    width_css = driver.execute_script("return arguments[0].getBoundingClientRect().width;", canvas)
    scale = 800 / width_css  # image pixels per CSS pixel
    assert scale > 1.1, f"the 800-pixel photo is shown {width_css} px wide: the test wants it scaled down"
    start, end = (320 / scale, 300 / scale), (480 / scale, 300 / scale)
    _draw(driver, canvas, start, end)
    _fill(driver)
    out = _download(driver)

    assert out.shape == photo.shape
    dist = _segment_distance(600, 800, (start[0] * scale, start[1] * scale), (end[0] * scale, end[1] * scale))
    radius = BRUSH * scale / 2
    outside, core = dist > radius + 2, dist < radius - 2  # ±2 px: the canvas anti-aliases the stroke's rim
    np.testing.assert_array_equal(out[outside], photo[outside])  # known pixels bit-exact, through the browser
    changed = (out != photo).any(axis=2)
    assert changed[core].all(), f"{(~changed[core]).sum()} of {core.sum()} stroke pixels unchanged"
    assert (photo[core] == MAGENTA).all() and core.sum() > 500

    shot = tmp_path / "app.png"
    driver.save_screenshot(str(shot))
    artefacts = os.environ.get("INPAINTLAB_ARTEFACTS")
    if artefacts:
        Path(artefacts).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(artefacts) / "app.png")
    assert Image.open(shot).size[0] >= 1000

    # errors after a result: an oversized photo is refused, the current one stays, and Fill still works
    big = tmp_path / "big.png"
    Image.new("RGB", (1500, 20), "white").save(big)
    upload.send_keys(str(big))
    _error_shown(driver, "larger than this app's limit of 1024 pixels")
    assert "previous photo is kept" in driver.find_element("id", "status-text").text
    driver.find_element("id", "clear").click()
    _draw(driver, canvas, (300 / scale, 230 / scale), (500 / scale, 370 / scale))  # a diagonal stroke this time
    _fill(driver)
    again = _link_bytes(driver)
    dist = _segment_distance(600, 800, (300, 230), (500, 370))
    outside, core = dist > radius + 2, dist < radius - 2
    np.testing.assert_array_equal(again[outside], photo[outside])
    assert (again != photo).any(axis=2)[core].all()
    # the first stroke was cleared: its pixels away from the second stroke are the photo's again
    first_only = (_segment_distance(600, 800, (320, 300), (480, 300)) < radius - 2) & outside
    assert first_only.any()
    np.testing.assert_array_equal(again[first_only], photo[first_only])


def _layer_alpha(driver) -> np.ndarray:
    """The brush layer's alpha channel as the page will send it (canvas.toDataURL, PNG)."""
    import base64
    import io

    url = driver.execute_script("return document.getElementById('brush').toDataURL('image/png');")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGBA"))[..., 3]


def test_mask_upload_eraser_and_model_picker(server, browser, tmp_path):
    """An uploaded mask (the CLI's rule: a faint grey level is a hole) lands in the brush layer exactly, the eraser
    removes a band of it, the second model fills, and the result's changed pixels are exactly the layer's."""
    from selenium.webdriver.support.ui import Select

    driver = browser
    photo = make_photo(240, 180, seed=1)
    Image.fromarray(photo).save(tmp_path / "street.png")
    mask = np.zeros((180, 240), np.uint8)
    mask[65:115, 85:155] = 9
    Image.fromarray(mask).save(tmp_path / "hole.png")

    driver.get(server + "/")
    _wait(driver, "the model picker", lambda d: d.find_element("id", "model-picker").is_displayed())
    Select(driver.find_element("id", "model")).select_by_index(1)
    driver.find_element("id", "image-input").send_keys(str(tmp_path / "street.png"))
    _wait(driver, "the photo", lambda d: "Photo 240×180" in d.find_element("id", "status-text").text)
    driver.find_element("id", "mask-input").send_keys(str(tmp_path / "hole.png"))
    _wait(driver, "the mask in the brush layer", lambda d: "Mask hole.png" in d.find_element("id", "status-text").text)
    np.testing.assert_array_equal(_layer_alpha(driver) > 0, mask > 0)

    # the eraser, 10 px wide, down the middle of the hole
    driver.find_element("id", "tool-eraser").click()
    driver.execute_script("const s = document.getElementById('brush-size'); s.value = 10;"
                          "s.dispatchEvent(new Event('input'));")
    assert driver.find_element("id", "brush-size-value").text == "10"
    canvas = driver.find_element("id", "brush")
    scale = 240 / driver.execute_script("return arguments[0].getBoundingClientRect().width;", canvas)
    _draw(driver, canvas, (120 / scale, 50 / scale), (120 / scale, 130 / scale))
    hole = _layer_alpha(driver) > 0
    assert hole.sum() < (mask > 0).sum() - 50 * 6 and not hole[65:115, 118:122].any()  # the band is gone
    assert (hole <= (mask > 0)).all()  # the eraser adds nothing

    _fill(driver)
    out = _link_bytes(driver)
    np.testing.assert_array_equal(out[~hole], photo[~hole])  # exactly the layer's pixels are the hole
    assert (out[hole] != photo[hole]).any(axis=1).all()

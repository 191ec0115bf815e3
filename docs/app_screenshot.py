"""Redraw docs/app.png: inpaintlab-app filling a Fashion-MNIST test image, screenshotted in headless Chromium.

    inpaintlab-train experiment=ga_mnist data=fashion_mnist trainer=cpu trainer.max_steps=3000 test=false \
        hydra.run.dir=/tmp/ga3000
    python docs/app_screenshot.py --weights /tmp/ga3000/checkpoints/last.ckpt --out docs/app.png

Needs the [app] extra, selenium and Debian's chromium + chromium-driver (`make browser`).
"""

from __future__ import annotations

import argparse
import gzip
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
from PIL import Image


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", required=True, type=Path)
    ap.add_argument("--out", type=Path, default=Path("docs/app.png"))
    ap.add_argument("--index", type=int, default=0, help="Fashion-MNIST test image")
    ap.add_argument("--data", type=Path, default=Path("/usr/share/datasets/fashion-mnist"))
    args = ap.parse_args()

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.action_chains import ActionChains

    tmp = Path(tempfile.mkdtemp())
    f = args.data / "t10k-images-idx3-ubyte.gz"
    raw = gzip.open(f).read() if f.exists() else (args.data / "t10k-images-idx3-ubyte").read_bytes()
    images = np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 28, 28)
    Image.fromarray(images[args.index]).resize((280, 280), Image.BICUBIC).save(tmp / "fashion.png")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "inpaintlab.app.server", "--weights", str(args.weights),
                               "--port", str(port)], env=dict(os.environ, OMP_NUM_THREADS="1"))
    url = f"http://127.0.0.1:{port}/"
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1150,800",
              "--force-device-scale-factor=1", f"--user-data-dir={tmp / 'profile'}"):
        opts.add_argument(a)
    driver = None
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(url + "api/models", timeout=2)
                break
            except OSError:
                time.sleep(0.3)
        driver = webdriver.Chrome(options=opts, service=Service("/usr/bin/chromedriver"))
        driver.get(url)
        time.sleep(1)
        driver.find_element("id", "image-input").send_keys(str(tmp / "fashion.png"))
        time.sleep(1.5)
        driver.execute_script("const s = document.getElementById('brush-size'); s.value = 60;"
                              "s.dispatchEvent(new Event('input'));")
        canvas = driver.find_element("id", "brush")
        chain = ActionChains(driver, duration=30).move_to_element_with_offset(canvas, -40, -10).click_and_hold()
        for dx in range(-40, 45, 10):
            chain.move_to_element_with_offset(canvas, dx, -10 + (dx // 10) % 2 * 4)
        chain.release().perform()
        driver.find_element("id", "fill").click()
        time.sleep(2)
        driver.execute_script("const s = document.getElementById('compare-slider'); s.value = 50;"
                              "s.dispatchEvent(new Event('input'));")
        time.sleep(0.5)
        driver.save_screenshot(str(args.out))
        print(f"wrote {args.out}")
    finally:
        if driver is not None:
            driver.quit()
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()

"""The search page in a real headless Chromium: results with thumbnails, a click plays the clip."""

import shutil
import socket
import threading
import time

import pytest

from vsearch.api import create_app
from vsearch.ingest import ingest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason="Chromium and chromedriver are not installed")


@pytest.fixture
def server(library, video_files):
    import uvicorn

    ingest(library, [video_files["vp9"], video_files["h264"], video_files["mjpeg"]])
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(create_app(library.settings, library=library), host="127.0.0.1", port=port,
                            log_level="warning")
    uvicorn_server = uvicorn.Server(config)
    thread = threading.Thread(target=uvicorn_server.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not uvicorn_server.started and time.time() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    uvicorn_server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def browser(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--autoplay-policy=no-user-gesture-required", f"--user-data-dir={tmp_path / 'chromium'}",
                 "--window-size=1200,900"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def test_open_query_see_thumbnails_click_and_play(server, browser, video_files):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(f"{server}/?q=a+white+square&group=clip")
    wait = WebDriverWait(browser, 60)
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".result[data-clip-id]")) >= 4)
    assert browser.find_element(By.ID, "q").get_attribute("value") == "a white square"
    wait.until(lambda d: d.execute_script(
        "return [...document.querySelectorAll('.result img')].every(i => i.complete && i.naturalWidth > 0)"))
    # the VP9 WebM clip that starts after 0 s: any browser can play it
    target = next(card for card in browser.find_elements(By.CSS_SELECTOR, ".result")
                  if "vp9.webm" in card.text and not card.text.split("\n")[1].startswith("0:00:00.0"))
    start = float(target.text.split("\n")[1].split("–")[0].split(":")[-1])
    target.click()
    wait.until(lambda d: d.execute_script(
        "const v = document.getElementById('video'); return !v.paused && v.currentTime > 0;"))
    current = browser.execute_script("return document.getElementById('video').currentTime")
    assert start - 0.1 <= current <= start + 3.0
    assert str(video_files["vp9"]).endswith(browser.execute_script(
        "return decodeURIComponent(document.getElementById('now').textContent)").split()[0].split("/")[-1])


def test_a_file_browsers_cannot_play_plays_its_preview(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(f"{server}/?q=a+white+square&group=clip")
    wait = WebDriverWait(browser, 60)
    wait.until(lambda d: any("mjpeg.avi" in c.text for c in d.find_elements(By.CSS_SELECTOR, ".result")))
    next(c for c in browser.find_elements(By.CSS_SELECTOR, ".result") if "mjpeg.avi" in c.text).click()
    wait.until(lambda d: d.execute_script(
        "const v = document.getElementById('video'); return !v.paused && v.currentTime > 0;"))
    assert "/preview" in browser.execute_script("return document.getElementById('video').currentSrc")


def test_moments_by_default_and_the_unit_toggle(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    browser.get(f"{server}/?q=a+white+square")
    wait = WebDriverWait(browser, 60)
    wait.until(lambda d: "moments in" in d.find_element(By.ID, "status").text)
    assert Select(browser.find_element(By.ID, "group")).first_selected_option.get_attribute("value") == "moment"
    cards = browser.find_elements(By.CSS_SELECTOR, ".result")
    assert cards and all("×" in c.find_element(By.CLASS_NAME, "facts").text for c in cards)  # video facts
    Select(browser.find_element(By.ID, "group")).select_by_value("video")
    wait.until(lambda d: "videos in" in d.find_element(By.ID, "status").text)
    videos = [c.get_attribute("data-video-id") for c in browser.find_elements(By.CSS_SELECTOR, ".result")]
    assert len(videos) == len(set(videos)) == 3
    assert "group=video" in browser.current_url
    assert all("moment" in c.text for c in browser.find_elements(By.CSS_SELECTOR, ".result"))


def test_a_click_on_a_timeline_plays_from_there(server, browser):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(f"{server}/?q=a+white+square&group=video")
    wait = WebDriverWait(browser, 60)
    wait.until(lambda d: any("vp9.webm" in c.text for c in d.find_elements(By.CSS_SELECTOR, ".result")))
    card = next(c for c in browser.find_elements(By.CSS_SELECTOR, ".result") if "vp9.webm" in c.text)
    canvas = card.find_element(By.CSS_SELECTOR, "canvas.timeline")
    wait.until(lambda d: canvas.get_attribute("data-ready") == "1")
    duration = float(canvas.get_attribute("data-duration"))
    width = canvas.size["width"]
    # three quarters along the strip (offsets are from its centre)
    ActionChains(browser).move_to_element_with_offset(canvas, int(width * 0.25), 0).click().perform()
    wait.until(lambda d: d.execute_script(
        "const v = document.getElementById('video'); return !v.paused && v.currentTime > 0;"))
    current = browser.execute_script("return document.getElementById('video').currentTime")
    assert 0.75 * duration - 0.3 <= current <= 0.75 * duration + 1.5


def test_the_folder_filter_keeps_to_that_folder(server, browser, video_files):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    folder = str(video_files["vp9"].parent)  # the "sub" folder: only vp9.webm of the three ingested
    browser.get(f"{server}/?q=a+white+square&group=clip")
    wait = WebDriverWait(browser, 60)
    wait.until(lambda d: "clips in" in d.find_element(By.ID, "status").text)
    assert {c.text.split("\n")[0] for c in browser.find_elements(By.CSS_SELECTOR, ".result")} > {"vp9.webm"}
    field = browser.find_element(By.ID, "in")
    field.send_keys(folder)
    browser.find_element(By.CSS_SELECTOR, "#search button").click()
    wait.until(lambda d: "(filtered)" in d.find_element(By.ID, "status").text)
    names = {c.text.split("\n")[0] for c in browser.find_elements(By.CSS_SELECTOR, ".result")}
    assert names == {"vp9.webm"}
    assert "in=" in browser.current_url
    browser.find_element(By.ID, "after").send_keys("01012099")  # a date picker typed as a user does
    browser.find_element(By.CSS_SELECTOR, "#search button").click()
    wait.until(lambda d: d.find_element(By.ID, "status").text.startswith("0 clips"))


def test_no_good_match_shows_the_closest_below_the_cut_off(server, browser, library):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    library.settings = library.settings.model_copy(update={"min_relevance": 1.0})  # nothing can pass
    browser.get(f"{server}/?q=a+white+square&sort=date")
    wait = WebDriverWait(browser, 60)
    wait.until(lambda d: d.find_element(By.ID, "status").text.startswith("No good match"))
    assert browser.find_element(By.ID, "weak").is_displayed()
    below = browser.find_elements(By.CSS_SELECTOR, ".result.below")
    assert below and all("%" in card.text for card in below)  # each shows its relevance
    assert browser.find_element(By.ID, "sort").get_attribute("value") == "date"


def test_more_like_this_searches_by_the_clip(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(f"{server}/?q=a+white+square&group=clip")
    wait = WebDriverWait(browser, 60)
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".result[data-clip-id]")) >= 4)
    first = browser.find_element(By.CSS_SELECTOR, ".result")
    clip_id = first.get_attribute("data-clip-id")
    first.find_element(By.CSS_SELECTOR, ".like").click()
    wait.until(lambda d: f"like clip {clip_id}" in d.find_element(By.ID, "status").text)
    shown = [card.get_attribute("data-clip-id") for card in browser.find_elements(By.CSS_SELECTOR, ".result")]
    assert shown and clip_id not in shown
    assert f"like={clip_id}" in browser.current_url and "q=" not in browser.current_url


def test_an_image_dropped_on_the_search_box_searches_with_it(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(server)
    WebDriverWait(browser, 30).until(lambda d: d.find_element(By.ID, "q"))
    browser.execute_script("""
        const canvas = document.createElement("canvas");
        canvas.width = 64; canvas.height = 48;
        const context = canvas.getContext("2d");
        context.fillStyle = "#000"; context.fillRect(0, 0, 64, 48);
        context.fillStyle = "#fff"; context.fillRect(20, 10, 20, 20);
        canvas.toBlob((blob) => {
          const transfer = new DataTransfer();
          transfer.items.add(new File([blob], "square.png", { type: "image/png" }));
          document.getElementById("q").dispatchEvent(new DragEvent("drop", { dataTransfer: transfer, bubbles: true }));
        }, "image/png");
    """)
    wait = WebDriverWait(browser, 60)
    wait.until(lambda d: "like image square.png" in d.find_element(By.ID, "status").text)
    assert browser.find_elements(By.CSS_SELECTOR, ".result[data-clip-id]")


def test_copies_fold_into_one_card_that_says_so(server, browser, library, video_files, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from vsearch.media.synthetic import reencode

    library.settings.fold_copies = True  # off for the other tests (see conftest)
    ingest(library, [reencode(video_files["h264"], tmp_path / "copy" / "h264-copy.mkv")])
    browser.get(f"{server}/?q=a+white+square&group=video")
    wait = WebDriverWait(browser, 60)
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".result .also"))
    names = [card.text for card in browser.find_elements(By.CSS_SELECTOR, ".result .name")]
    assert not {"h264.mp4", "h264-copy.mkv"} <= set(names)  # a copy is not a card of its own
    for also in browser.find_elements(By.CSS_SELECTOR, ".result .also"):
        files = also.get_attribute("title").split("\n")
        assert also.text == f"also in {len(files)} other file{'' if len(files) == 1 else 's'}"
    folded = " ".join(also.get_attribute("title") for also in browser.find_elements(By.CSS_SELECTOR, ".also"))
    assert "h264-copy.mkv" in folded or "h264-copy.mkv" in names

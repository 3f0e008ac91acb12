"""The page in a real headless Chromium against the real app on a real port: send a picture, read the
answer, correct a face, take a picture's data back, and see an error for a file that is not a picture."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web
from selenium import webdriver
from selenium.webdriver.chrome.service import Service as ChromeService
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions as seen
from selenium.webdriver.support.ui import WebDriverWait

from darekana.bot.http.api import make_app
from darekana.bot.records import STATUSES
from darekana.bot.service import Service

from pictures import group_picture

CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1100,1300",
)


@pytest.fixture
def service(make_service) -> Service:
    return make_service(user_rate="1000/1")


@pytest.fixture
def page_url(service: Service) -> Iterator[str]:
    """The app served on 127.0.0.1 from a thread with its own event loop, while the test drives a browser."""
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(make_app(service, service.settings))
    loop.run_until_complete(runner.setup())
    loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", 0).start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}/"
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


@pytest.fixture
def browser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[webdriver.Chrome]:
    monkeypatch.setenv("SE_OFFLINE", "true")  # Selenium Manager must never try to download a driver
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in (*CHROMIUM_ARGS, f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=ChromeService("/usr/bin/chromedriver"), options=options)
    yield driver
    driver.quit()


def wait(browser: webdriver.Chrome, seconds: float = 60) -> WebDriverWait:
    return WebDriverWait(browser, seconds)


def face_item(browser: webdriver.Chrome, number: int) -> WebElement:
    return browser.find_elements(By.CSS_SELECTOR, "#faces > li")[number - 1]


def button(item: WebElement, text: str) -> WebElement:
    return item.find_element(By.XPATH, f".//button[normalize-space()='{text}']")


def send_known(browser: webdriver.Chrome, service: Service, known_picture: tuple[bytes, str], path: Path) -> str:
    """Sends the known picture, saved as ``path``, from the page's file field; returns the name it gets."""
    picture, label = known_picture
    name = next(c.name for c in service.recognizer.manifest.labels if c.id == label)
    path.write_bytes(picture)
    browser.find_element(By.ID, "file").send_keys(str(path))
    wait(browser).until(seen.text_to_be_present_in_element((By.ID, "faces"), name))
    return name


def test_a_picture_answered_then_corrected(
    browser: webdriver.Chrome, page_url: str, service: Service, known_picture: tuple[bytes, str], tmp_path: Path
):
    browser.get(page_url)
    name = send_known(browser, service, known_picture, tmp_path / "face.png")
    label = known_picture[1]
    assert browser.find_element(By.ID, "picture").size["width"] > 50  # the picture with its box is drawn
    assert not browser.find_element(By.ID, "message").is_displayed()

    item = face_item(browser, 1)
    assert item.find_element(By.CSS_SELECTOR, ".number").text == "1"
    # beside the face, the nearest face of the character named, loaded from the answer itself
    shown = item.find_element(By.CSS_SELECTOR, ".evidence img")
    assert browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth", shown) > 0
    assert name in item.find_element(By.CSS_SELECTOR, ".evidence figcaption").text
    assert item.find_element(By.CSS_SELECTOR, ".evidence canvas").size["width"] > 0  # the face asked about
    field = item.find_element(By.CSS_SELECTOR, "input[type=text]")
    assert not field.is_displayed()  # until "Wrong" is pressed
    button(item, "Wrong").click()
    assert field.is_displayed() and field == browser.switch_to.active_element
    suggestions = [o.get_attribute("value") for o in item.find_elements(By.CSS_SELECTOR, "datalist option")]
    assert suggestions[0] == name and "Shana" in suggestions  # its candidates, then every character
    field.send_keys("shana")
    button(item, "Save").click()
    wait(browser).until(
        seen.text_to_be_present_in_element((By.CSS_SELECTOR, "#faces .ack"), "Thanks! Saved: this is Shana.")
    )
    assert not button(item, "Right").is_displayed() and not field.is_displayed()  # answered once
    browser.save_screenshot(str(tmp_path / "corrected.png"))

    [stored] = service.store.feedback()
    assert (stored.kind, stored.label, stored.predicted_label) == ("correction", "008_shana", label)
    assert stored.user_id.startswith("127.0.0.1/")  # the page sends its browser's own id
    assert _external_requests(browser, page_url) == []
    assert _console_errors(browser) == []


def test_a_group_picture_numbered_and_one_face_confirmed(
    browser: webdriver.Chrome, page_url: str, service: Service, tmp_path: Path
):
    path = tmp_path / "group.png"
    path.write_bytes(group_picture())
    browser.get(page_url)
    browser.find_element(By.ID, "file").send_keys(str(path))
    wait(browser).until(lambda b: len(b.find_elements(By.CSS_SELECTOR, "#faces > li")) == 3)
    numbers = [
        item.find_element(By.CSS_SELECTOR, ".number").text
        for item in browser.find_elements(By.CSS_SELECTOR, "#faces > li")
    ]
    assert numbers == ["1", "2", "3"]
    item = next(
        i for i in browser.find_elements(By.CSS_SELECTOR, "#faces > li") if "unknown" not in i.get_attribute("class")
    )
    button(item, "Right").click()
    wait(browser).until(seen.text_to_be_present_in_element((By.CSS_SELECTOR, "#faces"), "Thanks! Noted"))
    browser.save_screenshot(str(tmp_path / "group.png.screenshot.png"))
    assert [r.kind for r in service.store.feedback()] == ["confirmation"]


def test_forget_button_deletes_the_answer_and_its_confirmation_and_nothing_else(
    browser: webdriver.Chrome, page_url: str, service: Service, known_picture: tuple[bytes, str], tmp_path: Path
):
    browser.get(page_url)
    send_known(browser, service, known_picture, tmp_path / "face.png")  # someone else's answer: it must stay
    first = face_item(browser, 1)
    send_known(browser, service, known_picture, tmp_path / "again.png")  # this one is confirmed, then taken back
    wait(browser).until(seen.staleness_of(first))  # the page shows the second answer
    button(face_item(browser, 1), "Right").click()
    wait(browser).until(seen.text_to_be_present_in_element((By.CSS_SELECTOR, "#faces .ack"), "Thanks! Noted"))
    forget = browser.find_element(By.ID, "forget")
    assert forget.is_displayed() and forget.text == "Delete this picture's data"
    forget.click()
    wait(browser).until(
        seen.text_to_be_present_in_element((By.ID, "forgotten"), "Deleted: 1 face(s) and 1 correction(s).")
    )
    assert not forget.is_displayed() and not browser.find_element(By.ID, "message").is_displayed()
    browser.save_screenshot(str(tmp_path / "forgotten.png"))
    stats = service.store.stats()
    assert (stats.recognitions, stats.faces, service.store.feedback(STATUSES)) == (1, 1, [])
    # what is kept, in the server's own words, beside the button
    browser.find_element(By.CSS_SELECTOR, "#privacy summary").click()
    assert "30 days" in browser.find_element(By.ID, "privacy-text").text
    assert _console_errors(browser) == []


def test_a_file_that_is_not_a_picture_or_a_local_link_shows_an_error(
    browser: webdriver.Chrome, page_url: str, service: Service, tmp_path: Path
):
    path = tmp_path / "notes.txt"
    path.write_text("these are notes, not a picture")
    browser.get(page_url)
    browser.find_element(By.ID, "file").send_keys(str(path))
    message = browser.find_element(By.ID, "message")
    wait(browser).until(seen.visibility_of(message))
    assert message.text == "not an image (expected JPEG, PNG, WebP, GIF or BMP)"
    assert message.get_attribute("role") == "alert"
    assert not browser.find_element(By.ID, "result").is_displayed()
    browser.save_screenshot(str(tmp_path / "error.png"))
    browser.find_element(By.ID, "url").send_keys("http://127.0.0.1:9/picture.png")
    browser.find_element(By.XPATH, "//button[normalize-space()='Look']").click()
    wait(browser).until(seen.text_to_be_present_in_element((By.ID, "message"), "private or local address"))
    assert service.store.stats().recognitions == 0


def _external_requests(browser: webdriver.Chrome, page_url: str) -> list[str]:
    loaded = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    return [url for url in loaded if not url.startswith(page_url) and not url.startswith("blob:")]


def _console_errors(browser: webdriver.Chrome) -> list[str]:
    return [entry["message"] for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]

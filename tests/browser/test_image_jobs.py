"""The images page in Chromium: a running job shows its progress, survives a reload and is
replaced by its image when the per-user socket says it is complete."""

import re

import pytest
from playwright.async_api import expect

from tests.fakes.openai_server import error, image_b64, tiny_png

pytestmark = [
    pytest.mark.browser,
    pytest.mark.asyncio(loop_scope="session"),
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(60),
]

PNG = tiny_png(2, 2, (200, 40, 90))
RUNNING = '#gallery [data-status="running"]'
FILE_URL = re.compile(r"^/api/images/[^/]+/file/$")


async def test_a_running_job_shows_progress_and_becomes_its_image(browsing, upstream, page_user):
    upstream.enqueue_image(image_b64(PNG, delay=4))
    await browsing.login_as(page_user)
    page = browsing.page
    await page.goto("/images/")
    await page.fill("#image-prompt", "雪の金閣寺")
    await page.click("#image-submit")

    job = page.locator(RUNNING)
    await expect(job).to_have_count(1)
    await expect(job.locator("[data-prompt]")).to_have_text("雪の金閣寺")
    await expect(job.locator("[data-job-status]")).to_contain_text("生成中")
    await expect(job.locator("progress")).to_have_attribute("value", re.compile(r"^\d"))
    await expect(page.locator("#image-submit")).to_be_enabled()  # no wait held by the form

    # A reload shows the job as it stands.
    await page.reload()
    await expect(page.locator(RUNNING)).to_have_count(1)

    # Replaced by the image on the socket's `complete`, well before the page would look
    # the job up again over the API (every 10 s).
    image = page.locator('#gallery [data-status="complete"] img')
    await expect(image).to_have_attribute("src", FILE_URL, timeout=8000)
    await expect(page.locator(RUNNING)).to_have_count(0)
    await page.wait_for_function(
        "() => { const i = document.querySelector('#gallery img'); "
        "return i && i.complete && i.naturalWidth > 0; }"
    )
    browsing.watch.assert_clean()


async def test_a_failed_job_says_why_in_english(english_browsing, upstream, page_user):
    upstream.enqueue_image(
        error(
            400, {"error": {"message": "unsafe", "type": None, "code": "content_policy_violation"}}
        )
    )
    await english_browsing.login_as(page_user)
    page = english_browsing.page
    await page.goto("/images/")
    await page.fill("#image-prompt", "something refused")
    await page.click("#image-submit")
    failed = page.locator('#gallery [data-status="failed"]')
    await expect(failed.locator("[data-job-status]")).to_contain_text("Not generated")
    await expect(failed.locator("img")).to_have_count(0)
    english_browsing.watch.assert_clean()

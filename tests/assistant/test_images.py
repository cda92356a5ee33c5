"""Images: generated through the real SDK against the fake, stored by us, served owner-only."""

import json
import re
import time
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from assistant.images import sniff_image_type
from assistant.models import GeneratedImage
from conversations.models import Message
from tests.fakes.openai_server import error, image_b64, image_url, reply, tiny_png, tool_calls

PNG = tiny_png(4, 4, (0, 128, 255))
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 64
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 \x18\x00\x00\x00" + b"\x00" * 24


@pytest.fixture(autouse=True)
def _downloads_from_the_loopback_fake(settings):
    """The fake provider serves its image URLs on 127.0.0.1, a private address."""
    settings.IMAGE_DOWNLOAD_ALLOW_PRIVATE = True


def generate(client, prompt: str = "桜と富士山", size: str = "1024x1024"):
    return client.post("/api/images/", {"prompt": prompt, "size": size}, format="json")


def stored_files(settings) -> list[Path]:
    folder = Path(settings.STORAGES["images"]["OPTIONS"]["location"])
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def no_image_stored() -> bool:
    """Only failed jobs (the POST waited for its job): no image and no file recorded."""
    jobs = GeneratedImage.objects.all()
    return jobs.exists() and all(j.status == "failed" and not j.file for j in jobs)


def file_body(response) -> bytes:
    return b"".join(response.streaming_content)


def test_sniffing_accepts_only_png_jpeg_and_webp():
    assert sniff_image_type(PNG) == "image/png"
    assert sniff_image_type(JPEG) == "image/jpeg"
    assert sniff_image_type(WEBP) == "image/webp"
    for data in (
        b"",
        b"GIF89a......",
        b"<svg xmlns='http://www.w3.org/2000/svg'/>",
        b"RIFFxxxxWAVE",
    ):
        assert sniff_image_type(data) is None


@pytest.mark.django_db(transaction=True)  # the image job runs on the turn database threads
def test_b64_image_is_decoded_stored_and_served_to_its_owner(api_client, llm_upstream, settings):
    llm_upstream.enqueue_image(image_b64(PNG, revised_prompt="A cherry tree before Mt Fuji"))

    response = generate(api_client, size="1792x1024")

    assert response.status_code == 201, response.content
    body = response.json()
    image = GeneratedImage.objects.get(pk=body["id"])
    assert body["url"] == f"/api/images/{image.pk}/file/"
    assert body["prompt"] == "桜と富士山" and body["size"] == "1792x1024"
    assert body["revised_prompt"] == "A cherry tree before Mt Fuji"
    sent = llm_upstream.image_requests()[0].json
    assert sent["prompt"] == "桜と富士山" and sent["size"] == "1792x1024"
    assert sent["response_format"] == "b64_json"
    # Stored under a server-generated name in the images storage, not the working tree.
    (path,) = stored_files(settings)
    assert re.fullmatch(r"[0-9a-f]{32}\.png", path.name)
    assert path.read_bytes() == PNG
    assert image.byte_size == len(PNG) and image.content_type == "image/png"

    served = api_client.get(body["url"])
    assert served.status_code == 200
    assert served["Content-Type"] == "image/png"
    assert served["X-Content-Type-Options"] == "nosniff"
    assert served["Content-Disposition"].startswith("inline")
    assert file_body(served) == PNG

    assert api_client.get(f"/api/images/{image.pk}/").json() == body


@pytest.mark.django_db(transaction=True)  # the image job runs on the turn database threads
def test_url_image_is_downloaded_at_once(api_client, llm_upstream):
    provider_url = llm_upstream.serve_bytes("/blob/img-abc.jpg", JPEG, "image/jpeg")
    llm_upstream.enqueue_image(image_url(provider_url + "?sig=SECRET-SAS"))

    response = generate(api_client)

    assert response.status_code == 201, response.content
    downloads = [r for r in llm_upstream.requests if r.path == "/blob/img-abc.jpg"]
    assert len(downloads) == 1 and downloads[0].method == "GET"
    image = GeneratedImage.objects.get(pk=response.json()["id"])
    assert image.content_type == "image/jpeg" and image.file.name.endswith(".jpg")
    # The provider's expiring URL is neither answered nor stored.
    assert "blob" not in response.content.decode() and "SECRET" not in response.content.decode()
    assert "blob" not in image.file.name
    served = api_client.get(response.json()["url"])
    assert served["Content-Type"] == "image/jpeg" and file_body(served) == JPEG


@pytest.mark.django_db(transaction=True)  # the image job runs on the turn database threads
def test_webp_is_accepted(api_client, llm_upstream):
    llm_upstream.enqueue_image(image_b64(WEBP))
    response = generate(api_client)
    assert response.status_code == 201
    assert api_client.get(response.json()["url"])["Content-Type"] == "image/webp"


@pytest.mark.django_db(transaction=True)  # the image job runs on the turn database threads
def test_a_download_that_claims_to_be_too_large_is_refused(api_client, llm_upstream, settings):
    settings.IMAGE_MAX_BYTES = 64 * 1024
    big = PNG + b"\x00" * (256 * 1024)
    url = llm_upstream.serve_bytes("/blob/huge.png", big, declared_length=50 * 1024 * 1024)
    llm_upstream.enqueue_image(image_url(url))

    response = generate(api_client)

    assert response.status_code == 502
    body = response.json()
    assert body["code"] == "upstream_error" and "IMAGE_MAX_BYTES" in body["detail"]
    assert no_image_stored() and stored_files(settings) == []


@pytest.mark.django_db(transaction=True)  # the image job runs on the turn database threads
def test_a_stream_past_the_cap_is_abandoned_as_soon_as_it_passes_it(
    api_client, llm_upstream, settings
):
    settings.IMAGE_MAX_BYTES = 64 * 1024
    big = PNG + b"\x00" * (2 * 1024 * 1024)
    # No Content-Length; 16 KiB every 50 ms: the whole body would take over 6 seconds.
    url = llm_upstream.serve_bytes(
        "/blob/endless.png", big, chunked=True, chunk_size=16 * 1024, chunk_interval=0.05
    )
    llm_upstream.enqueue_image(image_url(url))

    started = time.monotonic()
    response = generate(api_client)

    assert time.monotonic() - started < 3
    assert response.status_code == 502 and "IMAGE_MAX_BYTES" in response.json()["detail"]
    assert no_image_stored() and stored_files(settings) == []


@pytest.mark.django_db(transaction=True)  # the image job runs on the turn database threads
@pytest.mark.parametrize("how", ["download", "b64"])
def test_bytes_that_are_not_an_image_are_refused(api_client, llm_upstream, settings, how):
    html = b"<html><script>alert(1)</script></html>"
    if how == "download":
        url = llm_upstream.serve_bytes("/blob/fake.png", html, content_type="image/png")
        llm_upstream.enqueue_image(image_url(url))
    else:
        llm_upstream.enqueue_image(image_b64(html))

    response = generate(api_client)

    assert response.status_code == 502
    assert response.json()["code"] == "upstream_error"
    assert "not a PNG, JPEG or WebP" in response.json()["detail"]
    assert no_image_stored() and stored_files(settings) == []


@pytest.mark.django_db(transaction=True)  # the image job runs on the turn database threads
def test_download_failures_are_upstream_errors(api_client, llm_upstream, settings):
    missing = llm_upstream.serve_bytes("/blob/gone.png", b"", status=404)
    slow = llm_upstream.serve_bytes("/blob/slow.png", PNG * 50, chunk_size=64, chunk_interval=0.1)
    llm_upstream.enqueue_image(image_url(missing), image_url("file:///etc/passwd"), image_url(slow))

    not_found = generate(api_client)
    assert not_found.status_code == 502 and "HTTP 404" in not_found.json()["detail"]
    bad_scheme = generate(api_client)
    assert bad_scheme.status_code == 502 and "unusable image URL" in bad_scheme.json()["detail"]
    settings.IMAGE_DOWNLOAD_TIMEOUT = 0.5  # the whole body would take over 5 seconds
    timed_out = generate(api_client)
    assert timed_out.status_code == 504 and timed_out.json()["code"] == "upstream_timeout"
    assert "IMAGE_DOWNLOAD_TIMEOUT" in timed_out.json()["detail"]
    assert no_image_stored()


@pytest.mark.django_db(transaction=True)  # the image job runs on the turn database threads
@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::ffff:127.0.0.1]", "[::1]"])
def test_a_url_on_a_private_address_is_refused_unless_allowed(
    api_client, llm_upstream, settings, host
):
    settings.IMAGE_DOWNLOAD_ALLOW_PRIVATE = False
    url = llm_upstream.serve_bytes("/blob/internal.png", PNG)
    llm_upstream.enqueue_image(image_url(url.replace("127.0.0.1", host, 1)))

    response = generate(api_client)

    assert response.status_code == 502
    body = response.json()
    assert body["code"] == "upstream_error"
    assert "not public" in body["detail"] and "IMAGE_DOWNLOAD_ALLOW_PRIVATE" in body["detail"]
    # Refused before connecting: the fake never saw the download.
    assert [r for r in llm_upstream.requests if r.path == "/blob/internal.png"] == []
    assert no_image_stored() and stored_files(settings) == []


@pytest.mark.django_db(transaction=True)  # the image job runs on the turn database threads
def test_a_redirect_is_refused_even_to_an_allowed_address(api_client, llm_upstream, settings):
    target = llm_upstream.serve_bytes("/blob/target.png", PNG)
    moved = llm_upstream.serve_bytes(
        "/blob/moved.png", b"", status=302, headers={"Location": target}
    )
    llm_upstream.enqueue_image(image_url(moved))

    response = generate(api_client)

    assert response.status_code == 502
    body = response.json()
    assert body["code"] == "upstream_error" and "redirect" in body["detail"]
    assert "HTTP 302" in body["detail"] and "target" not in body["detail"]
    assert [r for r in llm_upstream.requests if r.path == "/blob/target.png"] == []
    assert no_image_stored() and stored_files(settings) == []


@pytest.mark.django_db(transaction=True)
def test_a_refused_address_in_a_turn_is_a_tool_error_and_the_turn_is_kept(
    api_client, llm_upstream, settings
):
    settings.IMAGE_DOWNLOAD_ALLOW_PRIVATE = False
    llm_upstream.enqueue(
        tool_calls([("generate_image", {"prompt": "x"}, "call_i")]), reply("できませんでした。")
    )
    url = llm_upstream.serve_bytes("/blob/internal.png", PNG)
    llm_upstream.enqueue_image(image_url(url))

    body = api_client.post("/api/chat/", {"message": "描いて"}, format="json").json()

    assert body["message"] == "できませんでした。"
    rows = Message.objects.filter(conversation_id=body["conversation_id"])
    assert rows.get(role="user").content == "描いて"
    assert "not public" in json.loads(rows.get(role="tool").content)["error"]
    # The tool's image job ended failed, with its code; no file was stored.
    (job,) = GeneratedImage.objects.all()
    assert job.status == "failed" and job.error_code == "upstream_error" and not job.file
    assert stored_files(settings) == []


@pytest.mark.django_db(transaction=True)  # the image job runs on the turn database threads
def test_provider_errors_keep_their_codes(api_client, llm_upstream):
    llm_upstream.enqueue_image(
        error(
            400, {"error": {"message": "unsafe", "type": None, "code": "content_policy_violation"}}
        )
    )
    response = generate(api_client)
    assert response.status_code == 422 and response.json()["code"] == "content_filtered"


@pytest.mark.django_db(transaction=True)  # the image job runs on the turn database threads
@pytest.mark.parametrize(
    "body", [{"prompt": "x", "size": "256x256"}, {"prompt": ""}, {"prompt": "x" * 4001}, {}]
)
def test_invalid_requests_never_reach_the_provider(api_client, llm_upstream, body):
    response = api_client.post("/api/images/", body, format="json")
    assert response.status_code == 400
    assert llm_upstream.image_requests() == []


@pytest.mark.django_db(transaction=True)  # the image job runs on the turn database threads
def test_images_are_owner_only(api_client, other_client, llm_upstream, session_client):
    image_id = generate(api_client).json()["id"]
    file_url = f"/api/images/{image_id}/file/"

    assert other_client.get(f"/api/images/{image_id}/").status_code == 404
    assert other_client.get(file_url).status_code == 404
    assert other_client.get("/api/images/").json()["results"] == []
    anonymous = APIClient()
    assert anonymous.get(file_url).status_code == 404  # not 401: reveal nothing
    assert anonymous.get("/api/images/").status_code == 401
    assert anonymous.get(f"/api/images/{image_id}/").status_code == 401
    # The owner's browser (session cookie, <img> Accept header) gets the bytes.
    served = session_client.get(file_url, HTTP_ACCEPT="image/avif,image/webp,image/*,*/*;q=0.8")
    assert served.status_code == 200 and served["Content-Type"] == "image/png"
    strict = api_client.get(file_url, HTTP_ACCEPT="image/png")
    assert strict.status_code == 200


@pytest.mark.django_db(transaction=True)  # the image job runs on the turn database threads
def test_list_is_the_users_images_newest_first(api_client, other_client, llm_upstream):
    first = generate(api_client, "one").json()["id"]
    second = generate(api_client, "two").json()["id"]
    generate(other_client, "theirs")

    page = api_client.get("/api/images/").json()

    assert {"next", "previous", "results"} <= set(page)
    assert [i["id"] for i in page["results"]] == [second, first]
    assert all(i["url"] == f"/api/images/{i['id']}/file/" for i in page["results"])


@pytest.mark.django_db(transaction=True)
def test_generate_image_tool_in_a_turn(api_client, llm_upstream, user):
    llm_upstream.enqueue(
        tool_calls([("generate_image", {"prompt": "a red fox", "size": "1024x1792"}, "call_i")]),
        lambda request: reply("Here it is."),
    )
    llm_upstream.enqueue_image(image_b64(PNG))

    body = api_client.post("/api/chat/", {"message": "draw a fox"}, format="json").json()

    image = GeneratedImage.objects.get(owner=user)
    assert image.size == "1024x1792" and str(image.source_message_id) == body["message_id"]
    tool_row = Message.objects.get(conversation_id=body["conversation_id"], role="tool")
    result = json.loads(tool_row.content)
    assert result["image_id"] == str(image.pk)
    assert result["url"] == f"/api/images/{image.pk}/file/"
    assert result["markdown"] == f"![a red fox](/api/images/{image.pk}/file/)"
    assert len(tool_row.content) < 500  # never base64 in a message
    assert api_client.get(result["url"]).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_generate_image_tool_failure_goes_back_to_the_model(api_client, llm_upstream):
    llm_upstream.enqueue(
        tool_calls([("generate_image", {"prompt": "x"}, "call_i")]), reply("Sorry.")
    )
    llm_upstream.enqueue_image(image_b64(b"not an image at all"))

    body = api_client.post("/api/chat/", {"message": "draw"}, format="json").json()

    assert body["message"] == "Sorry."
    tool_row = Message.objects.get(conversation_id=body["conversation_id"], role="tool")
    assert "not a PNG, JPEG or WebP" in json.loads(tool_row.content)["error"]
    (job,) = GeneratedImage.objects.all()  # the tool's job, failed with nothing stored
    assert job.status == "failed" and not job.file and job.content_type == ""


@pytest.mark.django_db(transaction=True)  # the image job runs on the turn database threads
def test_admin_is_read_only_and_links_no_file(client, api_client, llm_upstream):
    from tests.factories import UserFactory

    image_id = generate(api_client).json()["id"]
    client.force_login(UserFactory(username="staff", is_staff=True, is_superuser=True))

    listing = client.get("/admin/assistant/generatedimage/")
    detail = client.get(f"/admin/assistant/generatedimage/{image_id}/change/")

    assert listing.status_code == 200 and detail.status_code == 200
    image = GeneratedImage.objects.get(pk=image_id)
    page = detail.content.decode()
    assert image.file.name in page  # the stored name, as text
    assert f'href="{image.file.name}' not in page and "/media/" not in page
    assert 'name="_save"' not in page  # read-only
    assert client.get("/admin/assistant/generatedimage/add/").status_code == 403

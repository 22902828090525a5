"""Traffic content analysis: media, base64 images, embeddings, known fields, countries."""

from __future__ import annotations

import base64
import json
import struct

import pytest

from bystander.inspect.profile import DataFlow
from bystander.inspect.traffic import (
    MAX_BODY_BYTES,
    CountryResolver,
    analyse_request,
    tld_country,
)
from tests.bundles import JPEG, PNG, embedding

URL = "https://api.example.com/v1/upload"


def multipart(parts: dict[str, tuple[str, bytes, str]], boundary: str = "XyZb0undary") -> bytes:
    out = b""
    for name, (filename, data, ctype) in parts.items():
        disp = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += (
            f"--{boundary}\r\nContent-Disposition: {disp}\r\nContent-Type: {ctype}\r\n\r\n".encode()
        )
        out += data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


def analyse_json(body: object, url: str = URL) -> tuple[frozenset[str], tuple[str, ...]]:
    return analyse_request(url, "application/json", json.dumps(body, ensure_ascii=False).encode())


# -- media ----------------------------------------------------------------------------------


def test_jpeg_multipart_face_upload() -> None:
    body = multipart(
        {"face": ("capture.jpg", JPEG, "image/jpeg"), "device": ("", b"cam-7", "text/plain")}
    )
    cats, findings = analyse_request(URL, "multipart/form-data; boundary=XyZb0undary", body)
    assert cats == {"user.biometric.face.image"}
    assert findings == ("JPEG in multipart part 'face'",)


def test_image_without_face_context_is_camera_data() -> None:
    body = multipart({"file": ("snapshot.png", PNG, "image/png")}, boundary="b")
    cats, findings = analyse_request(URL, "multipart/form-data; boundary=b", body)
    assert cats == {"user.sensor.camera"} and findings == ("PNG in multipart part 'file'",)
    cats, _ = analyse_request("https://x.cn/api/faceRecognition/upload", "image/png", PNG)
    assert cats == {"user.biometric.face.image"}  # the URL speaks of faces


def test_raw_media_bodies_by_magic_bytes() -> None:
    webp = b"RIFF\x10\x00\x00\x00WEBPVP8 " + bytes(20)
    heic = b"\x00\x00\x00\x18ftypheic" + bytes(20)
    mp4 = b"\x00\x00\x00\x18ftypisom" + bytes(20)
    wav = b"RIFF\x10\x00\x00\x00WAVEfmt " + bytes(20)
    assert analyse_request(URL, "", webp) == (
        frozenset({"user.sensor.camera"}),
        ("WebP in request body",),
    )
    assert analyse_request(URL, "", heic)[0] == {"user.sensor.camera"}
    assert analyse_request(URL, "", mp4) == (
        frozenset({"user.sensor.camera"}),
        ("MP4 in request body",),
    )
    assert analyse_request(URL, "", wav)[0] == {"user.sensor.microphone"}
    assert analyse_request("https://x.cn/voiceprint/enroll", "", wav)[0] == {
        "user.sensor.microphone"
    }


@pytest.mark.parametrize(
    ("value", "finding"),
    [
        (base64.b64encode(JPEG).decode(), "base64 JPEG in field 'faceImg'"),
        (
            "data:image/png;base64," + base64.b64encode(PNG).decode(),
            "base64 PNG in field 'faceImg'",
        ),
        ("data:image/jpeg;base64,AAAA" + "A" * 60, "base64 JPEG in field 'faceImg'"),
    ],
)
def test_base64_face_image_in_json(value: str, finding: str) -> None:
    cats, findings = analyse_json({"userId": "u1", "faceImg": value})
    assert cats == {"user.biometric.face.image"} and findings == (finding,)


def test_base64_image_in_form_and_query() -> None:
    photo = base64.b64encode(JPEG).decode()
    cats, findings = analyse_request(
        URL, "application/x-www-form-urlencoded", f"人脸={photo}".encode()
    )
    assert cats == {"user.biometric.face.image"}
    assert findings == ("base64 JPEG in form field '人脸'",)
    cats, _ = analyse_request(f"{URL}?snapshot={photo}&n=1")
    assert cats == {"user.sensor.camera"}


# -- templates and embeddings ------------------------------------------------------------------


def test_embedding_shaped_array() -> None:
    cats, findings = analyse_json({"result": {"vec": embedding(512)}})
    assert cats == {"user.biometric.face.embedding"}
    assert findings == ("field 'vec': 512 floats",)


def test_named_template_and_voiceprint() -> None:
    cats, findings = analyse_json({"face_feature": embedding(512), "voiceprint": embedding(256, 2)})
    assert cats == {"user.biometric.face.template", "user.biometric.voice"}
    assert "field 'face_feature': 512 floats" in findings
    assert "field 'voiceprint': 256 floats" in findings
    cats, _ = analyse_json({"人脸特征": embedding(128)})
    assert cats == {"user.biometric.face.template"}


def test_base64_template_blob_and_landmarks() -> None:
    blob = base64.b64encode(struct.pack("<512f", *embedding(512))).decode()
    cats, findings = analyse_json({"template": blob})
    assert cats == {"user.biometric.face.template"}
    assert findings == ("field 'template': base64 blob of 2048 bytes",)
    cats, _ = analyse_json({"landmarks": [[10.5, 20.25]] * 2 + [1.5] * 10})
    assert cats == {"user.biometric.face.template"}


@pytest.mark.parametrize(
    "values",
    [
        list(range(512)),  # integers: an index list, not an embedding
        [float(v) + 0.5 for v in range(512)],  # large values, far from unit norm
        [0.1] * 20,  # too short
        [0.01] * 3000,  # too long
    ],
)
def test_non_embedding_arrays(values: list[float]) -> None:
    assert analyse_json({"samples": values}) == (frozenset(), ())


# -- known fields ----------------------------------------------------------------------------


def test_known_personal_fields() -> None:
    cats, findings = analyse_json(
        {
            "phone": "+86 138-1234-5678",
            "contact": {"email": "li.wei@example.cn"},
            "imei": "356938035643809",
            "macAddress": "00:1A:2B:3C:4D:5E",
            "androidId": "9774d56d682e549c",
            "gps": {"lat": 31.230416, "lng": 121.473701},
        }
    )
    assert cats == {
        "user.contact.phone", "user.contact.email", "user.device.identifier",
        "user.location.precise",
    }  # fmt: skip
    assert "field 'phone': phone number" in findings
    assert "fields 'lat'/'lng': precise coordinates" in findings


def test_chinese_field_names_and_query_location() -> None:
    cats, _ = analyse_json({"手机号": "13812345678", "纬度": "39.904211", "经度": "116.407395"})
    assert cats == {"user.contact.phone", "user.location.precise"}
    cats, findings = analyse_request("https://t.cn/r?latitude=22.543099&longitude=114.057868")
    assert cats == {"user.location.precise"}
    assert findings == ("query parameters 'latitude'/'longitude': precise coordinates",)


def test_normal_requests_find_nothing() -> None:
    body = {
        "device_id": "cam-0042",
        "firmware": "2.3.1",
        "battery": 87,
        "uptime_s": 123456,
        "lat": 31,  # a whole degree is not a precise location
        "lng": 121,
        "phone": "n/a",
        "features": ["night_vision", "hdr"],
        "template": "dark",
        "interface": "wlan0",
        "temperature": [21.5, 21.7, 21.6],
    }
    assert analyse_json(body) == (frozenset(), ())
    assert analyse_request("https://ota.example.com/firmware?model=G1&channel=stable") == (
        frozenset(),
        (),
    )
    assert analyse_request(URL, "text/plain", b"hello world") == (frozenset(), ())


def test_hostile_bodies_do_not_crash() -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    assert analyse_request(URL, "application/json", deep) == (frozenset(), ())
    assert analyse_request(URL, "multipart/form-data; boundary=", b"--\r\n\r\n") == (
        frozenset(),
        (),
    )
    no_boundary = analyse_request(URL, "multipart/form-data", JPEG)
    assert no_boundary == (frozenset({"user.sensor.camera"}), ("JPEG in request body",))


def test_huge_bodies_are_capped() -> None:
    body = JPEG + bytes(MAX_BODY_BYTES + 10)
    cats, findings = analyse_request("https://x.cn/face", "image/jpeg", body)
    assert cats == {"user.biometric.face.image"}
    assert findings[0].startswith("body truncated")


# -- countries -----------------------------------------------------------------------------


def test_country_resolution_order() -> None:
    flows = [DataFlow(data_categories=["user.biometric.face.template"],
                      destination="https://cloud.vendor.com/api", country="sg")]  # fmt: skip
    resolver = CountryResolver({"api.vendor.cn": "US", "*.cdn.vendor.com": "jp"}, flows)
    assert resolver.country("api.vendor.cn") == "US"  # the manifest beats the TLD
    assert resolver.country("img.cdn.vendor.com") == "JP"
    assert resolver.country("cdn.vendor.com") == "JP"
    assert resolver.country("cloud.vendor.com") == "SG"  # declared data flow
    assert resolver.country("other.vendor.cn") == "CN"  # ccTLD
    assert resolver.country("tracker.example.com") is None


@pytest.mark.parametrize(
    ("host", "country"),
    [("a.b.cn", "CN"), ("x.co.uk", "GB"), ("api.sg", "SG"), ("app.io", None), ("e.eu", None),
     ("10.0.0.1", None), ("localhost", None), ("example.com", None)],
)  # fmt: skip
def test_tld_country(host: str, country: str | None) -> None:
    assert tld_country(host) == country

# ruff: noqa: RUF001  (full-width Chinese punctuation in sample documents)
"""Notice analysis in Chinese and English: complete notices find every field, vague ones few."""

from __future__ import annotations

import pytest

from bystander.inspect.importers.documents import (
    guess_lang,
    html_lines,
    json_lines,
    markdown_lines,
    text_lines,
)
from bystander.inspect.notice import NOTICE_FIELDS, analyse_notice, analyse_pia
from tests.bundles import PIA_EN, POLICY_EN, POLICY_ZH, VAGUE_EN

VAGUE_ZH = """\
隐私政策
我们非常重视您的隐私。
我们可能会收集一些信息以改善服务。
我们会在必要的期限内保存数据。
如有疑问，请通过App联系我们。
"""


def names(text: str, doc_type: str = "privacy_policy") -> set[str]:
    return {f.name for f in analyse_notice(markdown_lines(text), "p.md", doc_type)}


@pytest.mark.parametrize("text", [POLICY_EN, POLICY_ZH])
def test_complete_notice_finds_every_field(text: str) -> None:
    # these policies run no AI on people, so say nothing of an algorithm
    assert names(text) == set(NOTICE_FIELDS) - {"algorithm"}


def test_fields_point_at_the_line_that_states_them() -> None:
    fields = {f.name: f for f in analyse_notice(markdown_lines(POLICY_ZH), "zh.md")}
    lines = POLICY_ZH.splitlines()
    for name, needle in {
        "processor": "镜界光学有限公司",
        "contact": "privacy@lumen-optics.example",
        "retention": "30天",
        "rights": "查阅、复制",
        "exercise_rights": "行使上述权利",
        "biometric": "人脸信息处理规则",
        "children": "不满十四周岁",
        "cross_border": "境外",
    }.items():
        line_no = int(fields[name].location.rsplit(":", 1)[1])
        assert fields[name].location.startswith("zh.md:")
        assert needle in lines[line_no - 1] and needle in fields[name].excerpt, name


@pytest.mark.parametrize("text", [VAGUE_EN, VAGUE_ZH])
def test_vague_notice_finds_nothing(text: str) -> None:
    assert names(text) == set()


@pytest.mark.parametrize(
    ("sentence", "field", "found"),
    [
        ("We keep your data for 90 days.", "retention", True),
        ("Face templates are deleted immediately after verification.", "retention", True),
        ("We store data securely.", "retention", False),
        ("We retain data as long as necessary.", "retention", False),
        ("人脸图像在验证完成后立即删除。", "retention", True),
        ("我们会保存您的数据。", "retention", False),
        ("个人信息保存期限为六个月。", "retention", True),
        ("You have the right to access your data.", "rights", False),  # one right is not enough
        ("You can access and delete your data.", "rights", True),
        ("您可以查阅、更正您的个人信息。", "rights", True),
        ("Contact us through the app.", "contact", False),
        ("Write to dpo@vendor.example.", "contact", True),
        ("客服电话：400-820-8820", "contact", True),
        ("Address: 1 Main Street, Dublin", "contact", True),
        ("Example Ltd is the controller of your data.", "processor", True),
        ("We are a company.", "processor", False),
        ("本应用由深圳市示例科技有限公司运营。", "processor", True),
        ("We may transfer your data to servers outside the EEA.", "cross_border", True),
        ("我们的服务器位于境内。", "cross_border", False),
        ("Children under the age of 13 may not use the service.", "children", True),
        ("儿童个人信息保护规则", "children", True),
        ("To exercise your rights, email dpo@vendor.example.", "exercise_rights", True),
        ("We reply within 15 working days.", "exercise_rights", False),
        ("如需行使上述权利，请联系客服。", "exercise_rights", True),
        ("We use your location to show nearby stores.", "purposes", True),
        ("收集的人脸信息仅用于门锁开锁验证。", "purposes", True),
        ("We collect your face images and location.", "data_categories", True),
        ("We collect some information.", "data_categories", False),
        ("我们收集您的手机号和位置信息。", "data_categories", True),
        ("The AI model detects faces and blurs them on the glasses.", "algorithm", True),
        ("处理方式为在设备本地提取人脸特征并进行比对。", "algorithm", True),
        ("算法根据学生表情估计专注度。", "algorithm", True),
        ("We use AI to make your life better.", "algorithm", False),
        ("We use advanced algorithms.", "algorithm", False),
    ],
)
def test_single_statements(sentence: str, field: str, found: bool) -> None:
    assert (field in names(sentence + "\n")) is found


def test_biometric_needs_a_section_or_a_separate_notice() -> None:
    assert "biometric" not in names("We may use face recognition to unlock.\n")
    assert "biometric" in names("## Biometric information\nDetails.\n")
    assert "biometric" in names("我们将就人脸信息的处理向您单独告知。\n")
    assert "biometric" in names("We may use face recognition.\n", "biometric_notice")


def test_html_and_text_documents() -> None:
    html = (
        "<html><body>\n<h1>Privacy</h1>\n<p>Example GmbH is the <b>controller</b>.</p>\n"
        "<script>alert('We keep your data for 90 days')</script>\n"
        "<p>We keep recordings for 7 days.</p>\n</body></html>"
    )
    lines = html_lines(html)
    fields = {f.name: f.location for f in analyse_notice(lines, "p.html")}
    assert fields == {"processor": "p.html:3", "retention": "p.html:5"}
    text = "第一条 人脸信息\n我们收集您的人脸图像，用于开锁验证。\n"
    found = {f.name for f in analyse_notice(text_lines(text), "r.txt")}
    assert {"biometric", "data_categories", "purposes"} <= found


def test_pia_sections() -> None:
    found = {f.name for f in analyse_pia(markdown_lines(PIA_EN), "pia.md")}
    assert found == {"purposes", "impact", "risks", "measures"}
    zh = (
        "一、处理目的的合法性、正当性和必要性\n二、对个人权益的影响\n"
        "三、泄露、篡改、丢失的风险\n四、保护措施\n"
    )
    assert {f.name for f in analyse_pia(text_lines(zh), "pia.txt")} == {
        "purposes", "impact", "risks", "measures",
    }  # fmt: skip
    assert analyse_pia(text_lines("Nothing to see here.\n"), "x.txt") == ()


def test_language_guess() -> None:
    assert guess_lang(POLICY_ZH) == "zh"
    assert guess_lang(POLICY_EN) == "en"
    assert guess_lang("Lumen 镜界 G1 glasses privacy policy, effective January 2026") == "en"


def test_json_documents_keep_line_numbers() -> None:
    text = (
        '{\n  "title": "隐私政策",\n  "sections": [\n'
        '    {"heading": "保存期限", "text": "视频保存30天后自动删除。"},\n'
        '    {"heading": "Rights", "text": "You can access and delete your data."}\n  ]\n}\n'
    )
    lines = json_lines(text, "p.json")
    assert [(ln.no, ln.heading) for ln in lines if ln.text == "保存期限"] == [(4, True)]
    fields = {f.name: f.location for f in analyse_notice(lines, "p.json")}
    assert fields["retention"] == "p.json:4" and fields["rights"] == "p.json:5"

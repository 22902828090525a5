# ruff: noqa: RUF001  (full-width Chinese punctuation in the patterns is intended)
"""Notice analysis: what a privacy notice, processing rules or impact assessment states.

``analyse_notice(lines, path)`` reads a document line by line, in Chinese and English, and
returns a ``DocumentField`` (name, ``path:line``, excerpt) for each element it finds:

- ``processor``: a company name (``... Ltd``/``Inc``/``GmbH``, ``...有限公司``) on a line that
  gives it a role (we, controller, operator, provided by; 处理者, 运营者, 我们, 本公司);
- ``contact``: an e-mail address, or a phone number or postal address next to a contact word;
- ``purposes``: a stated purpose of processing (``purpose of``, ``we use ... to/for``; 目的, 用于);
- ``data_categories``: a collection verb with a concrete category (face, image, location...;
  人脸, 图像, 位置...);
- ``retention``: a storage/deletion word with a period (``30 days``, 三十日) or a deletion
  rule (``deleted immediately after``, 验证后立即删除) - the word alone is not enough;
- ``rights``: at least two distinct rights (access, copy, correct, delete, withdraw, object,
  portability, close the account; 查阅, 复制, 更正, 删除, 撤回, 注销...);
- ``exercise_rights``: a right or request next to a channel (an e-mail, Settings, the app,
  customer service, a phone line, a time limit such as ``within 15 working days``);
- ``biometric``: a heading (or a whole ``biometric_notice``) about face or biometric data
  (人脸, 生物识别, face, biometric), or a stated separate notice;
- ``children``: rules for children under 14 (儿童, 不满十四周岁; children under 13/14, parents);
- ``cross_border``: a statement on transfer abroad (outside China/the EEA, overseas; 出境, 境外);
- ``algorithm``: how an AI model or algorithm treats people's data: an algorithm, model or
  feature word with what it does (``the model detects faces``; 提取人脸特征并进行比对, 算法识别).

``analyse_pia`` finds the sections of an impact assessment: ``purposes`` (legality, necessity),
``impact`` (on rights), ``risks`` (leak, tampering, loss) and ``measures`` (protection).
Matching is conservative: each field needs the text to state it, not merely use a word.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bystander.inspect.records import DocumentField

NOTICE_FIELDS = (
    "processor",
    "contact",
    "purposes",
    "data_categories",
    "retention",
    "rights",
    "exercise_rights",
    "biometric",
    "children",
    "cross_border",
    "algorithm",
)
PIA_FIELDS = ("purposes", "impact", "risks", "measures")
# Fields a heading alone may show (a section on it); the others need a sentence that states it.
_HEADING_OK = frozenset({"children", "cross_border"})
# Fields whose test needs no sentence (a biometric heading; an address or e-mail): any line.
_ANY_LINE = frozenset({"biometric", "contact"})
_EXCERPT = 200
_I = re.IGNORECASE


@dataclass(frozen=True, slots=True)
class TextLine:
    """One line of a document's text, with its line number in the source file."""

    no: int
    text: str
    heading: bool = False


def _re(pattern: str, flags: int = _I) -> Callable[[str], bool]:
    compiled = re.compile(pattern, flags)
    return lambda text: compiled.search(text) is not None


_NUM_ZH = r"[0-9０-９一二三四五六七八九十百两]+"
_EMAIL = _re(r"[\w.+\-]+@[\w\-]+(\.[\w\-]+)*\.[a-z]{2,}")
_COMPANY = _re(
    r"\b[A-Z][\w&.,\- ]{1,80}\b(Ltd|Limited|Inc|LLC|GmbH|Co\.|Corp|Corporation|Company|S\.A\.|"
    r"B\.V\.|AG|PLC|Pte)\b|[\u4e00-\u9fff（）()A-Za-z0-9]{2,40}(有限责任公司|有限公司|股份公司|集团)",
    0,
)
_ROLE = _re(
    r"\b(we|us|our|controller|processor|operator|operated by|provided by|responsible|"
    r"handler)\b|个人信息处理者|处理者|运营者|运营方|提供者|我们|本公司|由"
)
_PHONE = _re(r"(\+?\d[\d\- ()]{6,}\d)")
_CONTACT_WORD = _re(
    r"\b(contact|phone|tel|telephone|call|hotline|address)\b|联系|电话|客服|热线|地址"
)
_ADDRESS = _re(r"\b(address|registered office)\s*[:：]\s*\S|地址\s*[:：]\s*\S")

_PURPOSE = _re(
    r"\bpurposes?\b.{0,60}\b(process|collect|use|using|processing|collection)|"
    r"\b(process|collect|use|using|processing|collection)\b.{0,60}\bpurposes?\b|"
    r"\b(we|will)\s+(only\s+)?(use|process|collect)\b.{0,120}\b(to|for|in order to)\s+\w|"
    r"\bused\s+(only\s+)?(to|for)\s+\w|"
    r"(处理|收集|使用)[^。；;]{0,30}目的|目的[是为：:]|用于[^。；;]{2,}|为了[^。；;]{2,}"
)
_COLLECT = _re(
    r"\b(collect|collects|collected|process|processes|processed|gather|obtain|record|"
    r"categor(y|ies))\b|收集|处理|获取|采集|种类|类型|包括"
)
_CATEGORY_WORD = _re(
    r"\b(face|facial|images?|photos?|video|audio|voice|location|phone numbers?|e-?mail|"
    r"device identifiers?|IMEI|names?|biometric|fingerprints?|contacts?)\b|"
    r"人脸|面部|图像|照片|视频|音频|声音|语音|位置|手机号|电话号码|邮箱|设备标识|设备信息|姓名|生物识别|指纹"
)
_KEEP = _re(
    r"\b(retain|retained|retention|keep|kept|store|stored|storage|delete|deleted|erase|erased|"
    r"destroy|destroyed)\b|保存|存储|保留|留存|删除|销毁"
)
_PERIOD = _re(
    r"\b\d+\s*(hours?|days?|weeks?|months?|years?)\b|\b(one|two|three|six|seven|thirty|twelve)"
    r"\s+(hours?|days?|weeks?|months?|years?)\b|"
    r"\b(immediately|promptly)\s+(after|once|upon|when)\b|"
    r"\buntil\s+(you|your|the\s+(account|consent|subscription))\b|"
    r"\bwhen\s+you\s+(withdraw|delete|close|cancel)\b|"
    rf"{_NUM_ZH}\s*个?\s*(小时|天|日|周|月|年)|(立即|即时|及时)(删除|销毁)|"
    r"(后|之后|时)[^。；;]{0,8}(删除|销毁)"
)
_RIGHT_CONTEXT = _re(
    r"\bright(s)?\b|\byou\s+(can|may|have)\b|\bentitled\b|\brequest\b|权利|有权|可以|您可"
)
_RIGHT_KINDS = {
    "access": _re(r"\baccess\b|查阅|查询"),
    "copy": _re(r"\b(a\s+)?copy\b|复制"),
    "correct": _re(r"\b(correct|rectif\w*|update)\b|更正|补充"),
    "delete": _re(r"\b(delete|deletion|erase|erasure)\b|删除"),
    "withdraw": _re(r"\bwithdraw\w*\b|撤回"),
    "object": _re(r"\b(object|restrict\w*)\b|拒绝|限制"),
    "portability": _re(r"\bportab\w*\b|转移"),
    "close_account": _re(r"\b(close|cancel|delete)\s+(your\s+)?account\b|注销"),
}
_EXERCISE_VERB = _re(
    r"\bexercis\w*\b|\b(submit|make|send)\s+(us\s+)?(a\s+|your\s+)?(request|e-?mail)|"
    r"\brequests?\s+(to|for)\s+(access|delet|correct|cop|eras)|"
    r"\byou\s+(can|may)\s+(access|delete|correct|withdraw|erase|download|export)\b|"
    r"行使|提出[^。；;]{0,6}(申请|请求)|申请|(可以|可|可通过)[^。；;]{0,20}(查阅|复制|更正|删除|撤回|注销)"
)
_CHANNEL = _re(
    r"[\w.+\-]+@[\w\-]+\.[a-z]{2,}|\bsettings\b|\bin the app\b|\bthe app\b|\bcustomer service\b|"
    r"\bhotline\b|\bphone\b|\bonline form\b|\bwithin\s+\d+\s+(working\s+|business\s+)?days\b|"
    r"设置|个人中心|邮箱|邮件|电话|客服|热线|APP|App|应用内|在线|工作日内|天内|日内"
)
_BIOMETRIC = _re(r"\b(face|facial|biometric\w*|face recognition)\b|人脸|生物识别|面部识别|刷脸")
_SEPARATE = _re(r"\bseparate(ly)?\s+(notice|notify|inform)|单独告知|单独(的)?同意|专门(的)?告知")
_CHILDREN = _re(
    r"\b(children|child|minors?|kids)\b.{0,60}\b(under|below|younger than)\s+(the\s+age\s+of\s+)?"
    r"(13|14|thirteen|fourteen)\b|\bchildren'?s\s+(personal\s+)?(data|information)\b|"
    r"\bparent(al)?\s+(consent|or\s+guardian)\b|"
    r"儿童个人信息|儿童|未满十四周岁|不满十四周岁|不满\s*14\s*周岁|未满\s*14\s*周岁|未成年人"
)
_CROSS_BORDER = _re(
    r"\boutside\s+(of\s+)?(mainland\s+)?(china|the\s+(eea|eu|european\s+economic\s+area|prc))|"
    r"\babroad\b|\boverseas\b|\bcross-border\b|\binternational\s+transfers?\b|"
    r"\btransfer\w*\s+to\s+(other|third)\s+countr|出境|境外|跨境"
)
_ALGORITHM_WORD = _re(
    r"\b(algorithms?|AI|artificial intelligence|machine learning|neural networks?|models?|"
    r"features?|templates?|embeddings?)\b|算法|模型|人工智能|特征|神经网络|机器学习"
)
_ALGORITHM_ACTION = _re(
    r"\b(recogni[sz]\w*|identif\w*|detect\w*|analy[sz]\w*|compar\w*|match\w*|extract\w*|"
    r"infer\w*|estimat\w*|classif\w*)\b|识别|比对|分析|检测|提取|推断|判断|估计"
)
_PIA = {
    "purposes": _re(
        r"\b(purpose|necessity|necessary|legitima\w*|lawful\w*|legal basis)\b|目的|合法|正当|必要"
    ),
    "impact": _re(r"\bimpacts?\s+on\b|\bimpact\b.{0,40}\b(rights|individuals|interests)\b|影响"),
    "risks": _re(r"\brisks?\b|\bleak\w*|\bbreach\w*|\btamper\w*|\bloss\b|泄露|篡改|丢失|风险"),
    "measures": _re(
        r"\bmeasures?\b|\bsafeguards?\b|\bencrypt\w*|\baccess control\b|措施|加密|访问控制"
    ),
}


def _field(name: str, line: TextLine, path: str) -> DocumentField:
    text = " ".join(line.text.split())
    return DocumentField(name, f"{path}:{line.no}", text[:_EXCERPT])


def _first(lines: Sequence[TextLine], test: Callable[[TextLine], bool]) -> TextLine | None:
    return next((line for line in lines if test(line)), None)


def _both(a: Callable[[str], bool], b: Callable[[str], bool]) -> Callable[[TextLine], bool]:
    return lambda line: a(line.text) and b(line.text)


def _contact(line: TextLine) -> bool:
    text = line.text
    return _EMAIL(text) or _ADDRESS(text) or (_CONTACT_WORD(text) and _PHONE(text))


def _biometric(doc_type: str) -> Callable[[TextLine], bool]:
    def test(line: TextLine) -> bool:
        if not _BIOMETRIC(line.text):
            return False
        return line.heading or doc_type == "biometric_notice" or _SEPARATE(line.text)

    return test


def _rights(lines: Sequence[TextLine]) -> TextLine | None:
    """The line where a second distinct right is named (None if fewer than two)."""
    seen: set[str] = set()
    for line in lines:
        if not _RIGHT_CONTEXT(line.text):
            continue
        for kind, test in _RIGHT_KINDS.items():
            if kind not in seen and test(line.text):
                seen.add(kind)
        if len(seen) >= 2:
            return line
    return None


def _exercise(lines: Sequence[TextLine]) -> TextLine | None:
    for i, line in enumerate(lines):
        if not _CHANNEL(line.text):
            continue
        if _EXERCISE_VERB(line.text):
            return line
        before = lines[i - 1].text if i else ""
        if re.search(r"\bexercise\b|行使", before, _I):
            return line
    return None


def analyse_notice(
    lines: Sequence[TextLine], path: str, doc_type: str = "privacy_policy"
) -> tuple[DocumentField, ...]:
    """The notice elements found in ``lines`` (see the module docs), in ``NOTICE_FIELDS`` order."""
    tests: dict[str, Callable[[TextLine], bool]] = {
        "processor": _both(_COMPANY, _ROLE),
        "contact": _contact,
        "purposes": lambda line: _PURPOSE(line.text),
        "data_categories": _both(_COLLECT, _CATEGORY_WORD),
        "retention": _both(_KEEP, _PERIOD),
        "biometric": _biometric(doc_type),
        "children": lambda line: _CHILDREN(line.text),
        "cross_border": lambda line: _CROSS_BORDER(line.text),
        "algorithm": _both(_ALGORITHM_WORD, _ALGORITHM_ACTION),
    }
    body = [line for line in lines if not line.heading]
    found: list[DocumentField] = []
    for name in NOTICE_FIELDS:
        if name == "rights":
            hit = _rights(lines)
        elif name == "exercise_rights":
            hit = _exercise(lines)
        elif name in _ANY_LINE:
            hit = _first(lines, tests[name])
        else:
            hit = _first(body, tests[name])
            if hit is None and name in _HEADING_OK:
                hit = _first(lines, tests[name])
        if hit is not None:
            found.append(_field(name, hit, path))
    return tuple(found)


def analyse_pia(lines: Sequence[TextLine], path: str) -> tuple[DocumentField, ...]:
    """The impact-assessment sections found (``PIA_FIELDS``), preferring headings."""
    found: list[DocumentField] = []
    for name in PIA_FIELDS:
        test = _PIA[name]
        hit = next((ln for ln in lines if ln.heading and test(ln.text)), None)
        if hit is None:
            hit = next((ln for ln in lines if test(ln.text)), None)
        if hit is not None:
            found.append(_field(name, hit, path))
    return tuple(found)

"""Mandarin text normalisation: digits, dates, times, money, units and codes written out in Chinese characters.

This runs before pinyin lookup: pypinyin only reads Han characters, so "2024年5月1日" must become
"二零二四年五月一日" first. The rules are ordered from the most specific pattern (a phone number, a
date) to the most general (any number), and each rule's output has no digits left, so a later rule
never reads the same digits twice. Latin letters are left for the front-end, which spells them.
"""

import re
import unicodedata

DIGITS = "零一二三四五六七八九"
# Phone numbers, codes and room numbers read 1 as yao1 (幺) so it is not confused with 七 qi1.
PHONE_DIGITS = "零幺二三四五六七八九"
# (value of the 4-digit group, its name) from the largest down: Chinese counts in groups of 10^4.
GROUP_NAMES = ("万亿", "亿", "万", "")
PLACE_NAMES = ("千", "百", "十", "")
# Longer digit strings are account numbers or codes, not amounts: read digit by digit.
MAX_CARDINAL_DIGITS = 16

# Full-width marks that stay as they are: they are clause punctuation, and NFKC would turn "，" into
# "," (same meaning, but keeping them makes the normalised text read like the input).
KEPT_FULL_WIDTH = frozenset("，！？；：、。（）")

# Words after which "2" is read 两 (两个, 两点, 两公斤) rather than 二 (二月, 二号, 第二).
MEASURE_WORDS = (
    "个", "只", "条", "本", "张", "件", "位", "名", "次", "天", "年", "周", "岁", "元", "块", "角", "毛",
    "斤", "公斤", "千克", "克", "米", "公里", "千米", "厘米", "毫米", "升", "毫升", "吨", "倍", "辆",
    "台", "部", "种", "家", "份", "杯", "碗", "双", "对", "遍", "句", "分钟", "小时", "秒", "点", "分",
    "万", "千", "百", "亿", "星期", "套", "根", "棵", "头", "匹", "座", "栋", "间", "所", "把", "支",
    "片", "颗", "粒", "节", "首", "篇", "段", "门", "架", "艘", "盘", "瓶", "包", "盒", "袋", "箱",
    "声", "下", "回", "场", "项", "道", "封", "笔", "股", "群", "批", "届", "口", "人", "美元", "欧元",
    "英镑", "日元", "趟", "顿", "幅",
)

# ...but not these, which start like one: 二年级 (second grade), 二分之一.
NOT_MEASURE_WORDS = ("年级", "分之")

# Unit abbreviations after a number -> how they are read. Data sizes keep their letters: Chinese
# speakers say "一百GB" with the letter names, which the front-end spells.
UNITS = {
    "km/h": "千米每小时",
    "m/s": "米每秒",
    "kWh": "千瓦时",
    "kW": "千瓦",
    "mAh": "毫安时",
    "kg": "千克",
    "KG": "千克",
    "mg": "毫克",
    "g": "克",
    "km": "千米",
    "KM": "千米",
    "cm": "厘米",
    "mm": "毫米",
    "m": "米",
    "ml": "毫升",
    "mL": "毫升",
    "L": "升",
    "°C": "摄氏度",
    "°F": "华氏度",
    "°": "度",
    "kHz": "千赫兹",
    "MHz": "兆赫兹",
    "GHz": "吉赫兹",
    "Hz": "赫兹",
    "ms": "毫秒",
    "min": "分钟",
    "h": "小时",
    "s": "秒",
    "t": "吨",
    "W": "瓦",
    "V": "伏",
    "TB": "TB",
    "GB": "GB",
    "MB": "MB",
    "KB": "KB",
}
# Units read like measure words, so 2 before them is 两 (两千克, 两小时).
MEASURE_UNITS = frozenset({"千克", "克", "毫克", "千米", "米", "厘米", "毫米", "毫升", "升", "分钟", "小时", "秒",
                           "毫秒", "吨", "千瓦", "瓦", "千瓦时"})

# Superscript powers would become plain digits under NFKC ("m²" -> "m2"): replaced first.
POWER_UNITS = {"km²": "平方千米", "cm²": "平方厘米", "m²": "平方米", "cm³": "立方厘米", "m³": "立方米"}

CURRENCIES = {"¥": "元", "$": "美元", "€": "欧元", "£": "英镑"}

# Words after which digits are a code read digit by digit (电话 13812345678, 邮编 100080).
CODE_KEYWORDS = (
    "电话", "手机", "号码", "热线", "邮编", "编号", "验证码", "密码", "账号", "帐号", "卡号", "工号",
    "学号", "尾号", "单号", "房间", "房号", "代码", "拨打", "致电", "车牌", "QQ", "qq", "ID",
)

NUMBER = r"\d+(?:\.\d+)?"
# A minus sign only when it is not between two words/numbers ("3-5" is a range, "GPT-4" a name).
SIGN = r"(?:(?<![A-Za-z\d])(-))?"
THOUSANDS = re.compile(r"(?<![\d.])\d{1,3}(?:,\d{3})+(?![\d,])")
CODE_AFTER_KEYWORD = re.compile(
    "(" + "|".join(CODE_KEYWORDS) + r")([号码是为:：\s]{0,3})(\+?\d[\d\- ]*\d|\d)(?![\d.])")
MOBILE = re.compile(r"(?<![\d])(?:\+?86[\s-]?)?1[3-9]\d{9}(?!\d)")
LANDLINE = re.compile(r"(?<![\d-])0\d{2,3}-\d{7,8}(?![\d-])")
SERVICE_NUMBER = re.compile(r"(?<![\d-])[48]00-?\d{3}-?\d{4}(?![\d-])")
DATE = re.compile(r"(?<!\d)(\d{4})(?:年(\d{1,2})月(\d{1,2})([日号])?|([-/.])(\d{1,2})\5(\d{1,2}))(?![\d.])")
YEAR = re.compile(r"(?<!\d)(\d{4})(?=\s?年)")
TIME = re.compile(r"(?<![\d:])(\d{1,2}):(\d{2})(?::(\d{2}))?(?![\d:])")
# What the time rule leaves: a score or ratio, "3:2" 三比二, "1:100" 一比一百.
RATIO = re.compile(r"(?<![\d:.])(\d+)[:：](\d+)(?![\d:]|\.\d)")
VERSION = re.compile(r"(?<![\d.])\d+(?:\.\d+){2,}(?![\d.])")
PERCENT = re.compile(SIGN + "(" + NUMBER + r")\s?([%‰])")
MONEY = re.compile(r"([¥$€£])\s?" + SIGN + "(" + NUMBER + ")")
UNIT_NAMES = "|".join(re.escape(unit) for unit in sorted(UNITS, key=len, reverse=True))
RANGE = re.compile("(" + NUMBER + r")\s?[-~～–—]\s?(" + NUMBER + r")(?:\s?(" + UNIT_NAMES + r")(?![A-Za-z]))?(?![\d.])")
UNIT = re.compile(SIGN + "(" + NUMBER + r")\s?(" + UNIT_NAMES + r")(?![A-Za-z])")
FRACTION = re.compile(r"(?<![\d/])(\d+)/(\d+)(?![\d/])")
# A Latin code with digits in it ("MP3", "5G", "1080p"): the digits are read one by one.
LATIN_CODE = re.compile(r"(?<![A-Za-z\d])(?=[A-Za-z\d]*[A-Za-z])(?=[A-Za-z\d]*\d)[A-Za-z\d]+(?![A-Za-z\d])")
PLAIN_NUMBER = re.compile(SIGN + r"(\d+)(?:\.(\d+))?")
DIGIT_RUN = re.compile(r"\d+")
# Web and mail addresses: "example.com" 点, "a@b" 艾特 (as Chinese speakers say them).
WEB_DOT = re.compile(r"(?<=[A-Za-z\d])\.(?=[A-Za-z])")
AT_SIGN = re.compile(r"(?<=[A-Za-z\d])@(?=[A-Za-z\d])")


def normalize_mandarin(text: str) -> str:
    """Return text with every digit and unit written in Chinese characters, half-width Latin letters."""
    for power, spoken in POWER_UNITS.items():
        text = text.replace(power, spoken)
    text = to_half_width(text)
    text = THOUSANDS.sub(lambda match: match.group(0).replace(",", ""), text)
    text = CODE_AFTER_KEYWORD.sub(lambda m: m.group(1) + m.group(2) + read_digits(m.group(3), phone=True), text)
    text = MOBILE.sub(lambda match: read_digits(match.group(0), phone=True), text)
    text = LANDLINE.sub(lambda match: read_digits(match.group(0), phone=True), text)
    text = SERVICE_NUMBER.sub(lambda match: read_digits(match.group(0), phone=True), text)
    text = DATE.sub(_date, text)
    text = YEAR.sub(lambda match: read_digits(match.group(1)), text)
    text = TIME.sub(_time, text)
    text = RATIO.sub(lambda match: read_number(match.group(1)) + "比" + read_number(match.group(2)), text)
    text = VERSION.sub(lambda match: "点".join(read_number(part) for part in match.group(0).split(".")), text)
    text = PERCENT.sub(_percent, text)
    text = MONEY.sub(_money, text)
    text = RANGE.sub(_range, text)
    text = UNIT.sub(_unit, text)
    text = FRACTION.sub(lambda match: read_number(match.group(2)) + "分之" + read_number(match.group(1)), text)
    text = LATIN_CODE.sub(lambda match: DIGIT_RUN.sub(lambda run: read_digits(run.group(0)), match.group(0)), text)
    text = PLAIN_NUMBER.sub(_plain_number, text)
    text = WEB_DOT.sub("点", text)
    text = AT_SIGN.sub("艾特", text)
    return text


def to_half_width(text: str) -> str:
    """Full-width letters and digits (ＡＢＣ１２３) as ASCII, compatibility forms (℃, ㎞) spelled out.

    Control and zero-width characters go; Chinese clause marks stay as they are."""
    pieces = []
    for char in text:
        if char in KEPT_FULL_WIDTH:
            pieces.append(char)
            continue
        if char in "\n\t":
            pieces.append(char)
            continue
        if unicodedata.category(char) in ("Cc", "Cf", "Cs", "Co", "Cn"):
            continue
        if char == "\u3000":
            pieces.append(" ")
            continue
        pieces.append(unicodedata.normalize("NFKC", char))
    return "".join(pieces).replace("\u2044", "/")


def cardinal(value: int) -> str:
    """A whole number 0 <= value < 10**16 in Chinese: 10005 一万零五, 110 一百一十, 2000 两千."""
    if value == 0:
        return DIGITS[0]
    digits = f"{value:016d}"
    groups = [int(digits[start:start + 4]) for start in range(0, 16, 4)]
    pieces: list[str] = []
    gap = False  # a zero group (or leading zeros) since the last group read
    for group, name in zip(groups, GROUP_NAMES):
        if group == 0:
            gap = bool(pieces)
            continue
        if pieces and (gap or group < 1000):
            pieces.append(DIGITS[0])
        leading = not pieces
        if group == 2 and name:
            pieces.append("两" + name)  # 两万, 两亿
        else:
            pieces.append(_read_group(group, leading) + name)
        gap = False
    return "".join(pieces)


def _read_group(group: int, leading: bool) -> str:
    """One group of up to four digits: 1010 一千零一十; a leading 10-19 drops the 一 (十五, 十万)."""
    if leading and 10 <= group <= 19:
        return "十" + (DIGITS[group - 10] if group > 10 else "")
    pieces = []
    zero_pending = False
    for digit, place in zip(f"{group:04d}", PLACE_NAMES):
        if digit == "0":
            zero_pending = bool(pieces)
            continue
        if zero_pending:
            pieces.append(DIGITS[0])
            zero_pending = False
        name = "两" if digit == "2" and place == "千" else DIGITS[int(digit)]
        pieces.append(name + place)
    return "".join(pieces)


def read_digits(digits: str, phone: bool = False) -> str:
    """Each digit on its own (二零二四); phone=True reads 1 as 幺. Other characters are dropped."""
    names = PHONE_DIGITS if phone else DIGITS
    return "".join(names[int(char)] for char in digits if char.isdigit())


def read_number(number: str, liang: bool = False) -> str:
    """An integer or decimal as written ("3.14" 三点一四); liang=True reads a lone 2 as 两."""
    whole, _, fraction = number.partition(".")
    if len(whole) > 1 and whole.startswith("0") or len(whole) > MAX_CARDINAL_DIGITS:
        spoken = read_digits(whole)  # "007", account numbers
    else:
        value = int(whole)
        spoken = "两" if liang and value == 2 and not fraction else cardinal(value)
    if fraction:
        spoken += "点" + read_digits(fraction)
    return spoken


def _before_measure(text: str, position: int) -> bool:
    """True when a measure word follows (after optional spaces): 2 is then read 两."""
    rest = text[position:position + 8].lstrip(" ")
    return rest.startswith(MEASURE_WORDS) and not rest.startswith(NOT_MEASURE_WORDS)


def _after_ordinal(text: str, position: int) -> bool:
    return text[max(0, position - 1):position] == "第"


def _date(match: re.Match) -> str:
    year = match.group(1)
    month, day, day_word = match.group(2), match.group(3), match.group(4) or "日"
    if month is None:
        month, day = match.group(6), match.group(7)
    if not (1 <= int(month) <= 12 and 1 <= int(day) <= 31):
        return match.group(0)  # not a date: later rules read the numbers
    return read_digits(year) + "年" + cardinal(int(month)) + "月" + cardinal(int(day)) + day_word


def _time(match: re.Match) -> str:
    hour, minute, second = int(match.group(1)), int(match.group(2)), match.group(3)
    if hour > 24 or minute > 59 or (second is not None and int(second) > 59):
        return match.group(1) + "比" + match.group(2)  # a score or ratio, "3:25"
    spoken = ("两" if hour == 2 else cardinal(hour)) + "点"
    if minute == 0 and second is None:
        return spoken + "整"
    spoken += ("零" if minute < 10 else "") + cardinal(minute) + "分"
    if second is not None:
        spoken += ("零" if int(second) < 10 else "") + cardinal(int(second)) + "秒"
    return spoken


def _percent(match: re.Match) -> str:
    sign = "负" if match.group(1) else ""
    return sign + ("百分之" if match.group(3) == "%" else "千分之") + read_number(match.group(2))


def _money(match: re.Match) -> str:
    sign = "负" if match.group(2) else ""
    return sign + read_number(match.group(3), liang=True) + CURRENCIES[match.group(1)]


def _range(match: re.Match) -> str:
    """3-5个 三到五个, 10~20 十到二十, 2-3kg 两到三千克."""
    unit = UNITS[match.group(3)] if match.group(3) else ""
    if unit:
        liang = unit in MEASURE_UNITS
    else:
        liang = _before_measure(match.string, match.end()) and not _after_ordinal(match.string, match.start())
    return read_number(match.group(1), liang) + "到" + read_number(match.group(2), liang) + unit


def _unit(match: re.Match) -> str:
    sign = "负" if match.group(1) else ""
    unit = UNITS[match.group(3)]
    return sign + read_number(match.group(2), liang=unit in MEASURE_UNITS) + unit


def _plain_number(match: re.Match) -> str:
    sign = "负" if match.group(1) else ""
    whole, fraction = match.group(2), match.group(3)
    liang = _before_measure(match.string, match.end()) and not _after_ordinal(match.string, match.start())
    return sign + read_number(whole + ("." + fraction if fraction else ""), liang)

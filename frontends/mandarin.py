"""Mandarin front-end: text -> clauses -> Baker (CSMSC) phones -> FastSpeech2 phone ids.

The Baker voice was trained on sequences like "sil c e4 #0 sh iii4 #0 ^ uen2 #0 b en3 sil" + eos
(测试文本): each syllable is its initial ("^" when it has none) and its final with the tone as
spoken (1-4, 5 = neutral), "#0" between syllables, "#3" at a comma-type pause inside a clause,
"sil" at both ends. Baker's labels are surface tones, so sandhi is applied here:

- 一: yi1 alone, at the end of a word (统一, 星期一), as an ordinal or inside a number (第一, 十一,
  一九九九, 一点五), in dates (一月, 五月一日, 一号) and before 楼; yi5 between a reduplicated verb (看一看);
  otherwise yi2 before a 4th (or neutral) tone (一定, 一个) and yi4 before tones 1-3 (一天, 一百).
- 不: bu5 between the two halves of an A-not-A question (是不是, 好不好); bu2 before a 4th tone (不是);
  otherwise bu4. A neutral 不 from the dictionary (差不多, 对不起) stays neutral.
- Third tone: words come from forward maximum matching over pypinyin's phrase dictionary plus
  LEXICON below. Inside a word, 3-3 becomes 2-3; a word of three third tones is read by its
  structure: 2+1 (展览|馆) -> 2 2 3, 1+2 (小|老虎) -> 3 2 3; longer words go by two-syllable feet.
  Then one pass left to right over the whole clause turns every third tone still followed by a
  third tone into a second tone, so a chain of one-syllable words rises on all but the last
  (我|也|有 -> wo2 ye2 you3) while a word of two keeps the syllable before it low
  (我|很好 -> wo3 hen2 hao3, 我|也|很好 -> wo2 ye3 hen2 hao3).
pypinyin's own ToneSandhiMixin was evaluated and is not used: it works inside one pypinyin word
only (我很好, 一本书 and 展览馆 get no sandhi) and misreads 是不是 (bu2), 一月 (yi2), 看一看 (yi1)
and 十一个 (yi2).

Latin letters inside Chinese text are spelled with the Mandarin names of the letters (LETTER_NAMES,
written in pinyin the voice knows), digits in Latin codes digit by digit. We spell rather than hand
the word to the English voice because that voice is a separate pipeline at a different sample rate
(Piper 22050 Hz vs Baker 24000 Hz): splicing its audio in means resampling and a second acoustic
model per request. Routing Latin runs to the English voice is future work.
"""

import functools
import logging
import math
import tempfile
import re
import unicodedata
from dataclasses import dataclass
from typing import Iterator

from pypinyin import Style, lazy_pinyin
from pypinyin.constants import PHRASES_DICT

from frontends import NothingToSpeak
from frontends.english import Clause
from frontends.language import HAN
from frontends.mandarin_numbers import normalize_mandarin

LOGGER = logging.getLogger(__name__)

SILENCE = "sil"
SYLLABLE_BREAK = "#0"
PAUSE_BREAK = "#3"  # Baker's label for the pause at a comma inside a sentence
EOS = "eos"
ERHUA = "er5"
NO_INITIAL = "^"

DEFAULT_MAX_CLAUSE_CHARS = 40  # syllables: Baker reads ~4-5 a second, the model stops at 2048 frames (~25 s)
# A first clause only a little over the first-clause length is left whole.
FIRST_CLAUSE_SLACK = 2
FIRST_CLAUSE_SYLLABLES_PER_WORD = 1.5   # first_clause_words counts English words; a Mandarin syllable is shorter
FIRST_CLAUSE_WINDOW = 4                 # a first-clause cut may land this many syllables from the target
FIRST_CLAUSE_MIN_TAIL = 3               # ... and must leave at least this many for the next clause
# Words (whole jieba words, mostly single characters) that lean on what follows: prepositions,
# conjunctions, adverbs, measure words; never end a first clause on them.
LEANS_ON_NEXT = frozenset("的地得和与及或但而并在把被就都也还又从向对给是很最更太不没个些到往于跟同为让叫") | {
    "一个", "这个", "那个", "一些", "因为", "所以", "但是", "如果", "虽然", "而且", "或者", "还是", "已经", "正在"}
STRUCTURAL_PARTICLES = frozenset("的地得")   # 我们的, 慢慢地: the modified word follows
# ... nor right before these, which belong to the word before them.
LEANS_ON_PREVIOUS = frozenset("了着过们的地得吗呢吧啊完见住掉懂")   # particles, result complements
COMPLEMENTS = ("一下", "起来", "下来", "下去", "出来", "出去", "进来", "回来", "过来", "上来")
SENTENCE_MARKS = frozenset("。！？!?.…\n")
# Where the raw text may be cut before normalising: full-width stops and line ends never sit inside
# a number, date, time or address the normaliser reads (ASCII "." and "?" can: 3.5, a.com/?q=1).
FULL_STOP_END = re.compile(r"(?<=[。！？\n])")
CLAUSE_MARKS = frozenset("，、,;；:：—")
# A long clause is preferably cut after one of these (particles, conjunctions, prepositions).
BREAK_AFTER = frozenset("的了着过地得和与及或但而并在把被就都也还又从向对给是")
MAX_WORD_CHARS = 8
LEXICON_FREQUENCY = 200000    # jieba frequency for our words: high enough to win over its own splits
MARK = re.compile("[" + re.escape("".join(sorted(SENTENCE_MARKS | CLAUSE_MARKS))) + "]")

LATIN = re.compile("[A-Za-z]")
PINYIN_SYLLABLE = re.compile(r"^([a-zü]+)([1-5])$")
# pypinyin readings the Baker table lacks -> the nearest syllable it has (嗯 n2 -> en2).
SPECIAL_SYLLABLES = {"n": "en", "ng": "en", "m": "mu", "hm": "hen", "hng": "heng", "ê": "ei"}

# English letter names as Mandarin speakers say them, in pinyin syllables of the Baker table.
LETTER_NAMES = {
    "a": "ei1", "b": "bi4", "c": "xi1", "d": "di4", "e": "yi4", "f": "ai2 fu5", "g": "ji4",
    "h": "ei1 qu1", "i": "ai4", "j": "jie4", "k": "kei4", "l": "ai2 le5", "m": "ai2 mu5", "n": "en1",
    "o": "ou1", "p": "pi1", "q": "ke1 you1", "r": "a1 er5", "s": "ai2 si5", "t": "ti4", "u": "you1",
    "v": "wei1", "w": "da2 bu5 liu5", "x": "ai2 ke4 si5", "y": "wai1", "z": "zei4",
}

# Readings pypinyin gets wrong (its data, or its character default where the phrase is missing).
READINGS = {
    "长得": "zhang3 de5",
    "对不起": "dui4 bu5 qi3",
    "了不起": "liao3 bu5 qi3",
    "看不起": "kan4 bu5 qi3",
    "来不及": "lai2 bu5 ji2",
    "受不了": "shou4 bu5 liao3",
    "大夫": "dai4 fu5",
    "流血": "liu2 xue4",
    "结实": "jie1 shi5",
    "为人民服务": "wei4 ren2 min2 fu2 wu4",  # not 为人 wei2 ren2 "conduct oneself"
}
# Common words whose last syllable is neutral (轻声) in standard Mandarin; pypinyin gives it a full tone.
NEUTRAL_LAST = frozenset({
    "知道", "喜欢", "衣服", "时候", "地方", "告诉", "明白", "休息", "事情", "认识", "漂亮", "清楚",
    "舒服", "关系", "麻烦", "客气", "眼睛", "耳朵", "豆腐", "窗户", "爸爸", "妈妈", "哥哥", "姐姐",
    "弟弟", "妹妹", "奶奶", "爷爷", "叔叔", "伯伯", "舅舅", "姑姑", "婆婆", "宝宝", "娃娃", "谢谢",
    "聪明", "干净", "热闹", "凉快", "朋友", "先生", "东西", "学生", "名字", "姑娘", "丈夫", "媳妇",
    "商量", "打扮", "收拾", "打听", "师傅", "脑袋", "嘴巴", "头发", "早上", "晚上", "答应", "故事",
    "生意", "消息", "葡萄", "萝卜", "玻璃", "月亮", "太阳", "粮食", "衣裳", "钥匙", "行李", "部分",
    "打算", "合同", "规矩", "笑话", "家伙", "队伍", "糊涂", "马虎", "委屈", "折腾", "琢磨", "骨头",
    "舌头", "枕头", "馒头", "念头", "这么", "多么", "力气", "困难", "主意", "算盘", "庄稼", "芝麻",
    "首饰", "眉毛", "胳膊", "指甲", "巴掌", "屁股", "风筝", "云彩", "窝囊", "称呼", "应付",
})
# Two-syllable third-tone words (and a few others) pypinyin's phrase table lacks because their
# reading is regular; they give the third-tone rule its word structure (小|老虎, 展览|馆).
THIRD_TONE_WORDS = frozenset({
    "你好", "老虎", "展览", "保险", "水果", "所以", "可以", "理解", "管理", "选举", "勇敢", "手表",
    "小姐", "老板", "厂长", "领导", "演讲", "友好", "美好", "起码", "洗澡", "雨伞", "总理", "处理",
    "早点", "洗脸", "表演", "古老", "广场", "海岛", "粉笔", "产品", "好久", "许久", "小组", "小鸟",
    "老鼠", "语法", "蚂蚁", "口语", "奶粉", "导演", "辅导", "奖品", "采访", "影响", "鼓舞", "舞蹈",
    "打扫", "打扰", "考古", "手指", "水井", "首长", "检讨", "指导", "可口", "米粉", "买米", "往往",
    "本领", "主管", "党委", "北海", "远景", "很好", "演讲", "减少", "旅馆", "展览馆", "保管",
    "水鸟", "水饺", "饼干", "品种", "打鼓", "粉饼", "岛屿", "反省", "总统", "卡尔", "考场", "海口",
})
# Words ending in 一 where it keeps tone 1 whatever follows (统一了, 星期一见).
YI_FINAL_WORDS = frozenset({
    "统一", "唯一", "万一", "之一", "同一", "单一", "专一", "划一", "合一", "归一", "初一", "周一",
    "星期一", "礼拜一", "第一", "逐一",
})
# Words with 得 read de2 (got, obtain), kept whole so the particle rule leaves them alone.
DE2_WORDS = frozenset({
    "得到", "得出", "得分", "得以", "得知", "得奖", "得意", "得失", "得益", "得手", "赢得", "博得",
    "所得", "心得", "得病", "得体", "得力", "得当", "得逞", "求得", "不得", "得罪", "难得", "获得",
    "取得", "得主",
})
LEXICON = frozenset(READINGS) | NEUTRAL_LAST | THIRD_TONE_WORDS | YI_FINAL_WORDS | DE2_WORDS

# Characters that make 一 part of a number: it then keeps tone 1 (十一, 一九九九, 一一).
NUMERAL_CHARS = frozenset("零〇一二三四五六七八九十两幺")
YI_BIG_UNITS = frozenset("百千万亿")
NUMBER_CHARS = NUMERAL_CHARS | YI_BIG_UNITS | frozenset("点")
YI_TONE1_BEFORE = frozenset("月号楼")
YI_TONE1_AFTER = frozenset("第月")
YI_TONE1_AFTER_DIAN = frozenset("整钟")  # 一点整, 一点钟: one o'clock, not 一点 "a little"
# Before 得 these make it the modal dei3 (我得走了); after other characters it is the particle de5.
DEI_AFTER = frozenset("我你他她它您咱们就还也都总又可必须非")
# 只 is the measure word zhi1 after a numeral or demonstrative (两只猫), unless an adverb use follows.
ZHI1_AFTER = NUMERAL_CHARS | frozenset("几这那每哪半")
ZHI3_BEFORE = frozenset("是有要能会好不在得")
# Adverbs that 地 follows as the particle de5 (认真地听); a reduplication (慢慢地) does too.
DI_ADVERBS = (
    "认真", "高兴", "快乐", "努力", "仔细", "大声", "不断", "逐渐", "热情", "积极", "不停", "飞快",
    "突然", "愉快", "开心", "耐心", "小心", "明显", "迅速", "激动", "兴奋", "轻松", "坚定", "自然",
    "安静", "悄然", "默默", "深情", "主动", "尽情", "好奇", "平静", "温柔", "幸福", "痛苦", "紧张",
)
# Words in which 儿 is a full syllable (女儿 nv3 er2), not the r-suffix of the syllable before it.
FULL_ER_WORDS = (
    "女儿", "婴儿", "孤儿", "幼儿", "胎儿", "健儿", "宠儿", "男儿", "少儿", "乳儿", "育儿", "托儿",
    "患儿", "孙儿", "侄儿", "新生儿", "混血儿", "幸运儿", "弄潮儿", "儿儿",
)
# Second characters of words that begin with 儿 (儿子, 儿童): such a 儿 is a full syllable too.
ER_WORD_STARTS = frozenset("子童女科时歌媳戏孙")


@dataclass
class _Syllable:
    """One spoken syllable while rules are applied: its pinyin without tone, and the tone."""

    char: str  # the Han character, or the Latin letter it spells
    pinyin: str
    tone: int
    word: int  # index of the word it belongs to (third-tone sandhi works by words)
    fixed: bool = False  # a letter name: no sandhi
    erhua: bool = False  # followed by a 儿 read as its r-suffix


class MandarinFrontend:
    """Turns Mandarin text into Baker phone ids, one clause at a time."""

    def __init__(self, symbol_to_id: dict[str, int], pinyin_dict: dict[str, list[str]],
                 max_clause_chars: int = DEFAULT_MAX_CLAUSE_CHARS) -> None:
        self.symbol_to_id = symbol_to_id
        self.pinyin_dict = {pinyin: tuple(parts) for pinyin, parts in pinyin_dict.items()}
        self.max_clause_chars = max_clause_chars
        missing = sorted(symbol for symbol in self.output_symbols() if symbol not in symbol_to_id)
        if missing:
            raise ValueError(f"voice phone table lacks symbols the Mandarin front-end emits: {missing}")
        unknown = sorted({syllable[:-1] for name in LETTER_NAMES.values() for syllable in name.split()
                          if syllable[:-1] not in self.pinyin_dict})
        if unknown:
            raise ValueError(f"pinyin table lacks letter-name syllables: {unknown}")

    def output_symbols(self) -> set[str]:
        """Every phone the front-end can emit with this pinyin table."""
        symbols = {SILENCE, SYLLABLE_BREAK, PAUSE_BREAK, EOS, ERHUA}
        for initial, final in self.pinyin_dict.values():
            symbols.add(initial)
            symbols.update(final + tone for tone in "12345")
        return symbols

    def clauses(self, text: str, first_clause_words: int | None = None) -> Iterator[Clause]:
        """Yield clauses as each is ready; raises NothingToSpeak up front.

        first_clause_words: if set, cut a long first clause after about that many syllables, at a
        word boundary (after a particle if one is near), so the first audio comes quickly.
        """
        # A Han character with a reading or a Latin letter stays speakable after normalisation; only
        # text without one needs the whole text normalised (~2.3 ms per 1000 characters) to know.
        if not self._has_speakable(text) and not self._has_speakable(normalize_mandarin(text)):
            raise NothingToSpeak(f"no speakable Mandarin in the text {text[:40]!r}")
        return self._generate(text, first_clause_words)

    def _generate(self, text: str, first_clause_words: int | None) -> Iterator[Clause]:
        """Normalise the text one full stop at a time, so the first clause never waits for the rest."""
        first = True
        sentences = (sentence for piece in FULL_STOP_END.split(text) if piece
                     for sentence in split_sentences(normalize_mandarin(piece)))
        for sentence in sentences:
            clause_texts = []
            for clause in sentence:
                clause_texts.extend(self._split_long(clause, self.max_clause_chars))
            if first and first_clause_words:
                clause_texts = self._first_clause_short(clause_texts, first_clause_words)
                groups = [clause_texts[:1]] + self._group(clause_texts[1:])
            else:
                groups = self._group(clause_texts)
            for group in groups:
                clause_text = "".join(group)
                phonemes = self.phonemize(clause_text)
                if not phonemes:
                    continue
                first = False
                yield Clause(text=clause_text, phonemes=phonemes, ids=self.to_ids(phonemes))

    def phonemize(self, clause_text: str) -> str:
        """The Baker phone string for one clause ("sil ... sil"), or "" if nothing in it is speakable.

        Punctuation inside the clause (grouped short clauses) becomes the pause label #3."""
        segments = []
        for segment in MARK.split(clause_text):
            phones = []
            for syllable in self.syllables(segment):
                if phones:
                    phones.append(SYLLABLE_BREAK)
                phones.extend(self._syllable_phones(syllable))
            if phones:
                segments.append(" ".join(phones))
        if not segments:
            return ""
        return f"{SILENCE} " + f" {PAUSE_BREAK} ".join(segments) + f" {SILENCE}"

    def to_ids(self, phonemes: str) -> list[int]:
        """Phone ids for a phone string, with the eos id the model expects at the end."""
        ids = []
        for symbol in phonemes.split():
            if symbol not in self.symbol_to_id:
                LOGGER.warning("phone %r not in the voice's table; skipped", symbol)
                continue
            ids.append(self.symbol_to_id[symbol])
        ids.append(self.symbol_to_id[EOS])
        return ids

    def syllables(self, segment: str) -> list[_Syllable]:
        """The syllables of a punctuation-free piece of text, with surface tones (sandhi applied)."""
        words = _words(segment)
        syllables = []
        for word_index, word in enumerate(words):
            if LATIN.match(word):
                for part in LETTER_NAMES[word.lower()].split():
                    syllables.append(_Syllable(word, part[:-1], int(part[-1]), word_index, fixed=True))
                continue
            for char, reading in zip(word, _word_readings(word)):
                parsed = self._parse(reading)
                if parsed is None:
                    LOGGER.debug("no Baker syllable for %r (%r); skipped", char, reading)
                    continue
                syllables.append(_Syllable(char, parsed[0], parsed[1], word_index))
        syllables = _merge_erhua(syllables, words)
        _particles(syllables, words)
        _yi_bu(syllables, words)
        _third_tone(syllables, words)
        return syllables

    def _parse(self, reading: str) -> tuple[str, int] | None:
        match = PINYIN_SYLLABLE.match(reading.replace("ü", "v"))
        if match is None:
            return None
        pinyin, tone = match.group(1).replace("ü", "v"), int(match.group(2))
        pinyin = SPECIAL_SYLLABLES.get(pinyin, pinyin)
        if pinyin not in self.pinyin_dict:
            return None
        return pinyin, tone

    def _syllable_phones(self, syllable: _Syllable) -> list[str]:
        initial, final = self.pinyin_dict[syllable.pinyin]
        phones = [initial, f"{final}{syllable.tone}"]
        if syllable.erhua:
            phones.append(ERHUA)
        return phones

    def _has_speakable(self, text: str) -> bool:
        for char in text:
            if _latin_letter(char):
                return True
            if HAN.match(char) and self._parse(_word_readings(char)[0]) is not None:
                return True
        return False

    def _weight(self, text: str) -> int:
        """How many syllables the text will be spoken as (a clause's length)."""
        return sum(_word_weight(word) for word in _words(text))

    def _split_long(self, clause: str, limit: int) -> list[str]:
        """Cut a clause longer than limit syllables into nearly even pieces at word boundaries,
        preferably just after a particle or conjunction."""
        total = self._weight(clause)
        if total <= limit:
            return [clause]
        pieces = math.ceil(total / limit)
        target = math.ceil(total / pieces)
        return _cut(clause, target, prefer_within=4, max_span=limit)

    def _first_clause_short(self, clauses: list[str], first_clause_words: int) -> list[str]:
        """Cut a long first clause early so the first synthesis run is quick, where a listener hears
        no break: at a word boundary, not after a word that leans on the next one (的, 在, 和 ...),
        with a few syllables left after it; no such place near the target means no cut.

        Why these rules: each clause is synthesised as a whole utterance, so the word before the cut
        gets utterance-final prosody; measured with Whisper, cuts after 的 or inside a word (路|口)
        were misheard (桥的 -> 桥灯, 上海 -> 伤海) where the uncut sentence was not."""
        target = round(first_clause_words * FIRST_CLAUSE_SYLLABLES_PER_WORD)
        if not clauses or self._weight(clauses[0]) <= target + FIRST_CLAUSE_SLACK:
            return list(clauses)
        first = clauses[0]
        total = self._weight(first)
        boundaries = word_boundaries(first)
        count = 0
        best: tuple[int, int] | None = None          # (distance from target, cut offset)
        for end_char, weight, last_char in _word_spans(first, self.max_clause_chars):
            count += weight
            following = first[end_char:end_char + 1]
            word = boundaries.get(end_char)
            if word is None or word in LEANS_ON_NEXT or word[-1] in STRUCTURAL_PARTICLES \
                    or following in LEANS_ON_PREVIOUS or first.startswith(COMPLEMENTS, end_char):
                continue
            if total - count < FIRST_CLAUSE_MIN_TAIL:
                continue
            if target - FIRST_CLAUSE_WINDOW <= count <= target + FIRST_CLAUSE_WINDOW:
                if best is None or abs(count - target) < best[0]:
                    if self._ends_in_neutral_tone(first[:end_char]):
                        continue              # a neutral tone stretched by utterance-final lengthening is misheard
                    best = (abs(count - target), end_char)
        if best is None:
            return list(clauses)
        head, tail = first[:best[1]].strip(), first[best[1]:].strip()
        return [head, tail] + list(clauses[1:])

    def _ends_in_neutral_tone(self, text: str) -> bool:
        syllables = self.syllables(text)
        return bool(syllables) and syllables[-1].tone == 5

    def _group(self, clauses: list[str]) -> list[list[str]]:
        """Group a sentence's clauses into units of at most max_clause_chars syllables.

        Why: Baker's sentences have commas inside (labelled #3); a comma clause synthesised on its
        own gets sentence-final intonation and stilted timing."""
        groups: list[list[str]] = []
        sizes: list[int] = []
        for clause in clauses:
            size = self._weight(clause)
            if groups and sizes[-1] + size <= self.max_clause_chars:
                groups[-1].append(clause)
                sizes[-1] += size
            else:
                groups.append([clause])
                sizes.append(size)
        return groups


def split_sentences(text: str) -> list[list[str]]:
    """Split text into sentences, each a list of clauses that keep their closing mark."""
    sentences: list[list[str]] = []
    clauses: list[str] = []
    current = ""
    for char in text:
        current += char
        if char in CLAUSE_MARKS or char in SENTENCE_MARKS:
            if current.strip(" \t" + "".join(CLAUSE_MARKS | SENTENCE_MARKS)):
                clauses.append(current.strip())
            current = ""
            if char in SENTENCE_MARKS and clauses:
                sentences.append(clauses)
                clauses = []
    if current.strip(" \t"):
        clauses.append(current.strip())
    if clauses:
        sentences.append(clauses)
    return sentences


def _latin_letter(char: str) -> str:
    """The ASCII letter a Latin letter is spelled as (é -> e), or "" for anything else."""
    if char.isascii():
        return char if char.isalpha() else ""
    if not char.isalpha():
        return ""
    base = unicodedata.normalize("NFD", char)[0]
    return base if base.isascii() and base.isalpha() else ""


def _words(text: str) -> list[str]:
    """Words of a piece of text: Han words by forward maximum matching, each Latin letter on its own.

    Anything else (spaces, symbols, other scripts) only separates words."""
    words = []
    run = ""
    for char in text + " ":
        if HAN.match(char):
            run += char
            continue
        if run:
            words.extend(_segment_han(run))
            run = ""
        letter = _latin_letter(char)
        if letter:
            words.append(letter)
    return words


def _segment_han(run: str) -> list[str]:
    """Forward maximum matching over pypinyin's phrases and our LEXICON."""
    words = []
    start = 0
    while start < len(run):
        for length in range(min(MAX_WORD_CHARS, len(run) - start), 0, -1):
            word = run[start:start + length]
            if length == 1 or _is_word(word):
                words.append(word)
                start += length
                break
    return words


def word_boundaries(text: str) -> dict[int, str]:
    """Offsets in text between two words by jieba's dictionary (350k words), each with the word that
    ends there. Readings use pypinyin's phrase list, which only holds words with irregular readings,
    so matching on it alone leaves most words as single characters: fine for readings, not for
    choosing where a clause may be cut."""
    offsets, position = {}, 0
    for token in _segmenter().lcut(text, HMM=False):
        position += len(token)
        offsets[position] = token
    return offsets


@functools.lru_cache(maxsize=1)
def _segmenter():
    """jieba's tokenizer with our words, built once per process (~1 s; frontend workers warm it)."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    tokenizer = jieba.Tokenizer()
    tokenizer.tmp_dir = tempfile.gettempdir()
    for word in sorted(LEXICON):
        tokenizer.add_word(word, freq=LEXICON_FREQUENCY)
    return tokenizer


def _word_weight(word: str) -> int:
    if LATIN.match(word):
        return len(LETTER_NAMES[word.lower()].split())
    return len(word)


def _word_readings(word: str) -> list[str]:
    """Numbered pinyin for each character of a Han word ("zhuo1", "zi5"); "" where there is none."""
    if word in READINGS:
        return READINGS[word].split()
    readings = lazy_pinyin(word, style=Style.TONE3, neutral_tone_with_five=True, errors=lambda chars: [""] * len(chars))
    if len(readings) != len(word):
        readings = [(lazy_pinyin(char, style=Style.TONE3, neutral_tone_with_five=True,
                                 errors=lambda chars: [""]) or [""])[0] for char in word]
    if word in NEUTRAL_LAST and readings[-1][-1:].isdigit():
        readings[-1] = readings[-1][:-1] + "5"
    return readings


def _cut(text: str, size: int, prefer_within: int, max_span: int) -> list[str]:
    """Cut text at word boundaries into pieces of at most `size` syllables, each ending after a
    BREAK_AFTER character when one lies within prefer_within syllables of the limit.

    A number or spelled word of up to max_span syllables is kept whole even if longer than size."""
    pieces = []
    spans = _word_spans(text, max_span)
    start_char = 0
    previous_end = 0
    count = 0
    best: tuple[int, int] | None = None  # (end char of a preferred boundary, syllables up to it)
    for end_char, weight, last_char in spans:
        if count and count + weight > size:
            if best is not None and best[1] >= count - prefer_within:
                cut_char, cut_count = best
            else:
                cut_char, cut_count = previous_end, count
            pieces.append(text[start_char:cut_char])
            start_char = cut_char
            count -= cut_count
            best = None
        count += weight
        previous_end = end_char
        if last_char in BREAK_AFTER:
            best = (end_char, count)
    pieces.append(text[start_char:])
    return [piece.strip() for piece in pieces if piece.strip()]


def _word_spans(text: str, max_weight: int) -> list[tuple[int, int, str]]:
    """(end offset in text, syllable count, last character) for each place text may be cut after.

    A spelled Latin word and a written-out number are not cut inside ("iPhone", "二零二四") unless
    they are longer than max_weight syllables."""
    spans: list[tuple[int, int, str]] = []
    position = 0
    previous = ""
    for word in _words(text):
        if LATIN.match(word):
            while not _latin_letter(text[position]):
                position += 1
            start = position
        else:
            start = text.index(word, position)
        position = start + len(word)
        joined = spans and start == spans[-1][0] and spans[-1][1] + _word_weight(word) <= max_weight and (
            (LATIN.match(word) and LATIN.match(previous)) or (word[0] in NUMBER_CHARS and previous[-1] in NUMBER_CHARS))
        if joined:
            spans[-1] = (position, spans[-1][1] + _word_weight(word), word[-1])
        else:
            spans.append((position, _word_weight(word), word[-1]))
        previous = word
    return spans


def _word_bounds(syllables: list[_Syllable]) -> list[tuple[int, int]]:
    """(first, last+1) syllable index of each word present in syllables."""
    bounds: list[tuple[int, int]] = []
    for index, syllable in enumerate(syllables):
        if index and syllables[index - 1].word == syllable.word:
            bounds[-1] = (bounds[-1][0], index + 1)
        else:
            bounds.append((index, index + 1))
    return bounds


def _merge_erhua(syllables: list[_Syllable], words: list[str]) -> list[_Syllable]:
    """Fold a 儿 read as r-suffix into the syllable before it (哪儿 -> n a3 er5)."""
    merged: list[_Syllable] = []
    for index, syllable in enumerate(syllables):
        previous = merged[-1] if merged else None
        if (syllable.char == "儿" and syllable.pinyin == "er" and previous is not None and not previous.fixed
                and not previous.erhua and previous.pinyin != "er" and _is_r_suffix(syllables, index, words)):
            previous.erhua = True
            continue
        merged.append(syllable)
    return merged


def _is_r_suffix(syllables: list[_Syllable], index: int, words: list[str]) -> bool:
    """True unless 儿 starts a word (儿子, 儿童) or ends one where it is a full syllable (女儿)."""
    word = words[syllables[index].word]
    after = syllables[index + 1].char if index + 1 < len(syllables) else ""
    if (word.startswith("儿") and len(word) > 1) or after in ER_WORD_STARTS:
        return False
    text_so_far = "".join(syllable.char for syllable in syllables[max(0, index - 3):index + 1])
    return not text_so_far.endswith(FULL_ER_WORDS)


def _particles(syllables: list[_Syllable], words: list[str]) -> None:
    """Readings of one-character words that depend on their neighbours: 得, 地, 只, 了."""
    for index, syllable in enumerate(syllables):
        if len(words[syllable.word]) != 1 or syllable.fixed:
            continue
        before = syllables[index - 1].char if index > 0 else ""
        after = syllables[index + 1].char if index + 1 < len(syllables) else ""
        previous_word = words[syllables[index - 1].word] if index > 0 else ""
        if syllable.char == "得" and syllable.tone == 2:
            if after == "了" or not before:
                continue  # 他得了第一: de2 "got"
            if before in DEI_AFTER and HAN.match(after or " "):
                syllable.pinyin, syllable.tone = "dei", 3  # 我得走了
            elif HAN.match(before):
                syllable.tone = 5  # 跑得快
        elif syllable.char == "地" and syllable.tone == 4 and HAN.match(after or " "):
            reduplicated = index >= 2 and syllables[index - 2].char == before and len(previous_word) == 1
            if reduplicated or "".join(s.char for s in syllables[max(0, index - 2):index]) in DI_ADVERBS:
                syllable.pinyin, syllable.tone = "de", 5  # 慢慢地走, 认真地听
        elif syllable.char == "只" and syllable.tone == 3 and before in ZHI1_AFTER and after not in ZHI3_BEFORE:
            syllable.tone = 1  # 两只猫
        elif syllable.char == "了" and before == "不" and syllable.tone == 5:
            syllable.pinyin, syllable.tone = "liao", 3  # 吃不了


def _yi_bu(syllables: list[_Syllable], words: list[str]) -> None:
    """Tone sandhi of 一 and 不 (see the module docstring), from the dictionary tones around them."""
    tones = [syllable.tone for syllable in syllables]
    for index, syllable in enumerate(syllables):
        if syllable.fixed or syllable.char not in "一不" or tones[index] == 5:
            continue
        before = syllables[index - 1] if index > 0 else None
        after = syllables[index + 1] if index + 1 < len(syllables) else None
        word = words[syllable.word]
        # 看一看, 是不是; not 一天一天, where the repeated 天 belongs to the 一 before it.
        reduplicated = (before is not None and after is not None and not before.fixed
                        and before.char == after.char and before.char not in NUMERAL_CHARS
                        and (index < 2 or syllables[index - 2].char != syllable.char))
        next_tone = tones[index + 1] if after is not None and not after.fixed else None
        if syllable.char == "一":
            syllable.tone = _yi_tone(syllables, index, word, reduplicated, next_tone)
        elif reduplicated:
            syllable.tone = 5  # 是不是
        elif next_tone == 4:
            syllable.tone = 2  # 不是
        else:
            syllable.tone = 4


def _yi_tone(syllables: list[_Syllable], index: int, word: str, reduplicated: bool, next_tone: int | None) -> int:
    before = syllables[index - 1].char if index > 0 else ""
    after = syllables[index + 1].char if index + 1 < len(syllables) else ""
    after_next = syllables[index + 2].char if index + 2 < len(syllables) else ""
    if next_tone is None:
        return 1  # at the end, or before a spelled letter
    if len(word) > 1 and word.endswith("一") and syllables[index + 1].word != syllables[index].word:
        return 1  # 统一, 星期一 (YI_FINAL_WORDS)
    if reduplicated:
        return 5  # 看一看
    if before in NUMERAL_CHARS or before in YI_TONE1_AFTER:
        return 1  # 十一, 第一, 一一, 五月一日
    if after in YI_BIG_UNITS:
        pass  # 一百 yi4 bai3, 一万 yi2 wan4: ordinary sandhi
    elif after in NUMERAL_CHARS or after in YI_TONE1_BEFORE:
        return 1  # 一九九九, 一月, 一号
    elif after == "点" and (after_next in NUMERAL_CHARS or after_next in YI_TONE1_AFTER_DIAN):
        return 1  # 一点五, 一点整 (a number or a time, not 一点 "a little")
    return 2 if next_tone in (4, 5) else 4


def _third_tone(syllables: list[_Syllable], words: list[str]) -> None:
    """3-3 -> 2-3 inside words by their structure, then across word boundaries left to right."""
    for start, end in _word_bounds(syllables):
        if syllables[start].fixed:
            continue
        word = words[syllables[start].word]
        for foot_start, foot_end in _feet(start, end):
            _third_tone_foot(syllables[foot_start:foot_end], word if len(word) == end - start == 3 else "")
        for foot_start, _ in _feet(start, end)[1:]:
            _third_tone_pair(syllables[foot_start - 1], syllables[foot_start])
    for left, right in zip(syllables, syllables[1:]):
        _third_tone_pair(left, right)


def _feet(start: int, end: int) -> list[tuple[int, int]]:
    """Two-syllable feet from the left; a word of three (or a final odd three) is one foot."""
    feet = []
    while end - start > 3:
        feet.append((start, start + 2))
        start += 2
    feet.append((start, end))
    return feet


def _third_tone_foot(foot: list[_Syllable], word: str) -> None:
    if len(foot) == 3 and all(syllable.tone == 3 for syllable in foot):
        if word and _is_word(word[1:]) and not _is_word(word[:2]):
            foot[1].tone = 2  # 1+2: 小|老虎 -> xiao3 lao2 hu3
        else:
            foot[0].tone = foot[1].tone = 2  # 2+1: 展览|馆 -> zhan2 lan2 guan3
        return
    for left, right in zip(foot, foot[1:]):
        _third_tone_pair(left, right)


def _is_word(text: str) -> bool:
    return text in LEXICON or text in PHRASES_DICT


def _third_tone_pair(left: _Syllable, right: _Syllable) -> None:
    if left.tone == 3 and right.tone == 3 and not left.fixed and not right.fixed:
        left.tone = 2

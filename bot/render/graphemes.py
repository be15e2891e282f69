"""Where text may be cut without breaking what a reader sees as one character (a grapheme cluster): a family emoji
joined by zero-width joiners, a skin tone, a flag's pair of regional indicators, a subdivision flag's tags, an
emoji's variation selector, a letter and its combining accents, a Hangul syllable spelt in jamo, CR LF.

Cut inside one, Slack shows a broken glyph (a dangling joiner, a lone regional-indicator letter, a bare tag
character) or another one (the family as one woman). The standard library has no grapheme segmentation; this
covers the clusters of Unicode's extended-grapheme rules that people paste into titles and names (UAX #29 GB3,
GB6-GB9a, GB11 and GB12/13), enough to cut before a cluster rather than inside it. Pure."""

from __future__ import annotations

import unicodedata

_ZWJ = "\u200d"
# A "cluster" longer than this is no character anyone typed (a flood of combining marks): cut inside it, rather than
# drop the whole text. The longest real ones (a family of four with skin tones) are about a dozen code points.
LONGEST_CLUSTER = 32


def _extends(char: str) -> bool:
    """Whether `char` belongs to the cluster before it (Extend, ZWJ, SpacingMark, Hangul V and T jamo)."""
    code = ord(char)
    return (unicodedata.category(char) in ("Mn", "Me", "Mc")  # combining marks, variation selectors
            or code in (0x200C, 0x200D)  # zero-width non-joiner and joiner
            or 0x1F3FB <= code <= 0x1F3FF  # emoji skin-tone modifiers
            or 0xE0020 <= code <= 0xE007F  # tags (🏴 + tags: England, Scotland, Wales)
            or code in (0xFF9E, 0xFF9F)  # half-width katakana voiced sound marks
            or 0x1160 <= code <= 0x11FF or 0xD7B0 <= code <= 0xD7FF)  # Hangul vowel and final jamo


def _leading(char: str) -> bool:
    """A Hangul leading consonant jamo, which joins the jamo or syllable after it."""
    return 0x1100 <= ord(char) <= 0x115F or 0xA960 <= ord(char) <= 0xA97F


def _joined(before: str, char: str) -> bool:
    """Whether nothing may come between `before` and `char`: after a joiner (an emoji sequence), CR LF, a Hangul
    leading jamo before another or before a syllable."""
    return before == _ZWJ or (before == "\r" and char == "\n") or (
        _leading(before) and (_leading(char) or 0xAC00 <= ord(char) <= 0xD7A3))


def _regional(char: str) -> bool:
    return 0x1F1E6 <= ord(char) <= 0x1F1FF


def cluster_start(text: str, index: int) -> int:
    """The largest index at most `index` where `text` may be cut (`text[:cut]` ends with whole clusters)."""
    index = wanted = max(0, min(index, len(text)))
    while 0 < index < len(text) and wanted - index <= LONGEST_CLUSTER:
        char, before = text[index], text[index - 1]
        if _extends(char) or _joined(before, char):
            index -= 1
        elif _regional(char) and _regional(before):
            # Regional indicators pair from the start of their run: cut between pairs only.
            run = 0
            while index - run > 0 and _regional(text[index - run - 1]):
                run += 1
            if run % 2 == 0:
                return index
            index -= 1
        else:
            return index
    return index if wanted - index <= LONGEST_CLUSTER else wanted
